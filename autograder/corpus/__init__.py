"""Corpora of submissions for the self-tests.

* ``buggy``: realistic one-bug submissions, each a single edit of the reference solution;
* ``adversarial``: submissions that attack the harness (exits, hangs, forged results, …).
"""
