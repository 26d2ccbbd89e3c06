"""Run many ``python -m autograder grade`` processes, N at a time, each costing only its own row.

Every upload is graded by its own grade process (same staging, sandbox and deadline as a
single ``grade``), started in its own session so a hung one can be killed with everything
under it. Each job slot is pinned to its own CPUs: the grade process and all it forks inherit
the pinning, so a fork bomb or busy loop in one upload competes only with itself and cannot
push another upload's tests past their time limits. This process is a subreaper, so whatever
a killed or crashed grade process leaves behind is re-parented here and killed.
"""
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

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
    command: list
    log: Path


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


def run(tasks, jobs, on_done, hard_limit_s=HARD_LIMIT_S):
    """Run ``tasks`` ``jobs`` at a time; call ``on_done(Finished)`` as each ends.

    On Ctrl-C or SIGTERM every running grade is killed before the exception propagates, so an
    interrupted regrade leaves no process behind and can be resumed.
    """
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
