"""The trained models a student uploads (section 7, 0 points): measured in this session.

``made.safetensors`` / ``pixelcnn.safetensors`` (the provided trainer writes them) are read as
data by :mod:`autograder.trained` into the reference models of :mod:`autograder.oracles` and
measured on binarized MNIST test digits (none in the trainer's training split) that ship with
the grader only; no worker and no student code is involved. The figures go to the test's output and to Gradescope's
leaderboard. The test fails (worth nothing) only when an uploaded file cannot be measured.

Staff who want points for a trained model: set ``POINTS`` (then ``make manifest``: the total
becomes 40 + POINTS) and ``THRESHOLDS``; the test then passes when every model named in
``THRESHOLDS`` is uploaded and reaches its bits/dim.
"""
import pytest
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from autograder import trained
from autograder.harness import uploaded

POINTS = 0                      # opt-in: points for reaching THRESHOLDS (default 0: the total stays 40)
THRESHOLDS = {}                 # e.g. {"made": 0.20, "pixelcnn": 0.16}: bits/dim to reach, when POINTS > 0


@weight(POINTS)
@number("7.1")
@visibility("visible")
@tags("trained models")
def test_trained_models(record_property):
    """Your trained models: test bits/dim on MNIST test digits (0 points; the leaderboard)"""
    ok, text, board = trained.report(uploaded.MODELS_DIR)
    uploaded.LEADERBOARD.extend(board)
    measured = {entry["name"].split()[0].lower(): entry["value"] for entry in board}
    short = [f"{kind}: {measured[kind]:.4f} bits/dim, not below {limit}" if kind in measured else f"{kind}: not measured"
             for kind, limit in THRESHOLDS.items() if POINTS and not measured.get(kind, float("inf")) < limit]
    if not ok or short:
        pytest.fail(text + ("\n" + "; ".join(short) if short else ""), pytrace=False)
    record_property("feedback", text)
