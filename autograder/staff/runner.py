"""Grade many uploads, N at a time, each costing only its own row.

Warm (regrade's default, :class:`Servers`), each job slot is one grading server (``python -m
autograder serve``, :mod:`autograder.harness.service`) that grades its uploads one after another
from warm templates: the same staging, sandbox, deadline and results as ``grade``, without
paying the start-up for each. One by one, every upload gets its own ``python -m autograder
grade`` process. Either way each slot is pinned to its own CPUs: the server or grade
process and all it forks inherit the pinning, so a fork bomb or busy loop in one upload competes
only with itself and cannot push another upload's tests past their time limits. A grading that
runs past the hard limit is killed with everything under it (a server, then, is started afresh
for the next upload). This process is a subreaper, so whatever a killed or crashed process leaves
behind is re-parented here and killed.
"""
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..harness import service
from ..harness.results import EXPECTED_TESTS
from ..harness.sandbox import become_subreaper
from ..worker.procs import kill_group, parents

ROOT = Path(__file__).resolve().parents[2]
# grade stops at its own deadline (500 s) and always writes a results.json; this only catches a
# grade process that itself hangs, and stays above Gradescope's 10 minutes.
HARD_LIMIT_S = 660.0
POLL_S = 0.1


@dataclass
class Task:
    key: str
    command: list          # the grade process's command line (one by one)
    log: Path
    grade_args: list = None  # the same, as arguments of ``grade`` (for a warm server)


@dataclass
class Finished:
    task: Task
    returncode: int        # negative: killed by that signal
    seconds: float
    timed_out: bool        # killed here after HARD_LIMIT_S


def cpu_slots(jobs):
    """The CPUs each job slot is pinned to: disjoint groups while there are enough CPUs."""
    if not hasattr(os, "sched_getaffinity"):
        return [None] * jobs
    cpus = sorted(os.sched_getaffinity(0))
    if jobs >= len(cpus):
        return [{cpus[i % len(cpus)]} for i in range(jobs)]
    size = len(cpus) // jobs
    return [set(cpus[i * size:(i + 1) * size]) for i in range(jobs)]


def _spawn(task, cpus):
    """Start ``task`` pinned to ``cpus``: a child inherits the affinity of the thread that forks
    it, so pin this thread, fork, and restore."""
    task.log.parent.mkdir(parents=True, exist_ok=True)
    before = os.sched_getaffinity(0) if cpus else None
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        with open(task.log, "wb") as log:
            return subprocess.Popen(task.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if cpus:
            os.sched_setaffinity(0, before)


def _sweep(keep):
    """Kill this process's children other than ``keep``: leftovers of grade processes that died.

    Only those pids are reaped: a blanket ``waitpid(-1)`` could reap a running grade process
    and hide its exit status from its ``Popen``."""
    for pid, parent in parents().items():
        if parent == os.getpid() and pid not in keep:
            kill_group(pid)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, PermissionError, ChildProcessError):
                pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(tasks, jobs, on_done, hard_limit_s=HARD_LIMIT_S, servers=None):
    """Run ``tasks`` ``jobs`` at a time; call ``on_done(Finished)`` as each ends (in this thread).

    On Ctrl-C or SIGTERM every running grade is killed before the exception propagates, so an
    interrupted regrade leaves no process behind and can be resumed. With ``servers``
    (:class:`Servers`, started; the caller closes them) each slot is one warm grading server;
    else every task gets its own grade process.
    """
    if servers is not None:
        return _run_warm(tasks, on_done, hard_limit_s, servers)
    become_subreaper()
    ours_before = {pid for pid, parent in parents().items() if parent == os.getpid()}
    previous = signal.signal(signal.SIGTERM, _interrupt)
    pending, running = deque(tasks), {}     # slot -> (Popen, Task, started)
    slots = cpu_slots(max(1, jobs))
    try:
        while pending or running:
            for slot in range(len(slots)):
                if slot not in running and pending:
                    task = pending.popleft()
                    running[slot] = (_spawn(task, slots[slot]), task, time.monotonic())
            for slot, (proc, task, started) in list(running.items()):
                elapsed = time.monotonic() - started
                killed = proc.poll() is None and elapsed > hard_limit_s
                if killed:
                    kill_group(proc.pid)
                    proc.wait()
                if proc.returncode is not None:
                    del running[slot]
                    _sweep(ours_before | {p.pid for p, _, _ in running.values()})
                    on_done(Finished(task, proc.returncode, elapsed, killed))
            time.sleep(POLL_S)
    finally:
        for proc, _, _ in running.values():
            kill_group(proc.pid)
            proc.wait()
        _sweep(ours_before)
        signal.signal(signal.SIGTERM, previous)


