"""Public tests of PS1: run them with ``make check`` or ``pytest tests/``.

They test the package ``submission`` next to this folder; set ``PS1_SUBMISSION`` to a folder
that holds another ``submission/`` package to test that one instead.

The shared hooks (hypothesis profile, seeding, feedback, the points table) live in
``tests/support/plugin.py`` so that the hidden suites use exactly the same ones.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.plugin import *  # noqa: E402,F401,F403
