"""Who student code runs as, and clean-up of processes that outlive the grading session.

The workers themselves are confined by :mod:`autograder.worker.confine` (limits, privilege
drop, Landlock) right after the zygote forks them; this module is the grading process's side.
"""
import ctypes
import fcntl
import os
import pwd
import secrets
import signal
import stat
import tempfile
import time

from ..worker import confine, procs

PR_SET_CHILD_SUBREAPER = 36
# Workers of one grading run as a uid of their own, drawn at random from a range no account
# uses and never used before on this machine: killing "every process of that uid" then ends
# exactly this grading's strays, never another grading's workers (staff grade many uploads at
# once), and nothing a uid owns (a key, a file) is ever another grading's.
UID_BASE = 1_900_000_000
UID_SPAN = 100_000_000
# The uids handed out so far, one per line, in a folder of root's alone: /run (which no one
# else may write), else the temporary folder.
USED_UIDS = os.environ.get("PS1_USED_UIDS", "/run/ps1-grader/used-uids")
USED_UIDS_FALLBACK = os.path.join(tempfile.gettempdir(), "ps1-grader", "used-uids")


def sandbox_user():
    """``(uid, gid)`` the workers of this grading run as, or ``None`` when not root (then
    there is no one to drop to). ``PS1_SANDBOX_UID`` picks one (the self-tests do)."""
    if os.geteuid() != 0:
        return None
    forced = os.environ.get("PS1_SANDBOX_UID")
    if forced:
        uid = int(forced)
        if uid < UID_BASE or _has_account(uid):
            raise RuntimeError(f"sandbox uid {uid} belongs to an account; pick one from {UID_BASE} up")
        return uid, uid
    uid = claim_fresh_uid()
    return uid, uid


def _open_registry(path):
    """The registry's descriptor, in a folder and a file that only root may write (a folder
    someone else made, or a link, is refused: the grader appends to this file as root)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if info.st_uid != 0 or not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o022:
        raise OSError(f"{folder} is not a folder of root's alone")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    info = os.fstat(fd)
    if info.st_uid != 0 or not stat.S_ISREG(info.st_mode) or info.st_mode & 0o022:
        os.close(fd)
        raise OSError(f"{path} is not a file of root's alone")
    return fd


def claim_fresh_uid(path=None, tries=1000):
    """A uid from ``UID_BASE`` up that no account, no running process and no earlier grading
    (the registry at ``path``, read and appended under an exclusive lock, so two gradings that
    start at once never get the same one) has used."""
    problems = []
    for candidate in ([path] if path else [USED_UIDS, USED_UIDS_FALLBACK]):
        try:
            fd = _open_registry(candidate)
            break
        except OSError as exc:
            problems.append(f"{candidate}: {exc}")
    else:
        raise RuntimeError("no registry of used sandbox uids could be opened (" + "; ".join(problems) + ")")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(fd, "r", closefd=False) as registry:
            registry.seek(0)
            used = {int(line) for line in registry.read().split() if line.isdigit()}
        for _ in range(tries):
            uid = UID_BASE + secrets.randbelow(UID_SPAN)
            if uid not in used and not _has_account(uid) and not procs.owned_by(uid):
                os.write(fd, f"{uid}\n".encode())
                return uid
        raise RuntimeError(f"no unused sandbox uid found in {tries} draws")
    finally:
        os.close(fd)  # releases the lock


def protect_from_oom():
    """As root with CAP_SYS_RESOURCE: the OOM killer never picks this process or what it starts
    (``oom_score_adj`` −1000, inherited by the session and the zygote). Without it (Docker's
    default capabilities) this fails and they stay at 0; either way each worker sets its own to
    1000, so under a memory limit the kernel ends a worker before any of them."""
    return os.geteuid() == 0 and confine.set_oom_score_adj(-1000)


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


def _reap(keep=()):
    if keep:  # waitpid(-1) could reap a kept process and hide its end from its owner
        for pid in procs.children_of(os.getpid()):
            if pid not in keep:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        return
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_strays(keep=()):
    """Kill every process left over from a test: this process is a subreaper, so whatever a
    test left running (threads of forks, double-forked daemons) has become our child. Only
    call it when no legitimate child is running but those in ``keep`` (the warm service's
    templates). Returns how many were killed."""
    me, killed = os.getpid(), 0
    for _ in range(50):
        kids = [pid for pid in procs.children_of(me) if pid not in keep]
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
        _reap(keep)
    _reap(keep)
    return killed
