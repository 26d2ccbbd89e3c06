"""Build ``dist/autograder.zip`` (for Gradescope) and ``dist/handout.zip`` (for students).

Neither contains the reference solution; the handout contains no hidden test or fixture.
"""
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = ("__pycache__", ".pyc", ".hypothesis", ".pytest_cache")

CONTENTS = {
    "autograder": [
        ("setup.sh", "setup.sh"), ("run_autograder", "run_autograder"),
        ("requirements-grader.txt", "requirements-grader.txt"), ("pytest.ini", "pytest.ini"),
        ("autograder/__init__.py", "autograder/__init__.py"), ("autograder/__main__.py", "autograder/__main__.py"),
        ("autograder/harness", "autograder/harness"), ("autograder/worker", "autograder/worker"),
        ("autograder/oracles.py", "autograder/oracles.py"), ("autograder/examples.py", "autograder/examples.py"),
        ("autograder/secret.key", "autograder/secret.key"), ("autograder/suites", "autograder/suites"),
        ("tests", "tests"),
    ],
    "handout": [
        ("submission", "submission"), ("tests", "tests"), ("requirements.txt", "requirements.txt"),
        ("pytest.ini", "pytest.ini"), ("autograder/handout/Makefile", "Makefile"),
        ("autograder/handout/README.md", "README.md"),
    ],
}
EXECUTABLE = {"setup.sh", "run_autograder"}


def _files(src):
    path = ROOT / src
    if path.is_file():
        yield path
        return
    for file in sorted(path.rglob("*")):
        if file.is_file() and not any(part in str(file) for part in SKIP):
            yield file


def build(what, out=None):
    if what == "autograder":
        from .harness import secret

        secret.load()  # created once, then the same in every build (see harness/secret.py)
    out = Path(out) if out else ROOT / "dist" / f"{what}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for src, dest in CONTENTS[what]:
            for file in _files(src):
                arcname = dest + str(file)[len(str(ROOT / src)):]
                info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))  # reproducible zips
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o755 if Path(arcname).name in EXECUTABLE else 0o644) << 16
                archive.writestr(info, file.read_bytes())
    return out