class Servers:
    """One grading server per job slot, each pinned to its slot's CPUs, started at once: their
    start-up (torch, the suites' collection, the templates) overlaps whatever the caller does
    next, and :meth:`check` tells whether any grading could succeed. Their logs are in a
    temporary folder (they start before regrade's ``--out`` exists): :meth:`close` moves them."""

    def __init__(self, jobs):
        become_subreaper()  # before the servers: whatever they leave behind comes back here
        self.ours_before = {pid for pid, parent in parents().items() if parent == os.getpid()}
        self.logs = Path(tempfile.mkdtemp(prefix="ps1-servers-"))
        self.clients = [service.Client(ROOT, log=self.logs / f"server-{i}.log", cpus=cpus)
                        for i, cpus in enumerate(cpu_slots(max(1, jobs)))]
        self.problems = {}
        for client in self.clients:
            try:
                client.start()
            except RuntimeError as exc:  # it exited at once (this Python cannot run it)
                self.problems[client] = str(exc)

    def check(self):
        """``None`` once every server has its templates and their suites match
        tests_manifest.json; else why no grading could succeed (the end of a log, or a stale
        manifest)."""
        for client in self.clients:
            if client in self.problems:
                return self.problems[client]
            try:
                reply = client.started()
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                return str(exc)
            if reply["exit"] != 0:
                return reply["error"]
            if reply["stale_manifest"]:
                return f"{EXPECTED_TESTS.relative_to(ROOT)} out of date: run `make manifest`"
        return None

    def keep(self, count):
        """Stop all but the first ``count`` servers (at least one): fewer uploads to grade than
        job slots, once the export is read."""
        for client in self.clients[max(1, count):]:
            client.close()
        self.clients = self.clients[:max(1, count)]

    def stop(self, now=False):
        """Stop the servers (``now``: at once, killing what they run) and what they left."""
        for client in self.clients:
            client.close(timeout=0 if now else 30.0)
        _sweep(self.ours_before)

    def close(self, logs_to=None):
        """:meth:`stop`; then move the logs to the folder ``logs_to`` if given, and remove their
        temporary folder."""
        self.stop()
        if logs_to is not None:
            Path(logs_to).mkdir(parents=True, exist_ok=True)
            for log in self.logs.glob("server-*.log"):
                shutil.move(str(log), str(Path(logs_to) / log.name))
        shutil.rmtree(self.logs, ignore_errors=True)


def _run_warm(tasks, on_done, hard_limit_s, servers):
    ours_before = {pid for pid, parent in parents().items() if parent == os.getpid()}
    previous = signal.signal(signal.SIGTERM, _interrupt)
    pending, lock, finished = deque(tasks), threading.Lock(), queue.Queue()

    def serve(server):
        while True:
            with lock:
                if not pending:
                    return
                task = pending.popleft()
            task.log.parent.mkdir(parents=True, exist_ok=True)
            started, killed = time.monotonic(), False
            try:
                code = server.grade(task.grade_args, task.log, timeout=hard_limit_s)
            except subprocess.TimeoutExpired:
                code, killed = -signal.SIGKILL, True
            except Exception as exc:  # noqa: BLE001 — the server died: this row fails, the next starts one
                code = -signal.SIGKILL
                with open(task.log, "a") as log:
                    log.write(f"ps1 regrade: the grading server failed: {type(exc).__name__}: {exc}\n")
            finished.put(Finished(task, code, time.monotonic() - started, killed))

    threads = [threading.Thread(target=serve, args=(client,), daemon=True) for client in servers.clients]
    interrupted = True
    try:
        for thread in threads:
            thread.start()
        for _ in range(len(tasks)):
            on_done(finished.get())
        interrupted = False
    finally:
        if interrupted:
            servers.stop(now=True)  # the slots' threads end with their servers
        for thread in threads:
            thread.join(timeout=5.0)
        _sweep(ours_before)
        signal.signal(signal.SIGTERM, previous)
