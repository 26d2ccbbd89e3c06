"""``python -m autograder regrade``: a whole Gradescope export in one command.

A fake export (the skeleton, the solution, three buggy and two hostile uploads -- a fork bomb
whose sampling tests time out, and a process that tries to forge results.json -- in
Gradescope's layout with its metadata, zipped and unzipped) is regraded with ``--jobs 2``.
The same output folder is then reused at once: the unzipped export is regraded with nothing
left to grade (resume), and a run with one record deleted (an interrupted run) grades exactly
that submission again while comparing against an "old autograder": a copy of scores.csv and
tests.csv in which one test was more lenient (everyone had its points) and another was worth
half as much. So ``--compare`` runs end to end on real rows without grading everything a
second time, and the expected changes are known exactly. Last, every row is checked against
``grade`` run on that upload alone (one grade call per upload, one after another).

The expensive steps share one test function so that pytest-xdist never runs them twice; the
export reader, the runner and the version hash are tested on their own, cheaply.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections import Counter

import pytest

from autograder.harness import service
from autograder.selftests.conftest import ROOT, run_grader
from autograder.staff import UsageError, export, fake_export, version

NAMES_AND_EMAILS = ("Student 70", "Partner 70", "@example.edu")
COMPARED = ("number", "status", "score", "max_score")


def regrade(*args, timeout=900):
    proc = subprocess.run([sys.executable, "-m", "autograder", "regrade", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return proc


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as src:
        return list(csv.DictReader(src))


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def verdicts(results):
    return [{k: t[k] for k in COMPARED} for t in results["tests"]]


# --- the export reader, on its own -----------------------------------------------------------------

@pytest.fixture
def small_export(tmp_path):
    upload = {name: "x = 1\n" for name in ("made.py", "notes/readme.txt")}
    top, ids = fake_export.write_export(tmp_path / "src", [("a", upload), ("b", upload), ("c", upload)])
    return top, ids


def test_zip_with_or_without_top_folder_reads_the_same(small_export, tmp_path):
    top, ids = small_export
    from_folder = export.load(top, tmp_path / "o0")
    with_top = export.load(fake_export.zip_export(top, tmp_path / "a.zip"), tmp_path / "o1")
    without_top = export.load(fake_export.zip_export(top, tmp_path / "b.zip", with_top=False), tmp_path / "o2")
    for loaded in (from_folder, with_top, without_top):
        assert [s.id for s in loaded.submissions] == sorted(ids.values())
        assert loaded.submissions[0].sids == ["97001", "87001"]           # a group submission
        assert loaded.submissions[0].names == ["Student 7001", "Partner 7001"]
        assert loaded.submissions[-1].names == []                          # not in the metadata: still graded
        assert any("no entry in submission_metadata.yml" in note for note in loaded.notes)
    assert with_top.root == tmp_path / "o1" / "export" / fake_export.TOP
    assert without_top.root == tmp_path / "o2" / "export"


def test_metadata_keys_with_or_without_colons_and_ruby_tags(tmp_path):
    path = tmp_path / export.METADATA
    path.write_text("submission_1:\n  :submitters:\n  - :name: Ada L\n    :sid: 12\n"
                    "  :score: !ruby/object:BigDecimal 18:0.4e2\n"
                    "submission_2:\n  submitters:\n  - name: Bo M\n    sid: '007'\n    email: bo@x.edu\n")
    meta, problem = export.read_metadata(path)
    assert problem is None
    assert export._submitters(meta["submission_1"]) == (["12"], ["Ada L"], [""])
    assert export._submitters(meta["submission_2"]) == (["007"], ["Bo M"], ["bo@x.edu"])
    path.write_text("!!python/object/apply:os.system ['echo owned']\n")   # never executed: safe loader
    assert export.read_metadata(path)[0] == {}
    path.write_text("submission_1: [unclosed\n")
    meta, problem = export.read_metadata(path)
    assert meta == {} and "could not read" in problem
    path.unlink()
    assert "no submission_metadata.yml" in export.read_metadata(path)[1]


def test_hostile_export_zip_cannot_write_outside_the_output_folder(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("export/submission_1/made.py", "x = 1\n")
        archive.writestr("export/../../escaped.py", "owned\n")
        archive.writestr("/tmp/absolute_escape.py", "owned\n")
        archive.writestr("export\\..\\..\\backslash.py", "owned\n")
        link = zipfile.ZipInfo("export/submission_1/link")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    out = tmp_path / "out" / "deeper"
    loaded = export.load(evil, out)
    assert [s.id for s in loaded.submissions] == ["1"]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["export/export/submission_1/made.py"]
    assert not (tmp_path / "escaped.py").exists() and not (tmp_path / "out" / "escaped.py").exists()
    assert sum("refused" in n for n in loaded.notes) == 3 and sum("skipped link" in n for n in loaded.notes) == 1
    with pytest.raises(UsageError):
        export.load(tmp_path / "missing.zip", out)


def test_grader_version_changes_with_any_test(tmp_path):
    files = version.grader_files()
    assert "autograder/harness/grade.py" in files and "tests/test_made.py" in files
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    assert not any(f.startswith(("autograder/solution", "autograder/selftests", "autograder/staff")) for f in files)
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp_path / rel)
    assert version.grader_version(tmp_path) == version.grader_version()
    with open(tmp_path / "tests" / "test_made.py", "a") as test_file:
        test_file.write("\n# weight changed\n")
    assert version.grader_version(tmp_path) != version.grader_version()


RUNNER_SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
from autograder.staff import runner
log = Path(sys.argv[1])
py = sys.executable
show_cpus = "import os; print(sorted(os.sched_getaffinity(0)))"
tasks = [  # the first two run side by side, one per slot
    runner.Task("cpus-a", [py, "-c", show_cpus + "; import time; time.sleep(0.5)"], log / "a.log"),
    runner.Task("cpus-b", [py, "-c", show_cpus + "; import time; time.sleep(0.5)"], log / "b.log"),
    runner.Task("hang", [py, "-c", "import time; time.sleep(60)"], log / "hang.log"),
    runner.Task("orphan", ["sh", "-c", "sleep 60 & echo $! > %s; exit 3" % (log / "orphan.pid")], log / "orphan.log"),
]
done = []
runner.run(tasks, 2, done.append, hard_limit_s=2.0)
time.sleep(0.2)
orphan = int((log / "orphan.pid").read_text())
print(json.dumps({
    "done": {d.task.key: [d.returncode, d.timed_out] for d in done},
    "orphan_alive": os.path.exists(f"/proc/{orphan}")
                    and "Z" not in open(f"/proc/{orphan}/stat").read().split(")")[1][:3],
    "children_left": [p for p, parent in runner.parents().items() if parent == os.getpid()],
}))
"""


