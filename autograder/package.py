"""Build ``dist/autograder.zip`` (for Gradescope) and ``dist/handout.zip`` (for students).

Neither contains the reference solution; the handout contains no hidden test or fixture.

What goes in is an explicit list of folders and files, and of those only what git tracks (plus
the staff-only secret, which git ignores on purpose): a file pasted into ``submission/`` or a
note left in ``tests/`` never ships. A build refuses, with one line naming the file, when a
folder it packs holds a file git does not know, when the skeleton or the fixtures are out of
sync with the solution, when the list of tests and points is out of date (``make manifest``), or
when a file would carry a solution block or a line of solution code.
The handout unzips into one folder, ``ps1/``.
"""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "autograder/secret.key"
HANDOUT_FOLDER = "ps1"

CONTENTS = {
    "autograder": [
        ("setup.sh", "setup.sh"), ("run_autograder", "run_autograder"),
        ("requirements-grader.txt", "requirements-grader.txt"), ("pytest.ini", "pytest.ini"),
        ("autograder/__init__.py", "autograder/__init__.py"), ("autograder/__main__.py", "autograder/__main__.py"),
        ("autograder/harness", "autograder/harness"), ("autograder/worker", "autograder/worker"),
        ("autograder/oracles.py", "autograder/oracles.py"), ("autograder/examples.py", "autograder/examples.py"),
        ("autograder/trained.py", "autograder/trained.py"), ("autograder/data", "autograder/data"),
        (SECRET, SECRET), ("autograder/suites", "autograder/suites"),
        ("tests", "tests"),
    ],
    "handout": [
        ("submission", "submission"), ("tests", "tests"), ("requirements.txt", "requirements.txt"),
        ("pytest.ini", "pytest.ini"), ("autograder/handout/Makefile", "Makefile"),
        ("autograder/handout/README.md", "README.md"),
    ],
}
EXECUTABLE = {"setup.sh", "run_autograder"}
# Pinned in requirements.txt for staff only (results' schema, Gradescope's export metadata, parallel
# self-tests): the handout's copy leaves them out, with the comment lines above each.
STAFF_ONLY = {"jsonschema", "pyyaml", "pytest-xdist"}


STUDENTS_HEADER = ("# What the public tests and the trainer need (Python 3.10 or 3.11); `make check` installs it,\n"
                   "# with the torch build that fits your machine (README.md, \"Set-up\").\n")


def students_requirements(text):
    """requirements.txt without the staff-only pins (and the comments that introduce them), under
    a header for students (the staff's first comment speaks of Gradescope and developers)."""
    lines = text.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)  # the staff's header comment
    text = STUDENTS_HEADER + "\n".join(lines)
    kept, comments = [], []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            comments.append(line)
            continue
        if line.split("==")[0].strip().lower() not in STAFF_ONLY:
            kept += comments + [line]
        comments = []
    return "\n".join(kept) + "\n"


TRANSFORMS = {("handout", "requirements.txt"): students_requirements}


class BuildError(Exception):
    """Why a build was refused, in one line naming the file."""


def _git(*args):
    try:
        proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"cannot run git ({exc}); builds pack only what git tracks") from None
    if proc.returncode != 0:
        raise BuildError(f"git {' '.join(args[:2])} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return [line for line in proc.stdout.split("\0") if line]


def manifest(what):
    """``[(source path, name in the zip)]`` of a build: the tracked files of its contents."""
    sources = [src for src, _ in CONTENTS[what] if src != SECRET]
    stray = _git("ls-files", "-z", "--others", "--exclude-standard", "--", *sources)
    if stray:
        raise BuildError(f"{stray[0]} is not tracked by git: commit it, delete it or add it to .gitignore "
                         f"before building the {what} zip" + (f" ({len(stray) - 1} more)" if len(stray) > 1 else ""))
    tracked = set(_git("ls-files", "-z", "--", *sources))
    files = []
    for src, dest in CONTENTS[what]:
        if src == SECRET:
            files.append((SECRET, dest))
            continue
        for path in sorted(p for p in tracked if p == src or p.startswith(src + "/")):
            if (ROOT / path).is_file():  # a tracked file deleted in the working tree is not packed
                files.append((path, dest + path[len(src):]))
    if what == "handout":
        files = [(src, f"{HANDOUT_FOLDER}/{dest}") for src, dest in files]
    return files


def check_sources(files):
    """Refuse files that are out of sync with the solution or carry its code."""
    from . import fixtures, skeleton

    stale = skeleton.differences()
    if stale:
        raise BuildError(f"submission/{stale[0]} differs from the skeleton rendered from the solution: run "
                         "`make skeleton` (a pasted solution file, or a stale skeleton)")
    if any(src.startswith("tests/fixtures/") for src, _ in files):
        changed = fixtures.differences()
        if changed:
            raise BuildError(f"{changed[0]} is out of sync with the solution: run `make fixtures`")
    if any(src == "autograder/harness/tests_manifest.json" for src, _ in files):
        # Collecting runs pytest: in a process of its own, not inside a caller that may be pytest.
        check = subprocess.run([sys.executable, "-m", "autograder", "manifest", "--check"], cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
        if check.returncode != 0:
            raise BuildError("autograder/harness/tests_manifest.json does not match the suites' weights: run "
                             "`make manifest`")
    secret_lines = solution_lines()
    for src, _ in files:
        if not src.endswith(".py"):
            continue
        text = (ROOT / src).read_text(errors="replace")
        if "BEGIN SOLUTION" in text:
            raise BuildError(f"{src} carries a BEGIN SOLUTION block")
        leaked = secret_lines & {line.strip() for line in text.splitlines()}
        if leaked:
            raise BuildError(f"{src} carries a line of the solution's code: {sorted(leaked)[0]!r}")


def solution_lines():
    """Distinctive lines from inside the solution blocks (that the skeleton does not share)."""
    from . import skeleton

    provided = {line.strip() for text in skeleton.render().values() for line in text.splitlines()}
    lines = set()
    for path in (ROOT / "autograder" / "solution").glob("*.py"):
        inside = False
        for line in path.read_text().splitlines():
            if "# BEGIN SOLUTION" in line:
                inside = True
            elif "# END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) > 25 and line.strip() not in provided:
                lines.add(line.strip())
    return lines


def build(what, out=None, listing=None):
    """Write the zip and return its path; ``listing`` (a list) gets the names packed. Raises
    :class:`BuildError` (nothing is written then)."""
    if what == "autograder":
        from .harness import secret

        secret.load()  # created once, then the same in every build (see harness/secret.py)
    files = manifest(what)
    check_sources(files)
    edited = _git("diff", "--name-only", "-z", "HEAD", "--", *(src for src, _ in files if src != SECRET))
    if edited:  # a zip is what git has: a weight edited in tests/ must not ship unseen
        names = ", ".join(edited[:5]) + (f" and {len(edited) - 5} more" if len(edited) > 5 else "")
        raise BuildError(f"{names} {'has' if len(edited) == 1 else 'have'} changes that are not committed: commit them "
                         f"(or `git checkout` the file) before building the {what} zip")
    out = Path(out) if out else ROOT / "dist" / f"{what}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for src, arcname in files:
            info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))  # reproducible zips
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if Path(arcname).name in EXECUTABLE else 0o644) << 16
            data = (ROOT / src).read_bytes()
            if (what, src) in TRANSFORMS:
                data = TRANSFORMS[what, src](data.decode()).encode()
            archive.writestr(info, data)
    if listing is not None:
        listing.extend(arcname for _, arcname in files)
    return out
