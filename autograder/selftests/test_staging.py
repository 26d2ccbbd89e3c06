"""Staging finds the six graded files anywhere in an upload and copies nothing else."""
import os
import subprocess
import sys
import zipfile
import zlib

import pytest

from autograder.harness import staging
from autograder.selftests.conftest import ROOT


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


def test_a_backup_copy_never_replaces_the_submission_folders(tmp_path):
    """A zip with submission/*.py and an older old/made.py (as deep, and first by name): the copy
    that sits with the other graded files is graded, and the note names the one ignored."""
    upload = tmp_path / "dup.zip"
    with zipfile.ZipFile(upload, "w") as z:
        z.writestr(zipfile.ZipInfo("old/made.py", date_time=(2026, 11, 1, 0, 0, 0)), "# old made\n")
        for name, text in ALL.items():
            z.writestr(zipfile.ZipInfo(f"submission/{name}", date_time=(2026, 10, 1, 0, 0, 0)), text)
    staged = staging.stage(upload, tmp_path / "st")
    assert (tmp_path / "st" / "submission" / "made.py").read_text() == ALL["made.py"]
    note = next(n for n in staged.notes if "copies of made.py" in n)
    assert "graded dup.zip/submission/made.py" in note and "ignored dup.zip/old/made.py" in note, note


def test_between_lone_copies_the_newest_is_graded(tmp_path):
    upload = make_upload(tmp_path / "up", {**{k: v for k, v in ALL.items() if k != "made.py"},
                                           "a/made.py": "# older\n", "b/made.py": "# newer\n"})
    os.utime(upload / "a" / "made.py", (2_000_000_000, 2_000_000_000))
    os.utime(upload / "b" / "made.py", (1_000_000_000, 1_000_000_000))
    staged = staging.stage(upload, tmp_path / "st")
    assert (tmp_path / "st" / "submission" / "made.py").read_text() == "# older\n", "the newest copy (a/) is graded"
    assert any("graded a/made.py" in n and "ignored b/made.py" in n for n in staged.notes), staged.notes


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


# --- defensive reading (issue 11) -------------------------------------------------------------

from autograder.corpus import adversarial  # noqa: E402
from autograder.corpus.adversarial import _member as member, raw_zip  # noqa: E402


def zip_upload(tmp_path, members, name="upload.zip"):
    path = tmp_path / name
    path.write_bytes(raw_zip(members))
    return path


def good_members(prefix="ps1/", skip=()):
    return [member(prefix + name, text.encode()) for name, text in ALL.items() if name not in skip]


def stage_ok(upload, dest):
    staged = staging.stage(upload, dest)
    summary = staged.summary()
    assert not any(c in summary for c in "\x1b\r\x07\x9b\u202e"), summary
    return staged, summary


@pytest.mark.parametrize("attack", adversarial.ZIP_ATTACKS, ids=lambda a: a.name)
def test_zip_attacks_cost_only_their_files(tmp_path, attack):
    upload = adversarial.write_zip_attack(attack, tmp_path / "up")
    staged, summary = stage_ok(upload, tmp_path / "st")
    sections = dict(zip("123456", staging.GRADED))
    lost = {sections[str(s)] for s, want in attack.expect.items() if want == "zero"}
    assert set(staged.missing) == lost, summary
    for text in attack.mentions:
        assert text in summary, f"{text!r} not in the summary:\n{summary}"


def test_bad_crc_names_the_file_and_the_rest_is_graded(tmp_path):
    made = ALL["made.py"].encode()
    members = good_members(skip=("made.py",)) + [member("ps1/made.py", made, crc=1)]
    staged, summary = stage_ok(zip_upload(tmp_path, members), tmp_path / "st")
    assert staged.missing == ["made.py"] and len(staged.found) == 5
    assert "Damaged in the zip (its CRC-32 check failed); not graded: upload.zip/ps1/made.py" in summary