def test_runner_kills_hung_jobs_and_leftovers_and_pins_cpus(tmp_path):
    """In a child interpreter (the runner makes its process a subreaper): a grade process that
    hangs is killed at the hard limit, one that exits leaving a daemon has it killed, and two
    jobs at once run on disjoint CPUs."""
    proc = subprocess.run([sys.executable, "-c", RUNNER_SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["done"]["hang"][1] is True and report["done"]["hang"][0] < 0
    assert report["done"]["orphan"] == [3, False]
    assert not report["orphan_alive"] and report["children_left"] == []
    cpus = [json.loads((tmp_path / f"{k}.log").read_text()) for k in ("a", "b")]
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2:
        assert not set(cpus[0]) & set(cpus[1]), f"two jobs shared CPUs: {cpus}"


# --- the whole workflow on real gradings ------------------------------------------------------------

def check_rows_match_grade_one_by_one(out, top, ids):
    """Each row and results.json equals what ``grade`` gives that upload alone, attack or not."""
    rows = {r["submission_id"]: r for r in read_csv(out / "scores.csv")}
    assert sorted(rows) == sorted(ids.values())
    alone = {}
    for label, ident in ids.items():
        alone[ident], _ = run_grader(top / f"submission_{ident}", out.parent / "alone" / ident / "results.json")
        regraded = json.loads((out / "results" / ident / "results.json").read_text())
        assert "forged" not in (out / "results" / ident / "results.json").read_text()
        assert verdicts(regraded) == verdicts(alone[ident]), f"{label} ({ident}) differs from grade"
        row = rows[ident]
        assert row["status"] == "graded" and float(row["total"]) == alone[ident]["score"], label
        for t in alone[ident]["tests"]:
            assert float(row[t["number"]]) == t["score"], f"{label}: test {t['number']}"
    assert alone[ids["solution"]]["score"] == 40.0 and alone[ids["skeleton"]]["score"] == 0.0
    assert all(alone[ids[label]]["score"] < 40.0 for label in (*fake_export.BUGS, *fake_export.ATTACKS))
    assert rows[ids["skeleton"]]["sids"] == "97001; 87001"
    assert rows[ids["solution"]]["names"] == "Student 7002"
    assert rows[ids["forged_results_daemon"]]["names"] == ""      # the folder the metadata does not list


def check_test_summary(out, stdout):
    """tests.csv: passes, failures and timeouts per test over the regraded results.json files,
    and the most common first failure line."""
    summary = {r["number"]: r for r in read_csv(out / "tests.csv")}
    graded = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*/results.json"))]
    assert len(graded) == 7
    numbers = [t["number"] for t in graded[0]["tests"]]
    assert list(summary) == numbers
    for number in numbers:
        tests = [next(t for t in r["tests"] if t["number"] == number) for r in graded]
        timed_out = [t for t in tests if t["status"] == "failed" and "timed out after" in t["output"].splitlines()[0]]
        failed = [t for t in tests if t["status"] == "failed" and t not in timed_out]
        row = summary[number]
        assert (int(row["passed"]), int(row["failed"]), int(row["timed_out"])) == (
            len(tests) - len(failed) - len(timed_out), len(failed), len(timed_out)), number
        if failed:
            lines = Counter(next(line.strip() for line in t["output"].splitlines() if line.strip()) for t in failed)
            assert int(row["top_failure_count"]) == lines.most_common(1)[0][1]
            assert lines[row["top_failure"]] == lines.most_common(1)[0][1]
        assert f"  {number} " in stdout, number
    assert sum(int(r["timed_out"]) for r in summary.values()) >= 1, "the fork bomb's test should time out"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (out / "pass_rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def doctor_old_run(out, old_dir):
    """An "old autograder" as its scores.csv and tests.csv would be: test X was lenient (everyone
    got its points) and test Y was worth half as much. Returns (X, Y, expected change per id)."""
    rows, tests = read_csv(out / "scores.csv"), read_csv(out / "tests.csv")
    numbers = [t["number"] for t in tests if float(t["max_score"]) > 0]  # not 7.1: half of 0 points is no change
    max_of = {t["number"]: float(t["max_score"]) for t in tests}
    x = next(n for n in numbers if any(float(r[n]) < max_of[n] for r in rows))
    y = max((n for n in numbers if n != x), key=lambda n: sum(float(r[n]) == max_of[n] for r in rows))
    expected = {}
    for r in rows:
        new_x, new_y = float(r[x]), float(r[y])
        r[x], r[y] = f"{max_of[x]:g}", f"{new_y / 2:g}"
        r["total"] = f"{sum(float(r[n]) for n in numbers):g}"
        expected[r["submission_id"]] = (new_x - max_of[x]) + new_y / 2
    for t in tests:
        if t["number"] == y:
            t["max_score"] = f"{max_of[y] / 2:g}"
    old_dir.mkdir()
    write_csv(old_dir / "scores.csv", rows)
    write_csv(old_dir / "tests.csv", tests)
    return x, y, expected


def check_changes(out, x, y, expected, stdout):
    """changes.csv and the printed report say who moved, by how much, largest first."""
    gain = sum(1 for d in expected.values() if d > 1e-9)
    lose = sum(1 for d in expected.values() if d < -1e-9)
    plural = "submission gains" if gain == 1 else "submissions gain"
    assert f"{gain} {plural} points, {lose} lose, {len(expected) - gain - lose} unchanged; " \
           f"1 test changed max_score" in stdout
    changes = read_csv(out / "changes.csv")
    totals = [c for c in changes if c["scope"] == "total"]
    assert {c["submission_id"]: float(c["change"]) for c in totals} == pytest.approx(
        {i: d for i, d in expected.items() if abs(d) > 1e-9})
    assert [abs(float(c["change"])) for c in totals] == sorted((abs(float(c["change"])) for c in totals), reverse=True)
    assert {c["test"] for c in changes if c["scope"] == "test"} <= {x, y}
    assert [(c["test"], c["new"]) for c in changes if c["scope"] == "max_score"] == [
        (y, next(r["max_score"] for r in read_csv(out / "tests.csv") if r["number"] == y))]
    moved = max(expected, key=lambda i: abs(expected[i]))
    assert f"\n  {moved} " in stdout, "the largest change is not listed by submission id"


@pytest.mark.timeout(1200)
def test_regrade_export_end_to_end(tmp_path):
    top, ids = fake_export.write_export(tmp_path / "src", fake_export.uploads(tmp_path / "scratch"))
    archive = fake_export.zip_export(top, tmp_path / "export.zip")
    out = tmp_path / "run" / "out"

    first = regrade(archive, "--out", out, "--jobs", 2)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "grading 7 with 2 job(s)" in first.stdout
    assert not any(s in first.stdout + first.stderr for s in NAMES_AND_EMAILS), "names printed without --names"
    scores_before = (out / "scores.csv").read_text()
    for log in (out / "results").glob("*/grade.log"):  # staff can see what confined each grading
        assert "Protections of this grading's test processes:" in log.read_text(), log

    # Right away (the grader files must not change in between): the unzipped export holds the
    # same uploads, so nothing is graded again.
    again = regrade(top, "--out", out, "--jobs", 2)
    assert again.returncode == 0 and "7 already graded by this autograder" in again.stdout, again.stdout
    assert json.loads((out / "run.json").read_text())["graded_now"] == 0
    assert (out / "scores.csv").read_text() == scores_before

    # An interrupted run (the skeleton's record missing) against an old version of the autograder.
    x, y, expected = doctor_old_run(out, tmp_path / "old")
    (out / "results" / ids["skeleton"] / "grading.json").unlink()
    compared = regrade(archive, "--out", out, "--jobs", 2, "--compare", tmp_path / "old" / "scores.csv", "--names")
    assert compared.returncode == 0, compared.stdout[-3000:] + compared.stderr[-3000:]
    assert "6 already graded by this autograder" in compared.stdout and "grading 1 with" in compared.stdout
    assert (out / "scores.csv").read_text() == scores_before
    check_changes(out, x, y, expected, compared.stdout)
    assert "Student 70" in compared.stdout                      # --names: names are printed

    # Last, the slow reference: every upload graded alone by `grade`.
    check_test_summary(out, first.stdout)
    check_rows_match_grade_one_by_one(out, top, ids)


def test_a_bad_argument_leaves_no_output_folder(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder", "regrade", str(tmp_path / "missing.zip"), "--out",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "does not exist" in proc.stderr, proc.stderr
    assert not out.exists(), "regrade left an empty --out behind after an argument error"


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "one-by-one"])
@pytest.mark.parametrize("says, expect", [
    ("ModuleNotFoundError: No module named 'torch'", ".venv/bin/python -m autograder regrade"),
    ("autograder/harness/tests_manifest.json out of date: run `make manifest`", "make manifest"),
])
def test_nothing_is_graded_when_no_grading_could_succeed(says, expect, warm, small_export, tmp_path, monkeypatch):
    """A Python without torch, or a weight edited without `make manifest`: regrade stops before
    the first upload, with one line saying what to do (it used to grade the whole class and then
    fail every row). Warm, the job slots' servers are what finds it; one by one, a `manifest
    --check` process."""
    from autograder import regrade as regrade_mod

    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\ncat >&2 <<'END'\n{says}\nEND\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(regrade_mod.sys, "executable", str(fake))
    started = []
    monkeypatch.setattr(regrade_mod, "_grade", lambda todo, *a: started.append(todo) or 0.0)
    with pytest.raises(UsageError, match=expect.replace(".", r"\.")):
        regrade_mod.regrade(small_export[0], tmp_path / "out", warm=warm)
    assert not started, "uploads were graded although the grader could not run"
    assert not (tmp_path / "out").exists(), "the export was unpacked although nothing could be graded"


def test_a_servers_start_says_whether_the_manifest_is_stale():
    """The start-up of a grading server is regrade's check that the suites still match
    tests_manifest.json: the same comparison as `manifest --check`, points and names alike."""
    from autograder.manifest import collect

    class Started:
        manifest = collect()

        def ensure(self):
            pass

    assert service._start(Started()) == {"exit": 0, "stale_manifest": False, "tests": len(Started.manifest)}
    for key, value in (("max_score", 99.0), ("name", "renamed")):
        edited = Started()
        edited.manifest = [dict(entry) for entry in Started.manifest]
        edited.manifest[3][key] = value
        assert service._start(edited)["stale_manifest"], f"a test's {key} edited without `make manifest` went unseen"
