"""Find the six graded files in an upload and copy only them into a fresh package.

Uploads come flat, inside a folder, or zipped. Nothing in an upload is trusted:

* folders are walked without recursion and without following links, to a bounded depth and
  number of entries; a file is read through ``O_NOFOLLOW`` up to a byte limit;
* zips (the upload itself, a zip in an upload folder, and zips directly inside those — one
  level of nesting, no more) are read by this module's own streaming reader: each member is
  inflated chunk by chunk and abandoned at a real byte limit, whatever its header declares,
  and its CRC-32 is checked; the table of contents is size-checked before it is parsed; only
  the graded files and nested zips are ever inflated;
* an encrypted member, an unsupported compression method, a bad CRC, a member too large once
  inflated, a link, or an odd name (control characters, an absolute path, ``..``, very long)
  costs only that member: one line of the summary names it and the rest is still graded.

Everything that is not a graded file — a conftest.py, pytest.ini, torch.py, sitecustomize.py,
notebooks — is ignored and listed, so the student can see what was left out. Names are shown
through :func:`results.clean_text`, in :meth:`Staged.summary` only.
"""
import bz2
import calendar
import contextlib
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .results import clean_text

GRADED = ("probability.py", "likelihood.py", "made.py", "pixelcnn.py", "sampling.py", "training.py")
MAX_FILE_BYTES = 1_000_000          # a graded file larger than this (once inflated) is not graded
# Trained weights (optional; measured by the session as data, never run): copied into models/.
MODEL_FILES = ("made.safetensors", "pixelcnn.safetensors")
MAX_MODEL_BYTES = 16 * 2**20        # the trainer's default models are 3.2 MB
MAX_NESTED_ZIP_BYTES = 20_000_000   # a zip inside a zip is inflated into memory up to this
MAX_ZIP_BYTES = 50_000_000          # all bytes inflated from the zips of one upload, together
MAX_ZIP_MEMBERS = 20_000            # a zip with more members is not opened
MAX_ZIP_DIRECTORY_BYTES = 4_000_000  # nor one whose table of contents is larger than this
MAX_ENTRIES = 20_000                # files and folders looked at in a folder upload
MAX_DEPTH = 40                      # folder levels looked into
MAX_NAME_CHARS = 400                # a longer path is an odd name
MAX_NOTES = 25                      # problem lines in the summary (then "and N more")
CHUNK = 64 * 1024
SKIP_DIRS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints", ".venv", "venv", "node_modules"}
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class Unreadable(Exception):
    """A file of the upload that cannot be used; the message says why (for the student)."""


@dataclass
class Candidate:
    rel: str                                   # where it is in the upload (raw; shown cleaned)
    read: Optional[Callable[[], bytes]] = None  # returns its bytes or raises Unreadable
    problem: Optional[str] = None              # why it cannot be used at all
    notable: bool = False                      # the problem deserves a line of its own
    mtime: float = 0.0                         # when it was last written (a zip member: its date)


@dataclass
class Staged:
    root: Path                                  # folder holding the package folder submission/
    found: dict = field(default_factory=dict)   # graded name -> where it was found in the upload
    models: dict = field(default_factory=dict)  # model file name -> where it was found
    missing: list = field(default_factory=list)
    ignored: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def summary(self):
        """What was graded, missing and ignored, one line each, plus one line per note. Every
        name and note passes through :func:`results.clean_text` here (one line each)."""
        def show(name, cap=160):
            return clean_text(name, cap, keep_newlines=False)

        lines = []
        if self.found:
            lines.append("Graded files: " + ", ".join(name if where == name else f"{name} (from {show(where)})"
                                                      for name, where in sorted(self.found.items())))
        if self.missing:
            lines.append("Missing (their tests score 0): " + ", ".join(show(m) for m in self.missing))
        if self.ignored:
            shown = [show(name) for name in self.ignored[:15]]
            more = f" and {len(self.ignored) - 15} more" if len(self.ignored) > 15 else ""
            lines.append("Ignored (only the six graded files are used): " + ", ".join(shown) + more)
        if self.models:
            lines.append("Trained models (measured in the test 'Your trained models'): " + ", ".join(
                name if where == name else f"{name} (from {show(where)})" for name, where in sorted(self.models.items())))
        lines.extend(show(note, 400) for note in self.notes[:MAX_NOTES])
        if len(self.notes) > MAX_NOTES:
            lines.append(f"... and {len(self.notes) - MAX_NOTES} more problems with the upload.")
        return "\n".join(lines)


# --- names ------------------------------------------------------------------------------------

def _parts(rel):
    return [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]


def _basename(rel):
    parts = _parts(rel)
    return parts[-1] if parts else ""


