"""The grading session: collect the suites once, then run each test in a sandboxed fork.

Run by :mod:`autograder.harness.grade` as a subprocess (``python -m autograder.harness.session``).
This process imports torch and the tests but never student code; it reports, over the file
descriptor given by ``--report-fd``, one JSON line with the manifest (collected before any
student code runs) and one per test outcome. Each child: enters the sandbox, runs one test
with pytest's own runtest protocol, checks for monkeypatching and writes its outcome to a pipe
that only it and this process hold.
"""
import argparse
import gc
import json
import os
import select
import signal
import sys
import time

import pytest
from _pytest.runner import runtestprotocol

from tests.support.plugin import number_key, points_of

from . import integrity, sandbox

OUTPUT_CAP = 3000
# Standard-library modules a student's code may reasonably import; preloaded for the sandbox.
STDLIB_FOR_STUDENTS = ("abc", "bisect", "collections", "contextlib", "copy", "dataclasses", "enum", "fractions",
                       "functools", "heapq", "itertools", "json", "math", "numbers", "operator", "pathlib",
                       "pickle", "random", "re", "statistics", "string", "tempfile", "time", "typing", "warnings",
                       "zipfile")
CHILD_REPORT_CAP = 64 * 1024


def manifest_entry(item):
    declared = points_of(item)
    marker = item.get_closest_marker("timeout")
    return {
        "id": item.nodeid,
        "name": f"{declared['number']} {declared['name']}".strip(),
        "number": declared["number"],
        "max_score": declared["weight"],
        "visibility": declared["visibility"],
        "tags": declared["tags"],
        "timeout": float(marker.args[0]) if marker and marker.args else None,
    }


def _section(entry):
    return entry["number"].split(".")[0]


def interleave(items, entries):
    """Round-robin over sections (1.1, 2.1, 3.1, …, 1.2, …) so that a section whose tests all
    hang cannot use up the time budget of the sections after it."""
    by_section = {}
    for item, entry in zip(items, entries):
        by_section.setdefault(_section(entry), []).append((item, entry))
    queues = [sorted(v, key=lambda ie: number_key(ie[1]["number"]))
              for _, v in sorted(by_section.items())]
    order = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order


def _outcome_of(reports):
    """(status, message) from pytest's setup/call/teardown reports."""
    for report in reports:
        if report.failed:
            text = report.longreprtext if hasattr(report, "longreprtext") else str(report.longrepr)
            where = "" if report.when == "call" else f" (during test {report.when})"
            return "failed", (text.strip() + where)[:OUTPUT_CAP]
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            return "failed", f"skipped: {reason}"[:OUTPUT_CAP]
    return "passed", ""


