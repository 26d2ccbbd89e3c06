"""Hidden suites: the same hooks as the public tests (tests/support/plugin.py).

They always draw fresh examples (they have no recorded ones): on the grader from the grading
key, and when staff run them directly (``pytest autograder/suites``) from ``PS1_FRESH_KEY``
(hex) or else a fixed development key; the public tests collected in the same run draw from
it too.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import examples  # noqa: E402
from tests.support.plugin import *  # noqa: E402,F401,F403

if examples.source is None:
    from autograder.examples import Fresh  # noqa: E402

    key = os.environ.get("PS1_FRESH_KEY")
    examples.source = Fresh(bytes.fromhex(key) if key else b"development key: pytest autograder/suites")
