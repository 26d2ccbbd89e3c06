"""``python -m autograder manifest [--check]``: write ``autograder/harness/tests_manifest.json``
from the suites themselves (their ``@weight``, ``@number``, ``@visibility`` and ``@tags``).

The manifest is what ``results.internal_error`` lists when a grading breaks before the session
reported its own, and its sum is the assignment's total: editing a test's weight and running
``make manifest`` (``make autograder`` and ``make test`` run it too) is all a weight change
needs. Collecting imports the suites only; nothing is graded.
"""
import contextlib
import io
import json

import pytest

from .harness import results
from .harness.grade import ROOT, SUITES
from .harness.session import manifest_entry


class _Collector:
    def __init__(self):
        self.tests = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        self.tests = [manifest_entry(item) for item in session.items]


def collect():
    """Every test of the suites (:func:`.session.manifest_entry`), as collected."""
    collector = _Collector()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
                            "-o", "addopts=", *(str(ROOT / s) for s in SUITES)], plugins=[collector])
    if code != 0 or collector.tests is None:
        raise RuntimeError(f"collecting the suites failed (pytest exit {code}):\n{out.getvalue()[-2000:]}")
    return collector.tests


def main(check=False):
    text = results.manifest_text(collect())
    path = results.EXPECTED_TESTS
    if check:
        stale = path.read_text() != text
        print(f"{path.relative_to(ROOT)} {'out of date: run `make manifest`' if stale else 'in sync with the suites'}")
        return 1 if stale else 0
    total = sum(t["max_score"] for t in json.loads(text)["tests"])
    if path.read_text() == text:  # not rewritten: its time stamp stays
        print(f"{path.relative_to(ROOT)}: already up to date ({len(json.loads(text)['tests'])} tests, {total:g} points)")
        return 0
    path.write_text(text)
    print(f"wrote {path.relative_to(ROOT)}: {len(json.loads(text)['tests'])} tests, {total:g} points")
    return 0