def test_damaged_copy_falls_back_to_a_good_one(tmp_path):
    # The copy beside the other graded files comes first, but it is damaged: the other one is graded.
    members = good_members(skip=("made.py",)) + [member("ps1/made.py", b"# broken\n", crc=7),
                                                 member("backup/made.py", ALL["made.py"].encode())]
    staged, summary = stage_ok(zip_upload(tmp_path, members), tmp_path / "st")
    assert staged.found["made.py"] == "upload.zip/backup/made.py" and "CRC-32" in summary, summary


@pytest.mark.parametrize("kind", ["encrypted", "method", "truncated", "garbage", "size_lie"])
def test_unusable_members(tmp_path, kind):
    made = ALL["made.py"].encode()
    bad = {"encrypted": member("ps1/made.py", made, flags=0x1),
           "method": member("ps1/made.py", made, method=14),  # LZMA: not supported
           "truncated": member("ps1/made.py", made * 50, raw=zlib.compress(made * 50)[2:12]),
           "garbage": member("ps1/made.py", made, raw=b"\xff" * 40),
           "size_lie": member("ps1/made.py", made, declared_size=len(made) + 1)}[kind]
    staged, summary = stage_ok(zip_upload(tmp_path, good_members(skip=("made.py",)) + [bad]), tmp_path / "st")
    assert staged.missing == ["made.py"] and len(staged.found) == 5, summary
    assert "upload.zip/ps1/made.py" in summary


def test_stored_and_bzip2_members_are_read(tmp_path):
    import bz2

    made, sampling = ALL["made.py"].encode(), ALL["sampling.py"].encode()
    members = good_members(skip=("made.py", "sampling.py")) + [
        member("ps1/made.py", made, method=0),
        member("ps1/sampling.py", sampling, method=12, raw=bz2.compress(sampling))]
    staged, _ = stage_ok(zip_upload(tmp_path, members), tmp_path / "st")
    assert not staged.missing
    assert (tmp_path / "st" / "submission" / "sampling.py").read_bytes() == sampling


