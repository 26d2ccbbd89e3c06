"""pytest hooks and fixtures shared by the public tests and the hidden suites.

* registers the hypothesis profile ``ps1``: derandomized and without a database, so that a
  run never depends on earlier runs and grading writes nothing, and without shrinking: each
  example runs the student's code in the worker, and shrinking a failure took longer than the
  test's time limit (the student read "timed out" instead of what failed);
* seeds torch before each test and turns TF32 off;
* gives each test its ``worker`` (:mod:`tests.support.client`): the probes of the student's code,
  under the per-test CPU limit of the grader, and its ``ex`` (:mod:`tests.support.examples`): its
  examples, recorded locally and drawn fresh on the grader;
* turns exceptions escaping a test into one line naming the student's file and line;
* prints a points table at the end of a local run (``pytest tests/`` or ``make check``).
"""
import textwrap

import pytest
import torch
from hypothesis import HealthCheck, Phase, settings

from tests.support import client
from tests.support.client import worker  # noqa: F401 — the fixture
from tests.support.examples import ex  # noqa: F401 — the fixture

settings.register_profile(
    "ps1",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=12,
    phases=(Phase.explicit, Phase.generate),
    print_blob=False,
    # Every example of a test shares its worker on purpose (one sandboxed process per test).
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ps1")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def deterministic_torch():
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield


# --- feedback --------------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Turn an exception that escaped a test into one line: the student's exception (raised in
    the worker and not expected by the test) with its file and line, or our own bug."""
    outcome = yield
    report = outcome.get_result()
    excinfo = call.excinfo
    if report.failed and excinfo is not None and not isinstance(excinfo.value, pytest.fail.Exception):
        exc = excinfo.value
        if isinstance(exc, client.StudentRaised):
            prefix = "not implemented yet" if exc.info.get("not_implemented") else "your code raised"
            report.longrepr = f"{prefix}: {client.describe(exc.info)}"
        else:
            client.grader_faults.append(f"the test stopped with {type(exc).__name__}: {str(exc)[:300]}")
            report.longrepr = (f"the test stopped with {type(exc).__name__}: {str(exc)[:300]}. This is a bug in "
                               "the test, not in your code: please tell the course staff.")


# --- the points table ------------------------------------------------------------------------

def points_of(item):
    """What the gradescope-utils decorators and the docstring declare about a test item."""
    fn = getattr(item, "function", None)
    fn = getattr(fn, "__wrapped__", fn)
    return {
        "number": str(getattr(fn, "__number__", "")),
        "weight": float(getattr(fn, "__weight__", 0.0)),
        "visibility": getattr(fn, "__visibility__", "visible"),
        "tags": list(getattr(fn, "__tags__", ())),
        "name": (getattr(fn, "__doc__", None) or item.name).strip().splitlines()[0],
    }


def number_key(number):
    """Sort key of a test number such as '3.10' (numerically: 3.2 < 3.10)."""
    return [int(p) for p in number.split(".") if p.isdigit()]


_results = {}
_collected = []


def pytest_runtest_logreport(report):
    if report.when == "call" or report.failed:
        previous = _results.get(report.nodeid, "passed")
        _results[report.nodeid] = "failed" if report.failed or previous == "failed" else report.outcome


def pytest_terminal_summary(terminalreporter, config):
    items = _collected
    graded = [(points_of(item), item.nodeid) for item in items if points_of(item)["weight"]]
    if not graded or config.getoption("collectonly", False):
        return
    tr = terminalreporter
    tr.section("PS1 points")
    earned = total = 0.0
    for info, nodeid in sorted(graded, key=lambda g: number_key(g[0]["number"])):
        outcome = _results.get(nodeid)
        got = info["weight"] if outcome == "passed" else 0.0
        earned += got
        total += info["weight"]
        mark = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}.get(outcome, "----")
        tr.write_line(f"{mark}  {info['number']:>5}  {got:4.1f}/{info['weight']:<4.1f} {textwrap.shorten(info['name'], 70, placeholder=' ...')}")
    tr.write_line(f"Total: {earned:.1f}/{total:.1f} points from these tests "
                  "(hidden tests, worth the rest of the assignment's points, run on Gradescope).")


def pytest_configure(config):
    """No "short test summary info": it repeats every failure cut to the terminal's width
    ("- Fa..."); each is shown whole above the points table, in the table's order."""
    config.option.reportchars = "".join(c for c in (config.option.reportchars or "") if c not in "fEaA")


def pytest_collection_modifyitems(session, config, items):
    """Run (and so report failures) in test-number order, the order of the points table and of
    the problem set, not in the files' alphabetical order."""
    items.sort(key=lambda item: number_key(points_of(item)["number"]) or [float("inf")])
    _collected[:] = items
