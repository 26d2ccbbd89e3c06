"""Remove a folder tree that student code may have shaped: iteratively (no recursion, so any
depth), never following links, making unreadable folders readable first.

The walk holds one open folder at a time and names everything relative to it (``dir_fd``),
so neither Python's recursion limit, the number of open files nor the path-length limit
(4096 bytes) bounds the depth it can remove; a folder is entered with ``O_NOFOLLOW`` and left
through ``..`` only after checking that ``..`` is the folder it came from. It stays on the
tree's file system (no mount point is crossed).

:class:`Background` removes trees off the caller's clock: a folder is renamed aside in one call
and removed by one helper process at ``SCHED_IDLE`` priority, which runs only when nothing else
wants the CPU. Run as a script (``python -I -S cleanup.py``) this module is that helper.
"""
import os
import stat
import subprocess
import sys
import time

MAX_PENDING = 4096  # sub-folders held per level; more are found by listing the folder again
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _identity(fd):
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _open_dir(name, parent_fd):
    """Open the folder ``name`` (relative to ``parent_fd``) without following a link; make it
    readable, searchable and writable for its owner if it is not."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            raise
        os.chmod(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=parent_fd)  # a folder (lstat), not a link
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    try:
        mode = os.fstat(fd).st_mode
        if mode & 0o700 != 0o700:
            os.fchmod(fd, stat.S_IMODE(mode) | 0o700)
    except OSError:
        pass
    return fd


def _unlink(name, fd):
    try:
        os.unlink(name, dir_fd=fd)
    except PermissionError:
        os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | 0o700)
        os.unlink(name, dir_fd=fd)


class OutOfTime(Exception):
    """:func:`remove_tree` stopped at its ``until`` with entries left."""


def remove_tree(root, until=None):
    """Delete ``root`` and everything below it; never raises but :class:`OutOfTime` (when
    ``until``, a ``time.monotonic()`` value, passes first). Returns how many entries failed (0
    when everything is gone)."""
    try:
        return _remove_tree(os.fspath(root), until)
    except (OSError, ValueError, RecursionError, MemoryError):
        return 1


def _remove_tree(root, until=None):
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return 0
    parent_path, name = os.path.split(os.path.abspath(root))
    parent = os.open(parent_path or "/", os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    failed = 0
    try:
        if not stat.S_ISDIR(st.st_mode):
            _unlink(name, parent)
            return 0
        device = st.st_dev
        top_parent = _identity(parent)
        fd = _open_dir(name, parent)
        # One frame per open level: [name, identity, sub-folders still to enter (None: list the
        # folder), whether the listing left sub-folders out (more than MAX_PENDING), entries
        # removed since it was listed].
        frames = [[name, _identity(fd), None, False, 0]]
        parents = [top_parent]
        try:
            while frames:
                if until is not None and time.monotonic() > until:
                    raise OutOfTime(root)
                frame = frames[-1]
                if frame[2] is None:
                    frame[2], frame[3], frame[4] = [], False, 0
                    try:
                        with os.scandir(fd) as entries:  # streamed: a million entries are not held at once
                            for count, entry in enumerate(entries):
                                if until is not None and count % 1024 == 1023 and time.monotonic() > until:
                                    raise OutOfTime(root)
                                if entry.is_dir(follow_symlinks=False):
                                    try:  # an empty folder goes in one call (a flood of them as fast as it came)
                                        os.rmdir(entry.name, dir_fd=fd)
                                        frame[4] += 1
                                    except FileNotFoundError:
                                        pass
                                    except OSError:  # not empty, a mount point, not ours: enter it
                                        if len(frame[2]) < MAX_PENDING:
                                            frame[2].append(entry.name)
                                        else:
                                            frame[3] = True
                                    continue
                                try:
                                    _unlink(entry.name, fd)
                                    frame[4] += 1
                                except FileNotFoundError:
                                    pass
                                except OSError:
                                    failed += 1
                    except OSError:
                        failed += 1
                if frame[2]:
                    child = frame[2].pop()
                    try:
                        child_fd = _open_dir(child, fd)
                    except FileNotFoundError:
                        continue
                    except OSError:
                        failed += 1
                        continue
                    identity = _identity(child_fd)
                    if identity[0] != device:  # a mount point: never cross it
                        os.close(child_fd)
                        failed += 1
                        continue
                    parents.append(frame[1])
                    frames.append([child, identity, None, False, 0])
                    os.close(fd)
                    fd = child_fd
                    continue
                if frame[3] and frame[4]:  # the sub-folders the listing left out (never a loop without progress)
                    frame[2] = None
                    continue
                # This folder is empty (or holds what could not be removed): go up, remove it.
                frames.pop()
                expected = parents.pop()
                up = os.open("..", os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0), dir_fd=fd)
                os.close(fd)
                fd = up
                if _identity(fd) != expected:  # the tree was moved under us: stop, touch nothing else
                    return failed + 1
                try:
                    os.rmdir(frame[0], dir_fd=fd)
                    if frames:
                        frames[-1][4] += 1
                except FileNotFoundError:
                    pass
                except OSError:
                    failed += 1
        finally:
            os.close(fd)
    finally:
        os.close(parent)
    return failed


class Background:
    """Remove trees without spending the caller's time: where the scratch folders are plain ones,
    a worker can fill its own with folders for as long as its test lasts, and removing them took
    as long again (5-30 s per test, on no test's clock).

    :meth:`discard` renames the tree aside (``.removing-<name>`` in the same folder: one call,
    whatever it holds) and hands it to one helper process, started on first use, that removes
    the trees it is sent one after the other at ``SCHED_IDLE`` priority. One helper however
    many trees (its memory is ~10 MB once); whatever it has not removed when the caller's work
    folder goes is removed with that folder. If the rename or the helper fails, the tree is
    removed at once, as before."""

    def __init__(self):
        self.helper = None

    def discard(self, path):
        """Have ``path`` removed; return how many entries failed where it was removed at once."""
        path = os.path.abspath(os.fspath(path))
        aside = os.path.join(os.path.dirname(path), ".removing-" + os.path.basename(path))
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return 0
        except OSError:
            return remove_tree(path)
        try:
            if self.helper is None or self.helper.poll() is not None:
                self.helper = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__)],
                                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, close_fds=True)
            self.helper.stdin.write(os.fsencode(aside) + b"\0")
            self.helper.stdin.flush()
            return 0
        except OSError:  # no helper, or it died: remove it here after all
            return remove_tree(aside)

    def close(self, wait=None):
        """Tell the helper nothing more comes; wait up to ``wait`` seconds for it to finish (it
        is killed after that; ``None``: do not wait, leave it to finish on its own)."""
        if self.helper is None:
            return
        try:
            self.helper.stdin.close()
        except OSError:
            pass
        if wait is not None:
            try:
                self.helper.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                self.helper.kill()
                self.helper.wait()


def _helper():
    """The helper's loop: at the lowest priority, remove each NUL-terminated path read from stdin."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)
    pending = b""
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return
        *paths, pending = (pending + chunk).split(b"\0")
        for path in paths:
            remove_tree(os.fsdecode(path))


if __name__ == "__main__":
    _helper()
