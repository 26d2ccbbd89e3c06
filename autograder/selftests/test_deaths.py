"""The grader's own processes dying mid-grading: the session or the zygote killed (as the OOM
killer or a crash would) gives a non-zero exit, a valid results.json that keeps every point
earned before, and one line naming the cause; the tests not run say so and carry the grader's
fault flag (regrade retries them), never a verdict on the upload."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from autograder.harness import results as results_mod
from autograder.selftests.conftest import ROOT
from autograder.worker import cgroup, procs

WORKERS_BEFORE_KILL = 12


def _launched(grader_pid):
    """(session pid, zygote pid) once both run: the two children of the grading process that
    run the launcher's code; the zygote is the one with children (the workers)."""
    kids = [pid for pid in procs.children_of(grader_pid) if b"from worker import launch" in _cmdline(pid)]
    parents = procs.parents()
    zygotes = [pid for pid in kids if any(parent == pid for parent in parents.values())]
    sessions = [pid for pid in kids if pid not in zygotes]
    return (sessions[0] if len(sessions) == 1 else None), (zygotes[0] if len(zygotes) == 1 else None)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def grade_and_kill(upload, out, victim):
    """Grade ``upload``, SIGKILL the ``victim`` ("session" or "zygote") once
    :data:`WORKERS_BEFORE_KILL` workers have been seen; return (exit code, stderr, results)."""
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(upload), "--results", str(out),
                             "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers, killed, zygote_seen = set(), False, None
    stop = time.time() + 300
    while proc.poll() is None and not killed and time.time() < stop:
        session, zygote = _launched(proc.pid)
        if zygote:
            zygote_seen = zygote
            workers.update(procs.children_of(zygote))
        if len(workers) >= WORKERS_BEFORE_KILL and session and zygote:
            os.kill(session if victim == "session" else zygote, signal.SIGKILL)
            killed = True
        time.sleep(0.01)
    stdout, stderr = proc.communicate(timeout=300)
    assert killed, f"the {victim} was never seen with {WORKERS_BEFORE_KILL} workers run:\n{stdout[-2000:]}"
    own = cgroup._own_path(1)
    left = own and os.path.join(cgroup.V1_ROOT, own.lstrip("/"), f"ps1-workers-{zygote_seen}")
    assert not (left and os.path.exists(left)), f"the killed grading left its workers' cgroups in {left}"
    return proc.returncode, stderr, json.loads(out.read_text())


@pytest.mark.parametrize("victim", ["session", "zygote"])
def test_a_dead_grader_process_is_loud_and_keeps_earned_points(victim, solution_upload, tmp_path):
    code, stderr, results = grade_and_kill(solution_upload, tmp_path / "results.json", victim)
    results_mod.validate(results)
    assert code != 0, "grade exited 0 although its own process died"
    passed = [t for t in results["tests"] if t["status"] == "passed"]
    lost = [t for t in results["tests"] if t["status"] != "passed"]
    assert passed and results["score"] == sum(t["max_score"] for t in passed) > 0, "points earned before were lost"
    assert lost, "every test passed: the kill came too late to test anything"
    name = "grading session" if victim == "session" else "process that starts each test's process"
    for test in lost:
        assert test["extra_data"].get("grader_fault"), f"{test['number']} is not marked as the grader's fault"
        assert name in test["output"] and "SIGKILL" in test["output"], test["output"]
        assert "no verdict on your code" in test["output"], test["output"]
    cause = [line for line in stderr.splitlines() if "died" in line and "SIGKILL" in line]
    assert cause, f"stderr does not name the cause:\n{stderr[-2000:]}"
    assert any("died" in line and "SIGKILL" in line for line in results["output"].splitlines()), results["output"]
