"""PS1 — Autoregressive Models.

The six graded modules are ``probability``, ``likelihood``, ``made``, ``pixelcnn``,
``sampling`` and ``training``; ``data`` and ``train`` are provided.
"""
