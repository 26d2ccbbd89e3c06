"""Each test's scratch folder as a file system of its own: a tmpfs capped in bytes and inodes,
removed with one unmount however the upload filled it.

RLIMIT_FSIZE caps one file, not how many a worker writes: in a plain folder a worker fills the
disk (912 MB in half a second) or makes so many folders that removing them takes longer than the
test did. A tmpfs mounted on the folder by the session (root with CAP_SYS_ADMIN) bounds both, and
``umount2(MNT_DETACH)`` ends it in one call. Its pages are memory, so the cap is small: a test
writes checkpoints of test doubles (kilobytes). Where mounting is refused (no CAP_SYS_ADMIN, as
in Docker's default profile, or not root) the folder stays a plain one, each file still capped by
RLIMIT_FSIZE, removed after its test off every test's clock (``cleanup.Background``), and
:func:`describe` says so for the grading's log.
"""
import ctypes
import errno
import os
import tempfile

from .cleanup import remove_tree

SCRATCH_MB = 32
SCRATCH_INODES = 8192  # a 3000-level folder tree fits; a folder flood stops at this count
MS_NOSUID, MS_NODEV = 2, 4
MNT_DETACH = 2

# The process's own libc (CDLL(None)): ctypes.util.find_library would run `ldconfig -p`, a child
# of the grading process before the upload is staged.
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

_refused = None  # why mounting failed, once it has: later folders do not try again


def mount(path, user):
    """Mount a capped tmpfs on the empty folder ``path``, owned by ``user`` (uid, gid). True if
    mounted; False (and :func:`describe` says why) where this process may not mount."""
    global _refused
    if _refused is not None:
        return False
    if os.geteuid() != 0 or user is None:
        _refused = "not root"
        return False
    options = f"size={SCRATCH_MB}m,nr_inodes={SCRATCH_INODES},mode=0700,uid={user[0]},gid={user[1]}"
    if _libc.mount(b"ps1-scratch", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode()) != 0:
        code = ctypes.get_errno()
        _refused = f"mount refused: {errno.errorcode.get(code, code)}"
        return False
    return True


def refuse(why):
    """Never mount from now on (``grade --plain-scratch``: the fallback, as where mounting is
    refused); :func:`describe` gives ``why``."""
    global _refused
    _refused = why


def unmount(path):
    """Detach the tmpfs on ``path`` (its files go with it); True if one was there."""
    return _libc.umount2(os.fsencode(path), MNT_DETACH) == 0


def mounts_below(root):
    """Mount points at or below ``root`` (deepest first), from /proc/self/mountinfo."""
    root = os.path.realpath(root)
    found = []
    try:
        with open("/proc/self/mountinfo") as info:
            for line in info:
                point = line.split()[4].encode().decode("unicode_escape")  # octal escapes: \040 for a space
                if point == root or point.startswith(root + os.sep):
                    found.append(point)
    except OSError:
        return []
    return sorted(found, key=len, reverse=True)


def unmount_below(root):
    """Detach every mount at or below ``root`` (scratch folders a dead session left mounted)."""
    for point in mounts_below(root):
        unmount(point)


def check(root, user):
    """Try a mount once in a folder of ``root`` (before the first test, so the grading's log says
    what every test got); return :func:`describe`'s line."""
    probe = tempfile.mkdtemp(prefix="mount-check-", dir=root)
    try:
        if mount(probe, user):
            unmount(probe)
    finally:
        remove_tree(probe)
    return describe()


def describe():
    if _refused is None:
        return (f"each test's scratch folder is a tmpfs of its own ({SCRATCH_MB} MB, {SCRATCH_INODES} inodes), "
                "removed with one unmount")
    return (f"scratch folders are plain folders ({_refused}): each file at most the file-size limit, "
            "their number and total size not capped; each is removed after its test in the background, "
            "at idle priority")
