"""The grading key: what makes the grader's examples fresh for each upload yet deterministic.

``autograder/secret.key`` is a staff-only, git-ignored file of random bytes, created once (by
the first grading or ``make autograder``) and shipped inside ``dist/autograder.zip`` only. It
stays the same across rebuilds, so a regrade with a new autograder version changes scores only
where tests changed; delete it to draw new examples for everyone.

The key of one grading is ``HMAC-SHA256(secret, hash of the staged graded files)``: the same
upload always gets the same examples (and the same results.json), two uploads get unrelated
ones, and nothing a worker can read (the upload, its hash, the public code) lets it predict
them. Only the grading process and the session see the key: the session gets it over a pipe,
never in its arguments or environment (which every worker could read).
"""
import hashlib
import hmac
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = ROOT / "autograder" / "secret.key"
SECRET_BYTES = 32


def load(path=SECRET, create=True):
    """The secret's bytes; created (0600) if missing and ``create``."""
    path = Path(path)
    if not path.exists() and create:
        # Written whole under another name, then linked into place: two first gradings at once (a
        # fresh clone's `make test`) both found no secret, and one failed on the other's file,
        # or could have read it before it was written.
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(SECRET_BYTES))
        try:
            os.link(draft, path)
            print(f"ps1: created {path} (staff-only, git-ignored): keep it with the course's files; a new "
                  "secret draws new examples for every upload", file=sys.stderr)
        except FileExistsError:
            pass  # another grading's secret came first: that one is the secret
        finally:
            os.unlink(draft)
    data = path.read_bytes()
    if len(data) < 16:
        raise ValueError(f"{path} holds {len(data)} bytes; delete it to make a new secret")
    return data


def upload_digest(package):
    """SHA-256 over the graded files in the staged ``package`` folder (name and bytes, sorted)."""
    from .staging import GRADED

    digest = hashlib.sha256()
    for name in GRADED:
        path = Path(package) / name
        data = path.read_bytes() if path.is_file() else b""
        digest.update(f"{name}\0{path.is_file()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def grading_key(secret, digest):
    return hmac.new(secret, digest.encode(), hashlib.sha256).digest()
