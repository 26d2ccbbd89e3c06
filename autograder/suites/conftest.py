"""Hidden suites: the same hooks as the public tests (tests/support/plugin.py)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.plugin import *  # noqa: E402,F401,F403
