"""Find the six graded files in an upload and copy only them into a fresh package.

Uploads come flat, inside a folder, or zipped (zips are opened in memory with size limits and
without trusting member paths). Symbolic links are never followed. Everything that is not a
graded file — a conftest.py, pytest.ini, torch.py, sitecustomize.py, notebooks — is ignored
and listed, so the student can see what was left out.
"""
import io
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

GRADED = ("probability.py", "likelihood.py", "made.py", "pixelcnn.py", "sampling.py", "training.py")
MAX_FILE_BYTES = 1_000_000
MAX_ZIP_MEMBERS = 2000
MAX_ZIP_BYTES = 50_000_000
SKIP_DIRS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints", ".venv", "venv", "node_modules"}


@dataclass
class Staged:
    root: Path                                  # folder holding the package folder submission/
    found: dict = field(default_factory=dict)   # graded name -> where it was found in the upload
    missing: list = field(default_factory=list)
    ignored: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def summary(self):
        lines = []
        if self.found:
            lines.append("Graded files: " + ", ".join(
                name if where == name else f"{name} (from {where})" for name, where in sorted(self.found.items())))
        if self.missing:
            lines.append("Missing (their tests score 0): " + ", ".join(self.missing))
        if self.ignored:
            shown = self.ignored[:15]
            more = f" and {len(self.ignored) - 15} more" if len(self.ignored) > 15 else ""
            lines.append("Ignored (only the six graded files are used): " + ", ".join(shown) + more)
        lines.extend(self.notes)
        return "\n".join(lines)


def _candidates(upload):
    """Yield ``(relative path, read-bytes callable)`` for every regular file in the upload."""
    upload = Path(upload)
    if upload.is_file():
        if zipfile.is_zipfile(upload):
            yield from _zip_members(upload.read_bytes(), upload.name)
        else:
            yield upload.name, upload.read_bytes
        return
    for dirpath, dirnames, filenames in os.walk(upload, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(upload))
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode):
                yield rel, None  # a link or device: never read
            elif name.endswith(".zip") and zipfile.is_zipfile(path):
                yield from _zip_members(path.read_bytes(), rel)
            else:
                yield rel, path.read_bytes


def _zip_members(data, label):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except zipfile.BadZipFile:
        yield label, None
        return
    if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
        yield f"{label} (too large to open)", None
        return
    for member in members:
        parts = PurePosixPath(member.filename).parts
        if member.is_dir() or any(p in SKIP_DIRS for p in parts):
            continue
        is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
        rel = f"{label}/{member.filename}"
        yield rel, None if is_link else (lambda m=member: archive.read(m))


def stage(upload, dest):
    """Copy the graded files of ``upload`` (folder or .zip) into ``dest/submission/``."""
    dest = Path(dest)
    package = dest / "submission"
    package.mkdir(parents=True)
    staged = Staged(root=dest)
    if not Path(upload).exists():
        (package / "__init__.py").write_text("")
        staged.missing = list(GRADED)
        staged.notes.append(f"The upload {upload} does not exist.")
        return staged
    copies = {}
    for rel, read in _candidates(upload):
        name = PurePosixPath(rel.replace(os.sep, "/")).name
        if name in GRADED and read is not None:
            copies.setdefault(name, []).append((rel.replace(os.sep, "/").count("/"), rel, read))
        else:
            staged.ignored.append(rel + (" (a link; not followed)" if read is None and name in GRADED else ""))
    (package / "__init__.py").write_text('"""The staged submission (graded files only)."""\n')
    for name in GRADED:
        if name not in copies:
            staged.missing.append(name)
            continue
        _, rel, read = min(copies[name], key=lambda c: c[:2])  # the shallowest copy wins
        if len(copies[name]) > 1:
            others = [c[1] for c in copies[name] if c[1] != rel]
            staged.ignored.extend(others)
            staged.notes.append(f"Found {len(copies[name])} copies of {name}: graded {rel}.")
        data = read()
        if len(data) > MAX_FILE_BYTES:
            staged.notes.append(f"{rel} is larger than {MAX_FILE_BYTES // 1000} kB and was not graded.")
            staged.missing.append(name)
            continue
        (package / name).write_bytes(data)
        staged.found[name] = rel
    for path in [dest, package, *package.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return staged
