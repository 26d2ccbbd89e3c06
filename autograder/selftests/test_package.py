"""dist/autograder.zip and dist/handout.zip: self-sufficient, and neither leaks the solution or
(for the handout) hidden tests."""
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import package
from autograder.harness import results
from autograder.selftests.conftest import ROOT, SOLUTION, copy_graded

VENV_PYTHON = Path(sys.executable)


@pytest.fixture(scope="module", params=["autograder", "handout"])
def built(request, tmp_path_factory):
    out = package.build(request.param, tmp_path_factory.mktemp("dist") / f"{request.param}.zip")
    folder = tmp_path_factory.mktemp(request.param)
    with zipfile.ZipFile(out) as archive:
        archive.extractall(folder)
        for info in archive.infolist():  # keep the executable bits
            os.chmod(folder / info.filename, info.external_attr >> 16)
    if request.param == "handout":
        assert {name.split("/")[0] for name in archive.namelist()} == {package.HANDOUT_FOLDER}, \
            "the handout must unzip into one folder"
        folder = folder / package.HANDOUT_FOLDER
    return request.param, folder


def test_no_solution_source(built):
    _, folder = built
    names = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    assert not [n for n in names if "solution" in n or "corpus" in n or "selftests" in n]
    secret = package.solution_lines()
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
    pins = {line.split("==")[0].lower() for line in (folder / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    assert not pins & package.STAFF_ONLY and {"torch", "pytest", "gradescope-utils"} <= pins, pins


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


@pytest.fixture
def clone(tmp_path):
    """A fresh clone of this checkout (builds pack what git tracks there), with the staff secret."""
    dest = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True, capture_output=True, timeout=120)
    secret = ROOT / package.SECRET
    if secret.exists():
        (dest / package.SECRET).write_bytes(secret.read_bytes())
    return dest


def build_in(clone, what, tmp_path):
    return subprocess.run([str(VENV_PYTHON), "-m", "autograder", "build", what, "--out", str(tmp_path / f"{what}.zip")],
                          cwd=clone, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("what", ["handout", "autograder"])
@pytest.mark.parametrize("case", ["pasted solution file", "stray note", "stray suite file", "uncommitted edit"])
def test_a_build_refuses_what_must_not_ship(case, what, clone, tmp_path):
    """A solution file pasted into submission/ (as a TA testing the handout might), an untracked
    note in tests/, an untracked file among the suites or an edit not committed: the build fails
    with one line naming the file and writes nothing."""
    path = {"pasted solution file": "submission/made.py", "stray note": "tests/my_notes.txt",
            "stray suite file": "autograder/suites/notes.txt", "uncommitted edit": "tests/support/plugin.py"}[case]
    if case == "stray suite file" and what == "handout":
        path = "submission/notes.txt"
    if case == "pasted solution file":
        (clone / path).write_text((SOLUTION / "made.py").read_text())
    elif case == "uncommitted edit":  # shipped in both zips; no sync check looks at it
        (clone / path).write_text((clone / path).read_text() + "\n# a local experiment\n")
    else:
        (clone / path).write_text("my notes\n")
    proc = build_in(clone, what, tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0], proc.stderr
    assert not (tmp_path / f"{what}.zip").exists()


def test_a_build_lists_what_it_packed(clone, tmp_path):
    proc = build_in(clone, "handout", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with zipfile.ZipFile(tmp_path / "handout.zip") as archive:
        names = archive.namelist()
    listed = [line.strip() for line in proc.stdout.splitlines()[1:]]
    assert listed == names and f"({len(names)} files)" in proc.stdout.splitlines()[0]


def test_a_weight_edit_needs_only_make_manifest(clone, tmp_path):
    """Raise 5.7's weight from 0.5 to 1.5: grading flags the stale list of tests until `python -m
    autograder manifest` (what `make manifest` runs) is run, then gives the solution 41/41 with
    5.7 worth 1.5 and a build that ships the new list."""
    suite = clone / "autograder" / "suites" / "test_sampling_hidden.py"
    text = suite.read_text()
    assert '@weight(0.5)\n@number("5.7")' in text
    suite.write_text(text.replace('@weight(0.5)\n@number("5.7")', '@weight(1.5)\n@number("5.7")'))
    upload = copy_graded(SOLUTION, tmp_path / "upload")

    def grade():
        proc = subprocess.run([str(VENV_PYTHON), "-m", "autograder", "grade", str(upload), "--results",
                               str(tmp_path / "results.json"), "--quiet"], cwd=clone, capture_output=True, text=True,
                              timeout=600)
        return proc, json.loads((tmp_path / "results.json").read_text())

    proc, stale = grade()
    assert proc.returncode != 0 and "make manifest" in proc.stderr.splitlines()[-1], proc.stderr[-2000:]
    assert {t["output"] for t in stale["tests"]} == {results.INTERNAL_ERROR + "."}, "tests ran on a stale manifest"
    assert build_in(clone, "autograder", tmp_path).returncode == 1
    manifest = subprocess.run([str(VENV_PYTHON), "-m", "autograder", "manifest"], cwd=clone, capture_output=True,
                              text=True, timeout=300)
    assert manifest.returncode == 0 and "41 points" in manifest.stdout, manifest.stdout + manifest.stderr
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=TA", "-c", "user.email=ta@example.org", "commit", "-qam",
                    "5.7 is worth 1.5"], check=True, capture_output=True, timeout=60)
    proc, fresh = grade()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert fresh["score"] == 41.0 and sum(t["max_score"] for t in fresh["tests"]) == 41.0
    assert next(t for t in fresh["tests"] if t["number"] == "5.7")["max_score"] == 1.5
    assert build_in(clone, "autograder", tmp_path).returncode == 0
