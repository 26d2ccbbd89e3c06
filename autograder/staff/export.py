"""Read Gradescope's "Export Submissions" archive: the zip or its unzipped folder.

Layout: an optional top folder (``assignment_123_export/``) holding ``submission_metadata.yml``
and one folder per submission, ``submission_<id>/``, with the files as uploaded. The metadata
is a Ruby hash dumped as YAML, so keys are symbols (``:submitters``, ``:name``, ``:sid``);
keys without the colon are accepted too. A folder with no metadata is still graded.

The zip comes from a web download that staff did not write, so it is read like an upload:
no member is written outside the destination (absolute paths and ``..`` are refused), links
are skipped, and sizes are counted while extracting because a member's declared size may lie.
"""
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from . import UsageError

METADATA = "submission_metadata.yml"
SKIP_NAMES = {"__MACOSX", ".DS_Store"}
MAX_MEMBER_BYTES = 64 * 2**20        # nothing this large can be a graded file or a nested upload zip
MAX_TOTAL_BYTES = 8 * 2**30          # a zip bomb must not fill the staff member's disk
MAX_MEMBERS = 200_000
FOLDER_ID = re.compile(r"^submission_(\d+)$")
SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Submission:
    id: str                 # Gradescope's submission id (the folder name without ``submission_``)
    folder: Path            # the uploaded files
    sids: list = field(default_factory=list)
    names: list = field(default_factory=list)
    emails: list = field(default_factory=list)
    in_metadata: bool = False


@dataclass
class Export:
    root: Path              # the folder that holds the submission folders
    submissions: list
    notes: list             # what was skipped or could not be read, for the staff member


def load(export, workdir):
    """Open ``export`` (zip or folder); a zip is extracted into ``workdir / "export"``."""
    export = Path(export)
    notes = []
    if export.is_file():
        if not zipfile.is_zipfile(export):
            raise UsageError(f"{export} is neither a folder nor a zip file")
        dest = Path(workdir) / "export"
        if dest.resolve() in export.resolve().parents:
            raise UsageError(f"{export} lies inside {dest}, which each run replaces: move it elsewhere")
        shutil.rmtree(dest, ignore_errors=True)  # a fresh copy: the zip may have been re-downloaded
        notes += extract(export, dest)
        export = dest
    elif not export.is_dir():
        raise UsageError(f"{export} does not exist")
    root = find_root(export)
    metadata, problem = read_metadata(root / METADATA)
    if problem:
        notes.append(problem)
    found = submissions(root, metadata)
    unlisted = [s.id for s in found if not s.in_metadata]
    if metadata and unlisted:
        notes.append(f"{len(unlisted)} submission folder(s) have no entry in {METADATA}: graded without names")
    listed_only = sorted(set(metadata) - {s.folder.name for s in found})
    if listed_only:
        notes.append(f"{len(listed_only)} submission(s) in {METADATA} have no folder in the export")
    return Export(root, found, notes)


def _member_path(name):
    """The member's relative path, or ``None`` if it would land outside the destination."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    return PurePosixPath(*parts) if parts else None


def _is_link(info):
    return stat.S_ISLNK(info.external_attr >> 16)


def extract(zip_path, dest):
    """Extract ``zip_path`` into ``dest`` defensively; return notes on what was skipped."""
    notes, total = [], 0
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise UsageError(f"{zip_path} has {len(members)} members; refusing more than {MAX_MEMBERS}")
        for info in members:
            rel = _member_path(info.filename)
            if rel is None:
                notes.append(f"refused {info.filename!r}: outside the export folder")
            elif _is_link(info):
                notes.append(f"skipped link {info.filename!r}")
            elif info.is_dir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
            elif info.file_size > MAX_MEMBER_BYTES:
                notes.append(f"skipped {info.filename!r}: {info.file_size >> 20} MB")
            else:
                total += _copy_member(archive, info, dest / rel, MAX_TOTAL_BYTES - total)
    return notes


def _copy_member(archive, info, target, budget):
    """Stream one member to ``target``, counting real bytes; return how many were written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(1 << 20):
            written += len(chunk)
            if written > min(budget, MAX_MEMBER_BYTES):
                raise UsageError(f"{info.filename!r} expands beyond its declared size or the export's "
                                 f"size limit ({MAX_TOTAL_BYTES >> 30} GB): not a plain export")
            out.write(chunk)
    return written


def _entries(folder):
    return [p for p in sorted(folder.iterdir()) if p.name not in SKIP_NAMES and not p.name.startswith(".")]


def find_root(folder):
    """The folder holding the metadata (or the submission folders): ``folder`` or its only subfolder."""
    folder = Path(folder)
    if (folder / METADATA).is_file() or any(FOLDER_ID.match(p.name) for p in _entries(folder)):
        return folder
    dirs = [p for p in _entries(folder) if p.is_dir() and not p.is_symlink()]
    if len(dirs) == 1 and not any(p.is_file() for p in _entries(folder)):
        return find_root(dirs[0])
    return folder


class _MetadataLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads Ruby's own tags (``!ruby/object:BigDecimal``,
    ``!ruby/hash:...``) as the plain value under them instead of refusing the whole file."""


def _plain_value(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_MetadataLoader.add_multi_constructor("!", _plain_value)


def _strip_colons(value):
    """Ruby symbols dump as ``:name``; accept both spellings by dropping the colon."""
    if isinstance(value, dict):
        return {str(k).lstrip(":"): _strip_colons(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_colons(v) for v in value]
    return value


def read_metadata(path):
    """``({folder name: entry}, problem)``; an absent or unreadable file gives ``({}, message)``."""
    if not path.is_file():
        return {}, f"no {METADATA} in the export: submissions are graded without names"
    try:
        data = yaml.load(path.read_text(encoding="utf-8", errors="replace"), Loader=_MetadataLoader)
    except yaml.YAMLError as error:
        return {}, f"could not read {METADATA} ({str(error).splitlines()[0]}): graded without names"
    if not isinstance(data, dict):
        return {}, f"{METADATA} is not a mapping of submission folders: graded without names"
    return {str(k).lstrip(":"): v for k, v in _strip_colons(data).items() if isinstance(v, dict)}, None


def _submitters(entry):
    people = entry.get("submitters") or []
    people = [p for p in people if isinstance(p, dict)] if isinstance(people, list) else []
    return ([str(p.get("sid") or "") for p in people], [str(p.get("name") or "") for p in people],
            [str(p.get("email") or "") for p in people])


def submission_id(folder_name):
    """``submission_123`` → ``123``; any other folder name, made safe to use as a file name."""
    match = FOLDER_ID.match(folder_name)
    return match.group(1) if match else SAFE_ID.sub("_", folder_name)


def submissions(root, metadata):
    """One :class:`Submission` per real folder under ``root`` (links are never followed)."""
    found, taken = [], set()
    for folder in _entries(root):
        if not folder.is_dir() or folder.is_symlink():
            continue
        entry = metadata.get(folder.name)
        sids, names, emails = _submitters(entry) if entry else ([], [], [])
        ident = submission_id(folder.name)
        while ident in taken:  # two odd folder names that became the same safe name
            ident += "_"
        taken.add(ident)
        found.append(Submission(ident, folder, sids, names, emails, entry is not None))
    return sorted(found, key=lambda s: (len(s.id), s.id) if s.id.isdigit() else (1 << 30, s.id))
