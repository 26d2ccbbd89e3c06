"""Staging finds the six graded files anywhere in an upload and copies nothing else."""
import os
import zipfile

import pytest

from autograder.harness import staging


def make_upload(root, files):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


ALL = {name: f"# {name}\n" for name in staging.GRADED}


@pytest.mark.parametrize("layout", ["flat", "folder", "deep"])
def test_finds_files_in_any_folder(tmp_path, layout):
    prefix = {"flat": "", "folder": "submission/", "deep": "a/b/c/"}[layout]
    upload = make_upload(tmp_path / "up", {prefix + k: v for k, v in ALL.items()})
    staged = staging.stage(upload, tmp_path / "st")
    assert sorted(staged.found) == sorted(staging.GRADED) and not staged.missing
    assert sorted(p.name for p in (tmp_path / "st" / "submission").iterdir()) == sorted(
        [*staging.GRADED, "__init__.py"])


def test_zip_upload_and_nested_zip(tmp_path):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in ALL.items():
            zf.writestr(f"ps1/{name}", text)
        zf.writestr("ps1/conftest.py", "boom")
        zf.writestr("__MACOSX/ps1/._made.py", "junk")
    staged = staging.stage(archive, tmp_path / "st")
    assert not staged.missing and "upload.zip/ps1/conftest.py" in staged.ignored
    nested = tmp_path / "up"
    nested.mkdir()
    os.replace(archive, nested / "inner.zip")
    staged = staging.stage(nested, tmp_path / "st2")
    assert not staged.missing


def test_only_graded_files_are_copied_and_others_listed(tmp_path):
    upload = make_upload(tmp_path / "up", {**ALL, "conftest.py": "x", "torch.py": "x", "notes/readme.md": "x"})
    staged = staging.stage(upload, tmp_path / "st")
    assert set(staged.ignored) == {"conftest.py", "torch.py", os.path.join("notes", "readme.md")}
    assert not (tmp_path / "st" / "submission" / "torch.py").exists()
    assert "Ignored" in staged.summary() and "torch.py" in staged.summary()


def test_missing_and_duplicate_files(tmp_path):
    files = {k: v for k, v in ALL.items() if k != "made.py"}
    files["old/probability.py"] = "# old copy\n"
    upload = make_upload(tmp_path / "up", files)
    staged = staging.stage(upload, tmp_path / "st")
    assert staged.missing == ["made.py"]
    assert (tmp_path / "st" / "submission" / "probability.py").read_text() == ALL["probability.py"]
    assert any("2 copies of probability.py" in note for note in staged.notes)


def test_symlinks_are_never_followed(tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET = 1\n")
    upload = make_upload(tmp_path / "up", {k: v for k, v in ALL.items() if k != "made.py"})
    (upload / "made.py").symlink_to(secret)
    staged = staging.stage(upload, tmp_path / "st")
    assert staged.missing == ["made.py"]
    assert not (tmp_path / "st" / "submission" / "made.py").exists()


def test_zip_bomb_is_refused(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("made.py", "0" * (staging.MAX_ZIP_BYTES + 1))
    staged = staging.stage(archive, tmp_path / "st")
    assert "made.py" in staged.missing