def _odd_name(name):
    """Why a member name is not to be trusted, or None."""
    if any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 or c in _BIDI or 0xd800 <= ord(c) < 0xe000 for c in name):
        return "its name holds control characters"
    if len(name) > MAX_NAME_CHARS or any(len(p) > 255 for p in name.split("/")):
        return "its name is too long"
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "it has an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "its path holds '..'"
    return None


# --- folders ----------------------------------------------------------------------------------

def _read_path(path, limit):
    """Read a regular file without following a link, up to ``limit`` + 1 bytes."""
    def read():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise Unreadable(f"Not readable ({exc.strerror})") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise Unreadable("Not a regular file")
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(CHUNK, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise Unreadable(f"Not readable ({exc.strerror})") from None
        finally:
            os.close(fd)
    return read


def _walk(root):
    """``(rel, DirEntry)`` for every non-folder entry below ``root``, sorted, depth-first,
    without recursion or following links; problems come back as :class:`Candidate`\\ s."""
    stack = [("", 0)]
    seen = 0
    while stack:
        rel_dir, depth = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Candidate(rel_dir + "/", problem=f"Folder not readable ({exc.strerror})", notable=True), None
            continue
        folders = []
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                yield Candidate((rel_dir or ".") + "/", notable=True, problem=f"More than {MAX_ENTRIES} files and "
                                "folders in the upload; the rest was not looked at, from"), None
                return
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if not is_dir:
                yield None, (rel, entry)
            elif entry.name in SKIP_DIRS:
                continue
            elif depth + 1 >= MAX_DEPTH:
                yield Candidate(rel + "/", problem=f"Nested more than {MAX_DEPTH} folders deep; not looked into",
                                notable=True), None
            else:
                folders.append(rel)
        stack.extend((rel, depth + 1) for rel in reversed(folders))


def _is_zip_name(name):
    return name.lower().endswith(".zip")


def _candidates(upload, files, budget):
    """Every file of the upload as a :class:`Candidate`."""
    upload = Path(upload)
    if not upload.is_dir():
        if _is_zip_name(upload.name) or zipfile.is_zipfile(upload):
            yield from _zip_candidates(upload, upload.name, 0, files, budget)
        else:
            yield Candidate(upload.name, _read_path(str(upload), _limit(upload.name)))
        return
    for problem, found in _walk(str(upload)):
        if problem is not None:
            yield problem
            continue
        rel, entry = found
        if entry.is_symlink():
            yield Candidate(rel, problem="A link; not followed", notable=_basename(rel) in GRADED)
        elif not entry.is_file(follow_symlinks=False):
            yield Candidate(rel, problem="Not a regular file; not read", notable=_basename(rel) in GRADED)
        elif _odd_name(rel):
            yield Candidate(rel, problem=f"Not used, {_odd_name(rel)}", notable=True)
        elif _is_zip_name(entry.name):
            yield from _zip_candidates(entry.path, rel, 0, files, budget)
        else:
            try:
                mtime = entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                mtime = 0.0
            yield Candidate(rel, _read_path(entry.path, _limit(entry.name)), mtime=mtime)


# --- zips -------------------------------------------------------------------------------------

class _Budget:
    def __init__(self, total):
        self.left = total


def _directory_problem(fileobj):
    """Check the size of a zip's table of contents before :mod:`zipfile` parses it."""
    fileobj.seek(0, os.SEEK_END)
    size = fileobj.tell()
    tail_len = min(size, 65536 + 22)
    fileobj.seek(size - tail_len)
    tail = fileobj.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None  # not a zip as far as this check can see: zipfile will say so
    entries, directory = struct.unpack("<HL", tail[at + 10:at + 16])
    if (entries == 0xFFFF or directory == 0xFFFFFFFF) and at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07":
        (offset,) = struct.unpack("<Q", tail[at - 12:at - 4])
        fileobj.seek(offset)
        record = fileobj.read(56)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            entries, directory = struct.unpack("<QQ", record[32:48])
    if entries > MAX_ZIP_MEMBERS:
        return f"Holds {entries} files, more than the {MAX_ZIP_MEMBERS} a zip may hold; not opened"
    if directory > MAX_ZIP_DIRECTORY_BYTES:
        return "Its table of contents is too large; not opened"
    return None


def _inflate(fileobj, info, limit, budget):
    """The bytes of one member, inflated chunk by chunk; :class:`Unreadable` past ``limit``
    bytes (whatever the header says), on a bad CRC, a truncated or damaged stream."""
    limit = min(limit, budget.left)
    fileobj.seek(info.header_offset)
    header = fileobj.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise Unreadable("Damaged in the zip (bad local header)")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fileobj.seek(info.header_offset + 30 + name_len + extra_len)
    method, remaining = info.compress_type, info.compress_size
    if method == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
    elif method == zipfile.ZIP_BZIP2:
        inflater = bz2.BZ2Decompressor()
    elif method != zipfile.ZIP_STORED:
        raise Unreadable(f"Compressed with an unsupported method ({method}); zip it with ordinary compression")
    out, crc, pending = bytearray(), 0, b""

    def more():
        nonlocal remaining
        if remaining <= 0:
            raise Unreadable("Damaged in the zip (its data ends early)")
        chunk = fileobj.read(min(CHUNK, remaining))
        if not chunk:
            raise Unreadable("Damaged in the zip (its data ends early)")
        remaining -= len(chunk)
        return chunk

    while True:
        room = limit + 1 - len(out)
        if room <= 0:
            if limit < budget.left:
                raise Unreadable(f"Larger than {limit // 1000} kB once unpacked")
            raise Unreadable(f"Not unpacked: the upload holds more than {MAX_ZIP_BYTES // 1_000_000} MB "
                             "once unpacked")
        if method == zipfile.ZIP_STORED:
            if remaining <= 0:
                break
            piece = more()[:room]
        elif method == zipfile.ZIP_DEFLATED:
            if inflater.eof:
                break
            if not pending:
                pending = more()
            piece = inflater.decompress(pending, room)
            pending = inflater.unconsumed_tail
        else:
            if inflater.eof:
                break
            piece = inflater.decompress(more() if inflater.needs_input else b"", room)
        crc = zlib.crc32(piece, crc)
        out += piece
        budget.left -= len(piece)
    if crc != info.CRC:
        raise Unreadable("Damaged in the zip (its CRC-32 check failed)")
    if len(out) != info.file_size:
        raise Unreadable(f"Damaged in the zip (it unpacks to {len(out)} bytes, its header says {info.file_size})")
    return bytes(out)


def _member_reader(fileobj, info, limit, budget):
    def read():
        try:
            return _inflate(fileobj, info, limit, budget)
        except Unreadable:
            raise
        except (zlib.error, OSError, EOFError, ValueError, struct.error, MemoryError) as exc:
            raise Unreadable(f"Damaged in the zip ({type(exc).__name__})") from None
    return read


def _zip_candidates(source, label, depth, files, budget):
    """The members of a zip (a path, or bytes for a nested zip) as candidates; zips directly
    inside are opened too when ``depth`` is 0."""
    try:
        fileobj = files.enter_context(open(source, "rb")) if not isinstance(source, bytes) else io.BytesIO(source)
        problem = _directory_problem(fileobj)
        if problem is None:
            fileobj.seek(0)
            members = zipfile.ZipFile(fileobj).infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                problem = f"Holds {len(members)} files, more than the {MAX_ZIP_MEMBERS} a zip may hold; not opened"
    except Exception as exc:  # zipfile raises many kinds of errors on malformed archives
        problem = f"Not opened: not a readable zip ({type(exc).__name__})"
    if problem is not None:
        yield Candidate(label, problem=problem, notable=True)
        return
    for info in members:
        name = info.filename
        rel = f"{label}/{name}"
        parts = _parts(name)
        if info.is_dir() or not parts or any(p in SKIP_DIRS for p in parts[:-1]):
            continue
        odd = _odd_name(name)
        base = parts[-1]
        wanted = base in GRADED or base in MODEL_FILES or _is_zip_name(base)
        if odd:
            yield Candidate(rel, problem=f"Not used, {odd}", notable=True)
        elif (info.external_attr >> 16) & 0o170000 == 0o120000:
            yield Candidate(rel, problem="A link; not followed", notable=base in GRADED)
        elif wanted and info.flag_bits & 0x1:
            yield Candidate(rel, problem="Encrypted (password-protected), not read; zip it without a password",
                            notable=True)
        elif wanted and info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
            yield Candidate(rel, problem=f"Compressed with an unsupported method ({info.compress_type}), not read; "
                                         "zip it with ordinary compression", notable=True)
        elif _is_zip_name(base) and base not in GRADED:
            if depth > 0:
                yield Candidate(rel, problem="A zip inside a zip inside the upload; not opened", notable=True)
                continue
            try:
                inner = _member_reader(fileobj, info, MAX_NESTED_ZIP_BYTES, budget)()
            except Unreadable as exc:
                yield Candidate(rel, problem=f"{exc}; not opened", notable=True)
                continue
            yield from _zip_candidates(inner, rel, depth + 1, files, budget)
        else:
            try:
                mtime = calendar.timegm((*info.date_time, 0, 0, 0))
            except (TypeError, ValueError, OverflowError):
                mtime = 0.0
            yield Candidate(rel, _member_reader(fileobj, info, _limit(base), budget), mtime=mtime)


# --- staging ----------------------------------------------------------------------------------

def stage(upload, dest):
    """Copy the graded files of ``upload`` (folder, file or .zip) into ``dest/submission/``."""
    dest = Path(dest)
    package = dest / "submission"
    package.mkdir(parents=True)
    staged = Staged(root=dest)
    (package / "__init__.py").write_text('"""The staged submission (graded files only)."""\n')
    if not os.path.lexists(upload):
        staged.missing = list(GRADED)
        staged.notes.append(f"The upload {upload} does not exist.")
        _fix_modes(dest, package)
        return staged
    copies, models = {}, {}
    with contextlib.ExitStack() as files:
        for candidate in _candidates(upload, files, _Budget(MAX_ZIP_BYTES)):
            rel = candidate.rel.replace(os.sep, "/")
            name = _basename(rel)
            if candidate.problem is not None:
                staged.ignored.append(rel)
                if candidate.notable:
                    staged.notes.append(f"{candidate.problem}: {rel}")
            elif name in GRADED:
                copies.setdefault(name, []).append(candidate)
            elif name in MODEL_FILES:
                models.setdefault(name, []).append(candidate)
            else:
                staged.ignored.append(rel)
        for name in GRADED:
            options = _ranked(copies.get(name, []), copies)
            graded = None
            for option in options:
                rel, read = option.rel.replace(os.sep, "/"), option.read
                try:
                    data = read()
                except Unreadable as exc:
                    staged.notes.append(f"{exc}; not graded: {rel}")
                    continue
                if len(data) > MAX_FILE_BYTES:
                    staged.notes.append(f"Larger than {MAX_FILE_BYTES // 1000} kB; not graded: {rel}")
                    continue
                (package / name).write_bytes(data)
                staged.found[name] = graded = rel
                break
            if graded is None:
                staged.missing.append(name)
            if len(options) > 1:
                others = [o.rel.replace(os.sep, "/") for o in options if o.rel.replace(os.sep, "/") != graded]
                staged.ignored.extend(others)
                if graded is not None:
                    staged.notes.append(f"Found {len(options)} copies of {name}: graded {graded} (the copy with the "
                                        f"most other graded files beside it, then the newest); ignored "
                                        f"{', '.join(others)}.")
        _stage_models(models, copies, dest / "models", staged)
    _fix_modes(dest, package)
    return staged


def _stage_models(models, copies, folder, staged):
    """Copy one of each uploaded model file into ``folder`` (ranked as graded files are)."""
    folder.mkdir()
    for name in MODEL_FILES:
        first_problem = None
        for option in _ranked(models.get(name, []), {**copies, **models}):
            rel = option.rel.replace(os.sep, "/")
            try:
                data = option.read()
                if len(data) > MAX_MODEL_BYTES:
                    raise Unreadable(f"Larger than {MAX_MODEL_BYTES >> 20} MB (the grader reads at most "
                                     f"{MAX_MODEL_BYTES >> 20} MB of a model)")
            except Unreadable as exc:
                staged.notes.append(f"{exc}; not measured: {rel}")
                first_problem = first_problem or str(exc)
                continue
            (folder / name).write_bytes(data)
            staged.models[name] = rel
            break
        else:  # no copy could be taken: test 7.1 says why (a good copy elsewhere would have been taken)
            if first_problem:
                (folder / f"{name}.problem").write_text(first_problem)


def _limit(name):
    """How many bytes of a file named ``name`` are read: a trained model may be larger."""
    return MAX_MODEL_BYTES if _basename(name) in MODEL_FILES else MAX_FILE_BYTES


def _folder(rel):
    return rel.replace(os.sep, "/").rpartition("/")[0]


def _ranked(options, copies):
    """The copies of one graded file, the one to grade first: the copy whose folder holds the most
    graded files (the student's submission folder, not a backup of one file), then the newest,
    then the shallowest, then by name."""
    beside = {}
    for candidates in copies.values():
        for candidate in candidates:
            beside.setdefault(_folder(candidate.rel), set()).add(_basename(candidate.rel.replace(os.sep, "/")))
    return sorted(options, key=lambda c: (-len(beside[_folder(c.rel)]), -c.mtime, len(_parts(c.rel)), c.rel))


def _fix_modes(dest, package):
    models = dest / "models"
    extra = [models, *models.iterdir()] if models.is_dir() else []
    for path in [dest, package, *package.iterdir(), *extra]:
        path.chmod(0o755 if path.is_dir() else 0o644)
