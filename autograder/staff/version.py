"""Content hashes: which autograder graded a row, and which upload it graded.

A regrade skips a submission only when both hashes match what is recorded beside its
results.json, so editing any test, fixture or harness file regrades everything, and a
re-downloaded export with a newer upload regrades that one submission.
"""
import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What grading depends on. grade.py's own list of the files it copies for the session is
# added at run time, so a file the harness starts to depend on is hashed without an edit here.
GRADER_ROOTS = ("autograder/__init__.py", "autograder/harness", "autograder/suites", "autograder/examples.py",
                "autograder/oracles.py", "autograder/secret.key", "autograder/worker", "tests")
SKIP_PARTS = {"__pycache__", ".hypothesis", ".pytest_cache"}


def _harness_roots():
    try:
        from ..harness import grade
    except Exception:  # a harness that does not import grades nothing; the fixed list still hashes it
        return ()
    return tuple(getattr(grade, "GRADER_FILES", ()))


def _files_under(base, rel):
    """Regular files under ``base / rel`` as sorted relative paths; links are not followed."""
    path = base / rel
    if path.is_file() and not path.is_symlink():
        return [rel]
    found = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames[:] = [d for d in dirnames if d not in SKIP_PARTS]
        for name in filenames:
            full = Path(dirpath) / name
            if not name.endswith(".pyc") and full.is_file() and not full.is_symlink():
                found.append(full.relative_to(base).as_posix())
    return found


def tree_digest(base, relpaths):
    """SHA-256 over each file's relative path and contents, in sorted order."""
    digest = hashlib.sha256()
    for rel in sorted(set(relpaths)):
        data = (Path(base) / rel).read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def grader_files(root=ROOT):
    root = Path(root)
    return sorted({f for rel in (*GRADER_ROOTS, *_harness_roots()) for f in _files_under(root, rel)})


def grader_version(root=ROOT):
    """The hash of every file grading depends on (``root`` is a checkout of this project)."""
    return tree_digest(root, grader_files(root))


def upload_digest(folder):
    """The hash of one submission's files as exported."""
    return tree_digest(folder, _files_under(Path(folder), "."))
