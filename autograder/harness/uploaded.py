"""What the grading session holds of the upload besides the package its workers import: the
folder of its trained models (data for :mod:`autograder.trained`, never code), and the
leaderboard entries a test reports for results.json. Set and read in the session only."""

MODELS_DIR = None   # the staged models/ folder, once the session knows it
LEADERBOARD = []    # {"name", "value", "order"} added by the tests, sent to the grader after each


def take_leaderboard():
    """The entries added since the last call (the session sends them after each test)."""
    entries = list(LEADERBOARD)
    LEADERBOARD.clear()
    return entries