def test_size_bomb_stops_at_a_real_limit_with_little_memory(tmp_path):
    """The member declares 200 bytes and inflates to 1.5 GB: staging reads ~1 MB of it and the
    staging process stays small (measured in a fresh interpreter)."""
    upload = adversarial.write_zip_attack(next(a for a in adversarial.ZIP_ATTACKS if a.name == "zip_size_bomb"),
                                          tmp_path / "up")
    assert upload.stat().st_size < 2_000_000
    # VmHWM: this process's own peak RSS (ru_maxrss would include the forking pytest's).
    code = ("import re, sys, time\n"
            "from autograder.harness import staging\n"
            "t = time.time(); s = staging.stage(sys.argv[1], sys.argv[2])\n"
            "peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "print(peak, time.time() - t, s.missing)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(upload), str(tmp_path / "st")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    peak_kb, seconds, missing = proc.stdout.split(maxsplit=2)
    assert "made.py" in missing
    assert int(peak_kb) < 100 * 1024, f"staging peaked at {int(peak_kb) // 1024} MB"
    assert float(seconds) < 5


def test_nested_zips_are_opened_one_level_deep(tmp_path):
    level2 = raw_zip([member("training.py", ALL["training.py"].encode())])
    level1 = raw_zip(good_members(skip=("training.py",)) + [member("deeper.zip", level2)])
    staged, summary = stage_ok(zip_upload(tmp_path, [member("a/inner.zip", level1)]), tmp_path / "st")
    assert staged.missing == ["training.py"] and len(staged.found) == 5
    assert "A zip inside a zip inside the upload; not opened: upload.zip/a/inner.zip/deeper.zip" in summary


def test_nested_zip_bomb_is_refused(tmp_path):
    bomb = member("inner.zip", b"", raw=adversarial.deflate_bomb(200_000_000), declared_size=100)
    staged, summary = stage_ok(zip_upload(tmp_path, good_members() + [bomb]), tmp_path / "st")
    assert not staged.missing and "Larger than 20000 kB once unpacked; not opened: upload.zip/inner.zip" in summary


def test_odd_names_are_not_used_and_shown_escaped(tmp_path):
    skeleton = b"raise NotImplementedError\n"
    odd = ["/abs/made.py", "../made.py", "ps1/\x1b[31mmade.py", "ps1/made.py\nTotal: 40.0 / 40.0",
           "C:/Users/me/made.py", "ps1/" + "m" * 300 + "/made.py", "ps1/\u202emade.py"]
    members = [member(name, skeleton) for name in odd] + good_members("z/")
    staged, summary = stage_ok(zip_upload(tmp_path, members), tmp_path / "st")
    assert staged.found["made.py"] == "upload.zip/z/made.py"
    assert (tmp_path / "st" / "submission" / "made.py").read_text() == ALL["made.py"]
    assert "Not used, its name holds control characters: upload.zip/ps1/\\x1b[31mmade.py" in summary
    assert "\\u202e" in summary
    assert not any(line.startswith("Total:") for line in summary.splitlines())
    for reason in ("absolute path", "'..'", "control characters", "too long"):
        assert reason in summary


def test_zip_link_members_are_not_followed(tmp_path):
    members = good_members(skip=("made.py",)) + [member("ps1/made.py", b"/etc/passwd", mode=0o120777)]
    staged, summary = stage_ok(zip_upload(tmp_path, members), tmp_path / "st")
    assert staged.missing == ["made.py"] and "A link; not followed: upload.zip/ps1/made.py" in summary


def test_zip_with_too_many_members_is_not_opened(tmp_path):
    members = good_members() + [member(f"junk/{i}", b"") for i in range(staging.MAX_ZIP_MEMBERS)]
    staged, summary = stage_ok(zip_upload(tmp_path, members), tmp_path / "st")
    assert len(staged.missing) == 6 and "not opened" in summary


def test_not_a_zip_and_a_broken_zip(tmp_path):
    broken = raw_zip(good_members())[:-30]  # the table of contents cut short
    upload = make_upload(tmp_path / "up", ALL)
    (upload / "broken.zip").write_bytes(broken)
    (upload / "fake.zip").write_text("not a zip")
    staged, summary = stage_ok(upload, tmp_path / "st")
    assert not staged.missing and "Not opened: not a readable zip (BadZipFile): broken.zip" in summary


def test_deep_folder_upload_is_walked_without_recursion(tmp_path):
    upload = make_upload(tmp_path / "up", {k: v for k, v in ALL.items() if k != "made.py"})
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(upload)
        for _ in range(1200):  # past the recursion limit
            os.mkdir("d")
            os.chdir("d")
        with open("made.py", "w") as f:
            f.write(ALL["made.py"])
    finally:
        os.fchdir(here)
        os.close(here)
    staged, summary = stage_ok(upload, tmp_path / "st")
    assert staged.missing == ["made.py"] and "folders deep" in summary
    from autograder.harness import cleanup
    assert cleanup.remove_tree(upload) == 0 and not upload.exists()


def test_odd_folder_entries(tmp_path):
    upload = make_upload(tmp_path / "up", ALL)
    os.mkfifo(upload / "pipe.py")
    (upload / "ma\x1b[2Jde.py").write_text("x")
    (upload / "sub").mkdir()
    (upload / "sub" / "sampling.py").symlink_to(upload / "sampling.py")
    staged, summary = stage_ok(upload, tmp_path / "st")
    assert not staged.missing
    assert "Not used, its name holds control characters: ma\\x1b[2Jde.py" in summary


def test_summary_is_one_line_per_item(tmp_path):
    upload = make_upload(tmp_path / "up", {**ALL, "a\nTotal: 40.0 / 40.0": "x", "b\rc": "x"})
    staged, summary = stage_ok(upload, tmp_path / "st")
    assert len(summary.splitlines()) == 2 + 2  # graded, ignored, one note per odd name
    assert not any(line.startswith("Total:") for line in summary.splitlines())
