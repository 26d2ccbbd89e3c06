"""dist/autograder.zip and dist/handout.zip: self-sufficient, and neither leaks the solution or
(for the handout) hidden tests."""
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import package
from autograder.selftests.conftest import SOLUTION, copy_graded

VENV_PYTHON = Path(sys.executable)


def solution_lines():
    """Distinctive lines from inside the solution blocks (that the skeleton does not share)."""
    from autograder import skeleton

    provided = {line.strip() for text in skeleton.render().values() for line in text.splitlines()}
    lines = set()
    for path in SOLUTION.glob("*.py"):
        inside = False
        for line in path.read_text().splitlines():
            if "# BEGIN SOLUTION" in line:
                inside = True
            elif "# END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) > 25 and line.strip() not in provided:
                lines.add(line.strip())
    return lines


@pytest.fixture(scope="module", params=["autograder", "handout"])
def built(request, tmp_path_factory):
    out = package.build(request.param, tmp_path_factory.mktemp("dist") / f"{request.param}.zip")
    folder = tmp_path_factory.mktemp(request.param)
    with zipfile.ZipFile(out) as archive:
        archive.extractall(folder)
        for info in archive.infolist():  # keep the executable bits
            os.chmod(folder / info.filename, info.external_attr >> 16)
    return request.param, folder


def test_no_solution_source(built):
    _, folder = built
    names = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    assert not [n for n in names if "solution" in n or "corpus" in n or "selftests" in n]
    secret = solution_lines()
    assert len(secret) > 40
    for path in folder.rglob("*.py"):
        leaked = sorted(secret & {line.strip() for line in path.read_text().splitlines()})
        assert not leaked, f"{path.relative_to(folder)} contains solution code: {leaked[:3]}"


def test_handout_has_no_hidden_tests(built):
    what, folder = built
    if what != "handout":
        pytest.skip("the autograder zip carries the hidden tests by design")
    names = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    assert not [n for n in names if "hidden" in n or "suites" in n or n.startswith("autograder")]
    assert {"Makefile", "README.md", "requirements.txt", "submission/made.py", "tests/test_made.py"} <= set(names)


def test_autograder_zip_has_gradescope_entry_points(built):
    what, folder = built
    if what != "autograder":
        pytest.skip("autograder zip only")
    for name in ("setup.sh", "run_autograder"):
        assert os.access(folder / name, os.X_OK), f"{name} must be executable at the zip's root"
    assert re.search(r"python -m autograder grade /autograder/submission", (folder / "run_autograder").read_text())


def test_autograder_zip_grades_the_solution_on_its_own(built, tmp_path):
    what, folder = built
    if what != "autograder":
        pytest.skip("autograder zip only")
    upload = copy_graded(SOLUTION, tmp_path / "upload")
    proc = subprocess.run([str(VENV_PYTHON), "-m", "autograder", "grade", str(upload), "--results",
                           str(tmp_path / "results.json")], cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Total: 40.0 / 40.0" in proc.stdout, proc.stdout[-3000:]


def test_handout_make_check_runs_public_tests(built):
    what, folder = built
    if what != "handout":
        pytest.skip("handout only")
    venv = VENV_PYTHON.parent.parent
    (folder / ".venv").symlink_to(venv)
    (venv / ".installed").touch(exist_ok=True)
    proc = subprocess.run(["make", "check", f"VENV={folder / '.venv'}"], cwd=folder, capture_output=True,
                          text=True, timeout=600)
    assert "PS1 points" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Total: 0.0/16.5" in proc.stdout
    assert proc.returncode != 0  # the skeleton fails the public tests
