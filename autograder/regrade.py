"""``python -m autograder regrade EXPORT --out DIR``: regrade a whole Gradescope export.

Every submission gets what ``python -m autograder grade`` gives it (same staging, sandbox, deadline
and results as a single upload), ``--jobs`` at a time: by default from one warm grading server
per job (:mod:`autograder.harness.service`), with ``--one-by-one`` from a grade process of its
own. Writes, under DIR:

    scores.csv                    one row per submission: id, submitters, status, total, one column per test
    tests.csv                     per test: passed, failed, timed out, most common first failure line
    changes.csv                   with --compare: what moved against an earlier scores.csv
    pass_rates.png                the pass rates as a bar chart (when matplotlib is installed)
    run.json                      grader version, counts, time and throughput of this run
    results/<id>/results.json     each submission's Gradescope results
    results/<id>/grading.json     which grader version graded which upload (what resuming checks)
    results/<id>/grade.log        the grading's own output (grade's stdout and stderr)
    servers/server-<n>.log        each grading server's log
    export/                       the extracted export, when EXPORT is a zip

Re-running with the same DIR skips every submission already graded by the same grader
version (a hash of the grader files) from the same upload, so an interrupted run continues.
"""
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .staff import UsageError
from .staff import export as export_mod
from .staff import reports, runner
from .staff.version import grader_version, upload_digest


def _load_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _usable(results):
    """A results dict a row can be built from: the grader ran tests (an empty manifest means the
    grading session itself did not start, which is no verdict on the upload)."""
    return bool(isinstance(results, dict) and isinstance(results.get("tests"), list) and results["tests"]
                and all(isinstance(t, dict) and {"number", "score", "max_score", "status", "name"} <= set(t)
                        for t in results["tests"]))


def _grader_faults(results):
    """Tests that failed through the grader's own fault (the harness marks them in
    ``extra_data.grader_fault``; no message text counts): a rerun may not hit the same fault, so
    they are retried."""
    return [t["number"] for t in results["tests"]
            if isinstance(t.get("extra_data"), dict) and t["extra_data"].get("grader_fault")]


