"""Who student code runs as, and clean-up of processes that outlive the grading session.

The workers themselves are confined by :mod:`autograder.worker.confine` (limits, privilege
drop, Landlock) right after the zygote forks them; this module is the grading process's side.
"""
import ctypes
import os
import pwd
import signal
import time

from ..worker import procs

PR_SET_CHILD_SUBREAPER = 36
# Workers of one grading run as a uid of their own, in a range no account uses: killing
# "every process of that uid" then ends exactly this grading's strays, never another
# grading's workers on the same machine (staff grade many uploads at once).
UID_BASE = 1_900_000_000
UID_SPAN = 4_000_000


def sandbox_user():
    """``(uid, gid)`` the workers of this grading run as, or ``None`` when not root (then
    there is no one to drop to). ``PS1_SANDBOX_UID`` picks one (the self-tests do)."""
    if os.geteuid() != 0:
        return None
    forced = os.environ.get("PS1_SANDBOX_UID")
    uid = int(forced) if forced else UID_BASE + os.getpid() % UID_SPAN
    if uid < UID_BASE or _has_account(uid):
        raise RuntimeError(f"sandbox uid {uid} belongs to an account; pick one from {UID_BASE} up")
    return uid, uid


def _has_account(uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def become_subreaper():
    """Orphaned grandchildren (double forks) are re-parented to this process, not to init, so
    that :func:`kill_strays` can find them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


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
        kids = procs.children_of(me)
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
