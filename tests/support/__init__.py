"""Test-side helpers shared by the public and the hidden suites.

``student`` imports the student's modules with clear failures; ``checks`` compares results and
writes the messages; ``pictures`` draws masks and receptive fields as text; ``oracles`` holds
test-side models so that each section is judged on its own code only.
"""
