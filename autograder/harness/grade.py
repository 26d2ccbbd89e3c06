"""``python -m autograder grade SUBMISSION``: grade an upload exactly as Gradescope will.

This process never imports student code (nor torch). It stages the upload, then starts the
grading session (:mod:`.session`) as a subprocess and reads from it the manifest and one
outcome per test; at the overall deadline it kills the session, so a results.json is always
written. As root (on Gradescope) the session and hidden tests run from a private copy that
the sandbox user cannot read, and children drop to that user.
"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import results, sandbox, staging

ROOT = Path(__file__).resolve().parents[2]
SUITES = ("tests", "autograder/suites")
GRADER_FILES = ("tests", "autograder/__init__.py", "autograder/harness", "autograder/suites", "autograder/fixtures")
DEFAULT_DEADLINE_S = 500.0   # Gradescope stops everything at 600 s
TOTAL_POINTS = 40.0


def _private_copy(dest):
    """Copy what the session needs (never the solution) into ``dest``, readable by root only.

    Folders are 0711 and the (empty) ``__init__.py`` files 0644 because pytest looks at package
    files while setting up a test in the child; every other file is 0600.
    """
    dest.mkdir(mode=0o700)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for rel in GRADER_FILES:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=ignore)
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for dirpath, dirnames, filenames in os.walk(dest):
        os.chmod(dirpath, 0o711)
        for name in filenames:
            path = os.path.join(dirpath, name)
            public = name == "__init__.py" and os.path.getsize(path) < 200
            os.chmod(path, 0o644 if public else 0o600)
    return dest


def _session_env():
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
    keep.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0", CUDA_DEVICE_ORDER="PCI_BUS_ID")
    return keep


def run_session(staged_root, scratch, grader_root, deadline, log_path):
    """Run the session; return ``(manifest, outcomes, problems)``."""
    read_end, write_end = os.pipe()
    cmd = [sys.executable, "-s", "-B", "-m", "autograder.harness.session", "--report-fd", str(write_end),
           "--staged", str(staged_root), "--scratch", str(scratch), "--deadline", str(deadline - 5.0), *SUITES]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=grader_root, env=_session_env(), pass_fds=(write_end,),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    os.close(write_end)
    manifest, outcomes, problems, buffer = None, {}, [], b""
    while True:
        left = deadline - time.time()
        if left <= 0:
            problems.append("The grading deadline was reached; the tests still running were stopped.")
            break
        ready, _, _ = select.select([read_end], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            message = json.loads(line)
            if message["type"] == "manifest" and manifest is None:
                manifest = message["tests"]
            elif message["type"] == "result" and manifest is not None:
                outcomes[message["id"]] = message
            elif message["type"] == "collect_error":
                problems.append(f"internal error: could not collect {message['where']}: {message['text'][:500]}")
    os.close(read_end)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    return manifest, outcomes, problems


def grade(upload, results_path, deadline_s=None, quiet=False):
    """Grade ``upload`` (folder or .zip), write ``results_path``; return the results dict."""
    started = time.time()
    deadline = started + (deadline_s or DEFAULT_DEADLINE_S)
    user = sandbox.sandbox_user()
    sandbox.become_subreaper()  # processes that escape the session are re-parented here
    work = Path(tempfile.mkdtemp(prefix="ps1-grade-"))
    try:
        os.chmod(work, 0o711)  # the sandbox user may pass through, not list
        staged = staging.stage(upload, work / "staged")
        scratch = work / "scratch"
        scratch.mkdir(mode=0o700)
        if user is not None:
            os.chown(scratch, *user)
        grader_root = _private_copy(work / "grader") if user is not None else ROOT
        manifest, outcomes, problems = run_session(staged.root, scratch, grader_root, deadline, work / "session.log")
        sandbox.kill_strays()
        if manifest is None:
            log = (work / "session.log").read_text(errors="replace")[-2000:]
            problems.append("internal error: the grading session did not start; please tell the course staff.\n" + log)
            manifest = []
        total = sum(e["max_score"] for e in manifest)
        if manifest and abs(total - TOTAL_POINTS) > 1e-9:
            problems.append(f"internal error: the tests add up to {total} points instead of {TOTAL_POINTS}.")
        summary = "\n".join(filter(None, [staged.summary(), *problems]))
        data = results.build(manifest, outcomes, time.time() - started, summary,
                             not_run_message="not run: grading stopped before this test (time budget exhausted).")
    finally:
        sandbox.kill_strays()
        shutil.rmtree(work, ignore_errors=True)
    results.write(data, results_path)
    if not quiet:
        if data["output"]:
            print(data["output"])
        print(results.table(data))
    return data


def grade_command(submission, results_path, deadline=None, quiet=False):
    grade(submission, results_path, deadline, quiet)
    return 0
