"""Course-staff tools that run around the grader, never inside it (``python -m autograder regrade``)."""


class UsageError(ValueError):
    """Bad input from the staff member (no such export, not a scores.csv): reported in one line."""
