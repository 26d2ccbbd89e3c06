"""Remove a folder tree that student code may have shaped: iteratively (no recursion, so any
depth), never following links, making unreadable folders readable first.

The walk holds one open folder at a time and names everything relative to it (``dir_fd``),
so neither Python's recursion limit, the number of open files nor the path-length limit
(4096 bytes) bounds the depth it can remove; a folder is entered with ``O_NOFOLLOW`` and left
through ``..`` only after checking that ``..`` is the folder it came from. It stays on the
tree's file system (no mount point is crossed).
"""
import os
import stat

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


def remove_tree(root):
    """Delete ``root`` and everything below it; never raises. Returns how many entries failed
    (0 when everything is gone)."""
    try:
        return _remove_tree(os.fspath(root))
    except (OSError, ValueError, RecursionError, MemoryError):
        return 1


def _remove_tree(root):
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
        # One frame per open level: [name, identity, sub-folders still to remove (None: not listed yet)].
        frames = [[name, _identity(fd), None]]
        parents = [top_parent]
        try:
            while frames:
                frame = frames[-1]
                if frame[2] is None:
                    frame[2] = []
                    try:
                        with os.scandir(fd) as entries:
                            listed = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
                    except OSError:
                        listed, failed = [], failed + 1
                    for entry_name, is_dir in listed:
                        if is_dir:
                            frame[2].append(entry_name)
                            continue
                        try:
                            _unlink(entry_name, fd)
                        except FileNotFoundError:
                            pass
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
                    frames.append([child, identity, None])
                    os.close(fd)
                    fd = child_fd
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
                except FileNotFoundError:
                    pass
                except OSError:
                    failed += 1
        finally:
            os.close(fd)
    finally:
        os.close(parent)
    return failed