class Job:
    """One submission: where its files live, and what resuming it needs to know."""

    def __init__(self, submission, out):
        self.submission = submission
        self.folder = out / "results" / submission.id
        self.results_path = self.folder / "results.json"
        self.record_path = self.folder / "grading.json"
        self.upload = upload_digest(submission.folder)
        self.status, self.results, self.seconds = "not graded", None, None

    def already_graded(self, version):
        record = _load_json(self.record_path)
        if not (record and record.get("grader_version") == version and record.get("upload_sha256") == self.upload):
            return False
        results = _load_json(self.results_path)
        if not _usable(results):
            return False
        self.status, self.results, self.seconds = "graded", results, record.get("seconds")
        return True

    def task(self):
        # A stale results.json or record must never outlive a grading that did not finish.
        for stale in (self.record_path, self.results_path):
            stale.unlink(missing_ok=True)
        args = [str(self.submission.folder), "--results", str(self.results_path), "--quiet"]
        return runner.Task(self.submission.id, [sys.executable, "-m", "autograder", "grade", *args],
                           self.folder / "grade.log", grade_args=args)

    def finish(self, done, version):
        """Record the outcome of a grade process; only a usable results.json marks it done."""
        self.seconds = round(done.seconds, 2)
        results = _load_json(self.results_path)
        if done.timed_out:
            self.status = f"error: the grader ran past {runner.HARD_LIMIT_S:.0f} s and was killed"
        elif done.returncode != 0:
            self.status = (f"error: the grader exited with status {done.returncode} "
                           f"(see results/{self.submission.id}/grade.log)")
        elif not _usable(results):
            self.status = f"error: the grader ran no tests (see results/{self.submission.id}/grade.log)"
        elif _grader_faults(results):
            self.results = results   # shown, but not recorded as done: the next run grades it again
            self.status = f"error: the grader failed in tests {', '.join(_grader_faults(results))}; rerun to retry"
        else:
            self.status, self.results = "graded", results
            record = {"grader_version": version, "upload_sha256": self.upload, "seconds": self.seconds,
                      "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            self.record_path.write_text(json.dumps(record, indent=2))


class Progress:
    """A tqdm bar with an ETA when tqdm is installed, else one line per finished submission."""

    def __init__(self, total):
        self.total, self.done, self.started = total, 0, time.monotonic()
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="sub", desc="regrade", dynamic_ncols=True, file=sys.stderr)

    def advance(self, label):
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(1)
            return
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        print(f"regrade: {self.done}/{self.total} ({label}), ETA {eta // 60:.0f}:{eta % 60:02.0f}",
              file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _grade(jobs, workers, version, servers=None):
    """Grade ``jobs`` ``workers`` at a time (on ``servers``, :class:`.runner.Servers`, if warm;
    else a grade process each); return the wall time spent."""
    if not jobs:
        return 0.0
    by_key = {job.submission.id: job for job in jobs}
    progress = Progress(len(jobs))
    started = time.monotonic()

    def on_done(done):
        job = by_key[done.task.key]
        job.finish(done, version)
        score = f"{job.results['score']:g}" if job.results else "error"
        progress.advance(f"{job.submission.id}: {score}")

    try:
        runner.run([job.task() for job in jobs], workers, on_done, servers=servers)
    finally:
        progress.close()
    return time.monotonic() - started


def _who(submission, names):
    who = f"{submission.id} ({'; '.join(submission.names)})" if names and submission.names else submission.id
    return reports.printable(who)


def _write_run(out, version, jobs, graded, seconds, workers, warm):
    totals = [j.results["score"] for j in jobs if j.results]
    info = {
        "grader_version": version, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "submissions": len(jobs), "graded_now": len(graded), "reused": sum(1 for j in jobs if j not in graded),
        "errors": sum(1 for j in jobs if j.status != "graded"), "jobs": workers, "warm": warm,
        "seconds": round(seconds, 2),
        "submissions_per_minute": round(len(graded) / seconds * 60, 2) if graded and seconds else None,
        "median_total": statistics.median(totals) if totals else None,
    }
    (out / "run.json").write_text(json.dumps(info, indent=2))
    return info


def preflight():
    """Why no grading could succeed, or ``None``: this Python cannot run the grader (no torch:
    not the project's venv) or the suites no longer match tests_manifest.json (a weight edited
    without `make manifest`). One by one, a ``manifest --check`` process tells; warm, the
    servers' own start-up does (:meth:`.runner.Servers.check`)."""
    import subprocess

    try:
        proc = subprocess.run([sys.executable, "-m", "autograder", "manifest", "--check"], cwd=runner.ROOT,
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not check the grader: {exc}"
    if proc.returncode == 0:
        return None
    return proc.stderr.strip() or proc.stdout.strip() or "(no output)"


def refusal(problem):
    """The one line that says what to do about ``problem`` (:func:`preflight`'s answer).
    Refusing before the first upload: grading a whole class first and failing every row took
    10 s per upload."""
    lines = problem.splitlines() or ["(no output)"]
    missing = [line.strip() for line in lines if "No module named" in line]
    if missing:
        return UsageError(f"{sys.executable} cannot run the grader ({missing[-1]}): run regrade with the project's "
                          "venv, .venv/bin/python -m autograder regrade ... (`make venv` makes it)")
    return UsageError(f"the grader is not ready: {lines[-1].strip()}")


def regrade(export, out, jobs=2, compare=None, names=False, warm=True):
    """Regrade ``export`` into ``out``; return the process exit status (1 if any row failed)."""
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if not Path(export).exists():
        raise UsageError(f"{export} does not exist")
    # Before --out is made or any student's data unpacked. Warm, the job slots' servers start
    # now, and that start-up is the check: no process collects the suites only to check them.
    servers = runner.Servers(jobs) if warm else None
    try:
        problem = servers.check() if servers else preflight()
        if problem:
            raise refusal(problem)
        return _regrade(export, Path(out), jobs, compare, names, warm, servers)
    finally:
        if servers:
            servers.close(logs_to=Path(out) / "servers" if Path(out).exists() else None)


def _regrade(export, out, jobs, compare, names, warm, servers):
    old = reports.read_scores(compare) if compare else None   # before this run overwrites a file it names
    created = not out.exists()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)   # names and uploads: readable by this user only
    try:
        loaded = export_mod.load(export, out)
    except UsageError:
        if created and not any(out.iterdir()):
            out.rmdir()  # a bad argument leaves nothing behind
        raise
    if old is None and (out / "changes.csv").exists():
        (out / "changes.csv").unlink()  # it compared an earlier run; this one compares nothing
    for note in loaded.notes:
        print(f"note: {note}")
    if not loaded.submissions:
        print(f"no submission folders found in {export}: regrade reads Gradescope's Export Submissions (its "
              "zip, or that zip unzipped: submission_metadata.yml and one submission_<id>/ folder per upload)")
        return 1
    version = grader_version()
    all_jobs = [Job(s, out) for s in loaded.submissions]
    todo = [job for job in all_jobs if not job.already_graded(version)]
    print(f"{len(all_jobs)} submissions; {len(all_jobs) - len(todo)} already graded by this autograder "
          f"(version {version[:12]}); grading {len(todo)} with {jobs} job(s)")
    if servers:
        servers.keep(len(todo))
    seconds = _grade(todo, jobs, version, servers)
    if grader_version() != version:
        print("warning: the grader files changed during this run; rows may come from two versions. Run again.")

    rows = [(j.submission, j.status, j.results) for j in all_jobs]
    table = reports.table_from_rows(rows)
    reports.write_scores(out / "scores.csv", table)
    summary = reports.test_summary([j.results for j in all_jobs if j.results])
    reports.write_tests(out / "tests.csv", summary)
    chart = reports.write_chart(out / "pass_rates.png", summary)
    info = _write_run(out, version, all_jobs, todo, seconds, jobs, warm)

    print(reports.format_tests(summary, sum(1 for j in all_jobs if j.results)))
    for job in all_jobs:
        if job.status != "graded":
            print(f"  {_who(job.submission, names)}: {job.status}")
    if old is not None:
        changes = reports.compare(old, table)
        reports.write_changes(out / "changes.csv", changes, old, table)
        print(f"Compared with {compare}:")
        print(reports.format_changes(changes, names=names))
    rate = f", {info['submissions_per_minute']:g} submissions/minute" if info["submissions_per_minute"] else ""
    median = "" if info["median_total"] is None else f"; median total {info['median_total']:g}"
    print(f"graded {len(todo)} in {seconds:.0f} s with {jobs} job(s){rate}; reused {info['reused']}; "
          f"errors {info['errors']}{median}")
    written = ["scores.csv", "tests.csv", *(["changes.csv"] if old is not None else []),
               *(["pass_rates.png"] if chart else [])]
    print(f"wrote {', '.join(str(out / name) for name in written)}")
    return 1 if info["errors"] else 0


def main(args):
    try:
        return regrade(args.export, args.out, jobs=args.jobs, compare=args.compare, names=args.names,
                       warm=not args.one_by_one)
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to continue where it stopped", file=sys.stderr)
        return 130
    except UsageError as error:
        print(f"regrade: {error}", file=sys.stderr)
        return 2
