"""Self-tests of the PS1 package: solution, skeleton, suites, harness, corpora, packaging."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder.harness import service  # noqa: E402
from autograder.harness.staging import GRADED  # noqa: E402

SOLUTION = ROOT / "autograder" / "solution"
SKELETON = ROOT / "submission"
SECTIONS = {"1": 6.0, "2": 4.0, "3": 10.0, "4": 10.0, "5": 6.0, "6": 4.0, "7": 0.0}  # 7: trained models (0 points)
IS_ROOT = os.geteuid() == 0


_SERVER = None


def grading_server():
    """This test process's grading server (:class:`autograder.harness.service.Client`): every
    upload it grades gets what ``grade`` gives it (test_service checks), without paying the
    start-up (torch, pytest, the suites' collection) again."""
    global _SERVER
    if _SERVER is None:
        folder = Path(tempfile.mkdtemp(prefix="ps1-selftest-server-"))
        _SERVER = service.Client(ROOT, log=folder / "server.log")
        _SERVER.folder = folder
    return _SERVER


def run_grader(upload, results, *extra, timeout=600, fresh=False):
    """Grade ``upload``; return (results dict, stdout). By the warm grading server; with
    ``fresh``, by its own ``python -m autograder grade`` process (what Gradescope runs)."""
    argv = [str(upload), "--results", str(results), *map(str, extra)]
    if fresh:
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade", *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    else:
        server = grading_server()
        out, err = server.folder / "stdout", server.folder / "stderr"
        code = server.grade(argv, out, err, timeout=timeout)
        stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    assert code == 0, f"grader exited {code}:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return json.loads(Path(results).read_text()), stdout


@pytest.fixture(scope="session", autouse=True)
def _close_grading_server():
    yield
    if _SERVER is not None:
        _SERVER.close()
        shutil.rmtree(_SERVER.folder, ignore_errors=True)


def section_scores(results):
    scores = {s: 0.0 for s in SECTIONS}
    for test in results["tests"]:
        scores[test["number"].split(".")[0]] += test["score"]
    return scores


def copy_graded(source, dest):
    dest.mkdir(parents=True, exist_ok=True)
    for name in GRADED:
        (dest / name).write_text((source / name).read_text())
    return dest


def pytest_collection_modifyitems(items):
    """The self-tests grade whole uploads: pytest.ini's 30 s (the students' per-test backstop)
    is not their limit, whether or not `make test`'s -o timeout=900 is given."""
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(900))


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    """Name a failure the moment it happens (with -n, in the controller as each worker reports),
    not only in the summary at the end of a 40-minute run."""
    if report.failed and (report.when == "call" or report.when == "setup"):
        reporter = _config.pluginmanager.get_plugin("terminalreporter") if _config else None
        if reporter is not None:
            reporter.write("\n")
            reporter.write_line(f"FAILED {report.nodeid} ({report.when})", red=True, bold=True)


_config = None


def pytest_configure(config):
    global _config
    _config = config
    config.addinivalue_line("markers", "racy: an upload whose text is a race by design (its verdicts are compared)")


@pytest.fixture(scope="session")
def solution_upload(tmp_path_factory):
    return copy_graded(SOLUTION, tmp_path_factory.mktemp("solution"))


@pytest.fixture(scope="session")
def solution_results(solution_upload, tmp_path_factory):
    results, stdout = run_grader(solution_upload, tmp_path_factory.mktemp("graded") / "results.json")
    return results, stdout
