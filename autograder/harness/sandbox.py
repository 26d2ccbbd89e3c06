"""Limits and privilege drop for the child process that runs one test's student code.

A child calls :func:`enter` right after ``fork``: it becomes the leader of a new session (so
the whole group can be killed), gets CPU, memory, file-size and process-count limits, drops
to the unprivileged sandbox user when the grader runs as root, and moves to a scratch folder.
"""
import ctypes
import os
import pwd
import resource
import signal
import time
from dataclasses import dataclass

SANDBOX_USERS = ("ps1-student", "nobody")
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0      # wall clock per test (enforced by the parent)
    memory_mb: int = 320         # address space a child may add to what it inherited: with the
                                 # session's ~250 MB this stays under Gradescope's 768 MB
    max_processes: int = 32      # processes the sandbox user may run at once (fork bombs)
    file_size_mb: int = 16       # largest file the child may write


def sandbox_user():
    """``(uid, gid)`` of the unprivileged user student code runs as, or ``None`` if not root."""
    if os.geteuid() != 0:
        return None
    for name in SANDBOX_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError(f"running as root but none of the sandbox users {SANDBOX_USERS} exists")


def become_subreaper():
    """Orphaned grandchildren (double forks) are re-parented to this process, not to init, so
    that :func:`kill_strays` can find them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _vm_size():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def enter(limits, user, workdir):
    """Apply ``limits``, drop to ``user`` (``(uid, gid)`` or ``None``) and ``chdir(workdir)``."""
    os.setsid()
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    # The child inherits torch's mappings; the memory limit is what it may add on top.
    address_space = _vm_size() + limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    cpu = int(limits.timeout_s) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    size = limits.file_size_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
    # RLIMIT_NPROC counts every process of the (real) user: as root that is the sandbox user
    # alone; otherwise leave room for what the user already runs.
    nproc = limits.max_processes + (0 if user is not None else _processes_of(os.getuid()))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if user is not None:
        uid, gid = user
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    os.chdir(workdir)
    os.environ.update(HOME=str(workdir), TMPDIR=str(workdir))


def _processes_of(uid):
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def parents():
    """``{pid: parent pid}`` of every process visible in /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    found[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return found


def _children_of(pid):
    return [child for child, parent in parents().items() if parent == pid]


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_strays():
    """Kill every process left over from a test: this process is a subreaper, so whatever a
    test left running (threads of forks, double-forked daemons) has become our child. Only
    call it when no legitimate child is running. Returns how many were killed."""
    me, killed = os.getpid(), 0
    for _ in range(50):
        kids = _children_of(me)
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
        _reap()
    _reap()
    return killed