class ForkingRunner:
    """pytest plugin: runs every collected test in its own sandboxed child process."""

    def __init__(self, report, limits, user, scratch, deadline):
        self.report, self.limits, self.user, self.scratch, self.deadline = report, limits, user, scratch, deadline
        self.entries = []

    def send(self, message):
        os.write(self.report, (json.dumps(message) + "\n").encode())

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        self.entries = [manifest_entry(item) for item in session.items]
        self.send({"type": "manifest", "tests": self.entries})

    def pytest_collectreport(self, report):
        # Collection never runs student code, so a failure here is the grader's own bug.
        if report.failed:
            self.send({"type": "collect_error", "where": report.nodeid, "text": str(report.longrepr)[:OUTPUT_CAP]})

    def pytest_runtestloop(self, session):
        if session.testsfailed and not session.items:
            return True
        self._warm_up()
        baseline = integrity.snapshot()
        # Children would otherwise run full garbage collections over every object inherited from
        # this process, touching (and so copying) all of its memory: ~0.2 s and tens of MB each.
        gc.freeze()
        ordered = interleave(session.items, self.entries)
        for index, (item, entry) in enumerate(ordered):
            left = self.deadline - time.time()
            remaining = len(ordered) - index
            if left < 1.0:
                self.send({"type": "result", "id": entry["id"], "status": "failed", "seconds": 0.0,
                           "output": "not run: the grading time budget ran out (an earlier test of yours took "
                                     "very long or hung)."})
                continue
            timeout = entry["timeout"] or self.limits.timeout_s
            # Leave every test that still has to run at least a fair share of what is left.
            timeout = max(1.0, min(timeout, left - 0.5 * (remaining - 1)))
            status, output, seconds = self._run_one(item, baseline, timeout)
            self.send({"type": "result", "id": entry["id"], "status": status, "output": output,
                       "seconds": round(seconds, 3)})
        return True

    def _warm_up(self):
        """Import lazily-loaded modules now, while files are readable, so that a child running as
        the sandbox user never has to read the grader's or Python's files (the interpreter and
        its packages may live where that user cannot look, e.g. under /root)."""
        import importlib
        import pkgutil

        import hypothesis

        # hypothesis imports its engine's parts (targeting, shrinking, …) on first use.
        for module in pkgutil.walk_packages(hypothesis.__path__, "hypothesis."):
            if not module.name.startswith("hypothesis.extra"):
                try:
                    importlib.import_module(module.name)
                except Exception:  # noqa: BLE001 — optional parts with missing dependencies
                    pass
        for name in STDLIB_FOR_STUDENTS:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        import torch
        import torch.autograd.functional  # noqa: F401
        import torch.testing  # noqa: F401
        import torch.utils.data  # noqa: F401
        import hypothesis.strategies  # noqa: F401

        conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        lin = torch.nn.Linear(3, 3)
        x = torch.randn(2, 1, 3, 3, requires_grad=True)
        (conv(x).sum() + lin(torch.randn(2, 3)).sum()).backward()
        torch.optim.Adam(lin.parameters()).step()
        torch.optim.lr_scheduler.StepLR(torch.optim.SGD(lin.parameters(), lr=0.1), 1)
        torch.rand(2, generator=torch.Generator().manual_seed(0))
        torch.empty(2, device="meta") * 2
        import io

        buffer = io.BytesIO()
        torch.save({"w": lin.state_dict()}, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)

    def _run_one(self, item, baseline, timeout):
        read_end, write_end = os.pipe()
        started = time.time()
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                os.close(read_end)
                os.close(self.report)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                sandbox.enter(self.limits, self.user, self.scratch)
                reports = runtestprotocol(item, log=False, nextitem=None)
                status, output = _outcome_of(reports)
                patched = integrity.changes(baseline)
                if patched:
                    status = "failed"
                    output = ("your code replaced or deleted " + ", ".join(patched[:8]) +
                              " while this test ran. Graded code may not monkeypatch libraries, builtins or the "
                              "tests; this test scores 0.")
                os.write(write_end, json.dumps({"status": status, "output": output}).encode()[:CHILD_REPORT_CAP])
            except BaseException:  # noqa: B902 — nothing may escape a forked child
                code = 70
            finally:
                os._exit(code)
        os.close(write_end)
        data, status_code, timed_out, eof = b"", None, False, False
        deadline = started + timeout
        while status_code is None:
            left = deadline - time.time()
            if left <= 0:
                timed_out = True
                sandbox.kill_group(pid)
                _, status_code = os.waitpid(pid, 0)
                break
            ready, _, _ = select.select([] if eof else [read_end], [], [], min(left, 0.02))
            if ready:
                chunk = os.read(read_end, 65536)
                if len(data) < CHILD_REPORT_CAP:
                    data += chunk
                if chunk:
                    continue
                eof = True
            # A grandchild may hold the pipe open after the child is gone: stop at the child's exit.
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status_code = code
        while select.select([read_end], [], [], 0)[0]:
            chunk = os.read(read_end, 65536)
            if not chunk or len(data) >= CHILD_REPORT_CAP:
                break
            data += chunk
        os.close(read_end)
        sandbox.kill_group(pid)
        sandbox.kill_strays()
        seconds = time.time() - started
        if timed_out:
            return "failed", (f"timed out after {timeout:.0f} s: your code took too long or never returned "
                              "(an infinite loop, or a per-example Python loop where a vectorised tensor "
                              "operation is expected)."), seconds
        try:
            result = json.loads(data.decode())
            return result["status"], str(result["output"])[:OUTPUT_CAP], seconds
        except (ValueError, KeyError, TypeError):
            pass
        if os.WIFSIGNALED(status_code):
            sig = signal.Signals(os.WTERMSIG(status_code)).name
            hint = {"SIGKILL": " (killed: probably the memory limit)", "SIGXCPU": " (CPU time limit)",
                    "SIGSEGV": " (a crash inside native code)"}.get(sig, "")
            return "failed", f"the test process was ended by {sig}{hint} while running your code.", seconds
        return "failed", ("the test process ended before the test finished (exit status "
                          f"{os.WEXITSTATUS(status_code)}): does your code call sys.exit(), os._exit() or "
                          "os.kill()?"), seconds


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--staged", required=True, help="folder holding the staged submission/ package")
    parser.add_argument("--scratch", required=True, help="working folder of the sandboxed children")
    parser.add_argument("--deadline", type=float, required=True, help="absolute time.time() to stop by")
    parser.add_argument("--timeout", type=float, default=sandbox.Limits.timeout_s)
    parser.add_argument("--memory-mb", type=int, default=sandbox.Limits.memory_mb)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)

    os.environ["PS1_SUBMISSION"] = args.staged
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sandbox.become_subreaper()
    limits = sandbox.Limits(timeout_s=args.timeout, memory_mb=args.memory_mb)
    runner = ForkingRunner(args.report_fd, limits, sandbox.sandbox_user(), args.scratch, args.deadline)
    code = pytest.main(["-q", "-s", "-p", "no:cacheprovider", "-p", "no:timeout", "-p", "no:randomly",
                        "--rootdir", os.getcwd(), "-o", "addopts=", "-o", "python_files=test_*.py",
                        "--basetemp", os.path.join(args.scratch, "pytest"), *args.paths], plugins=[runner])
    return 0 if code in (0, 1) else int(code)


if __name__ == "__main__":
    sys.exit(main())
