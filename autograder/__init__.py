"""The PS1 autograder: grading harness, reference solution, hidden suites and corpora.

``python -m autograder grade SUBMISSION`` grades a folder or zip the way Gradescope does.
"""
