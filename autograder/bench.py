"""``make bench``: time and memory of grading the reference solution and of the public tests.

Prints, for the current machine and the torch in use: wall time, CPU time (user + sys of the
whole process tree) and peak memory of the whole process tree (the sum of every process's
PSS, sampled every 20 ms: what a container's memory limit counts), and the slowest tests.
Runs with ``OMP_NUM_THREADS=1`` (Gradescope gives half a CPU). Each figure is the median of
``--repeat`` runs. Budgets (SPEC §6): grading ≤ 30 s CPU and ≤ 500 MB with a CPU-only torch;
public tests ≤ 10 s.

``--regrade N`` measures something else instead: the throughput of ``python -m autograder
regrade`` on a fake Gradescope export of N uploads (``--mix``: by default the solution, the
skeleton and the buggy corpus in turn), ``--jobs`` at a time, in submissions per minute, one by
one (a grade process each) and warm (one grading server per job), on the same export: over the
whole run, and over the grading alone (without the fixed start-up: the servers' start, or one by
one the manifest check), which is what the rate of a long export tends to.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .harness.staging import GRADED
from .worker.procs import tree_pss_kb

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "autograder" / "solution"
BUDGETS = {"grade": {"cpu_s": 30.0, "pss_mb": 500.0}, "public": {"wall_s": 10.0}}


def measure(cmd, env):
    """Run ``cmd``; return wall seconds, CPU seconds of the process tree and peak summed PSS (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_pss_kb(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0].decode(errors="replace")
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "pss_mb": peak[0] / 1024, "returncode": proc.returncode, "output": output}


def median_runs(cmd, env, repeat):
    runs = [measure(cmd, env) for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in ("wall_s", "cpu_s", "pss_mb")}, runs[-1]


# The last commit of the previous design (each test forked from a session that also ran the
# student's code), benchmarked next to the current one by default.
OLD_DESIGN = "5293582"


def old_design(python, upload, env, repeat, tmp):
    """Figures for grading ``upload`` with the harness of commit ``OLD_DESIGN``, or ``None``
    when this copy has no git history (e.g. the unzipped autograder)."""
    folder = Path(tmp) / "old-design"
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", OLD_DESIGN], capture_output=True)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    cmd = [python, "-m", "autograder", "grade", str(upload), "--results", str(Path(tmp) / "old.json"), "--quiet"]
    runs = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        figures = _measure_in(cmd, env, folder)
        figures["wall_s"] = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        runs.append(figures)
    return {key: statistics.median(r[key] for r in runs) for key in ("wall_s", "cpu_s", "pss_mb")}


def _measure_in(cmd, env, cwd):
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_pss_kb(proc.pid))
        time.sleep(0.02)
    return {"pss_mb": peak / 1024}


def torch_build(python):
    code = ("import torch, sys; cuda = torch.version.cuda; "
            "print(f'torch {torch.__version__} ({\"CUDA \" + cuda if cuda else \"CPU-only\"} build), "
            "Python {sys.version.split()[0]}')")
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def regrade_throughput(python, count, jobs, env, mixes=("class",)):
    """Regrade a fake export of ``count`` uploads of each mix with ``jobs`` jobs, one by one and
    warm, on the same export; print submissions per minute and the ratio. The results of the two
    must agree (timings aside), or the run fails."""
    from .staff import fake_export

    print(f"regrade throughput: {count} submissions, --jobs {jobs}, {os.cpu_count()} CPUs, {torch_build(python)}")
    print(f"{'mix':10}{'how':14}{'wall s':>9}{'CPU s':>9}{'peak PSS MB':>13}{'per minute':>12}{'grading':>10}")
    failed = False
    for mix in mixes:
        with tempfile.TemporaryDirectory() as tmp:
            uploads = fake_export.class_uploads(count, mix, scratch=Path(tmp) / "attacks")
            top, _ = fake_export.write_export(Path(tmp) / "src", uploads, unlisted=0)
            export = fake_export.zip_export(top, Path(tmp) / "export.zip")
            rates, scores = {}, {}
            for how, flags in (("one by one", ["--one-by-one"]), ("warm", [])):
                out = Path(tmp) / how.replace(" ", "-")
                figures = measure([python, "-m", "autograder", "regrade", str(export), "--out", str(out),
                                   "--jobs", str(jobs), *flags], env)
                run = json.loads((out / "run.json").read_text())
                rates[how] = count / figures["wall_s"] * 60
                scores[how] = (out / "scores.csv").read_text()
                failed |= figures["returncode"] != 0 and mix != "hostile"
                print(f"{mix:10}{how:14}{figures['wall_s']:9.1f}{figures['cpu_s']:9.1f}{figures['pss_mb']:13.0f}"
                      f"{rates[how]:12.1f}{run['submissions_per_minute'] or 0:10.1f}"
                      + (f"   {run['errors']} errors" if run["errors"] else ""))
            same = scores["one by one"] == scores["warm"]
            failed |= not same
            print(f"{'':10}{'warm/one by one':14}{rates['warm'] / rates['one by one']:9.2f}x"
                  f"   scores.csv {'identical' if same else 'DIFFER'}")
    print("per minute: submissions over the whole run's wall time (start-up, the export's reading and the "
          "servers' start included); grading: over the grading alone (run.json), what a long export tends to")
    return 1 if failed else 0


def default_models(folder):
    """made.safetensors and pixelcnn.safetensors of the trainer's default sizes (untrained: the
    evaluation costs the same) in ``folder``, exported by the trainer's own function."""
    from types import SimpleNamespace

    import torch

    from .solution import made, pixelcnn, train

    torch.manual_seed(0)
    final = {"epoch": 0, "test_bits_per_dim": 1.0}
    train.export_model(made.MADE(784, [512]), SimpleNamespace(model="made", dataset="mnist"),
                       folder / "made.safetensors", final)
    train.export_model(pixelcnn.PixelCNN(1, 64, 5, 7), SimpleNamespace(model="pixelcnn", dataset="mnist", channels=64,
                                                                       layers=5, kernel=7),
                       folder / "pixelcnn.safetensors", final)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.bench")
    parser.add_argument("--python", default=sys.executable, help="interpreter to grade with (e.g. .venv-cpu/bin/python)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--no-old-design", action="store_true",
                        help=f"skip grading with the previous design (commit {OLD_DESIGN}) for comparison")
    parser.add_argument("--baseline", action="store_true",
                        help="also time the naive design: a fresh interpreter (torch import, collection) per test")
    parser.add_argument("--regrade", type=int, metavar="N", default=None,
                        help="instead: regrade throughput on a fake export of N submissions")
    parser.add_argument("--jobs", type=int, default=2, help="with --regrade: submissions graded at once")
    parser.add_argument("--mix", default="class", help="with --regrade: class, honest, buggy, hostile, "
                                                       "a comma-separated list of them, or all")
    args = parser.parse_args(argv)
    if os.sep in args.python:  # the previous design runs from another folder
        args.python = os.path.abspath(args.python)

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    if args.regrade:
        from .staff.fake_export import MIXES

        mixes = MIXES if args.mix == "all" else tuple(args.mix.split(","))
        return regrade_throughput(args.python, args.regrade, args.jobs, env, mixes)
    with tempfile.TemporaryDirectory() as tmp:
        upload = Path(tmp) / "upload"
        upload.mkdir()
        package = Path(tmp) / "pkg" / "submission"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        for name in GRADED:
            (upload / name).write_text((SOLUTION / name).read_text())
            (package / name).write_text((SOLUTION / name).read_text())
        results_path = Path(tmp) / "results.json"
        grade, last = median_runs([args.python, "-m", "autograder", "grade", str(upload), "--results",
                                   str(results_path), "--quiet"], env, args.repeat)
        results = json.loads(results_path.read_text())
        with_models = Path(tmp) / "with-models"
        shutil.copytree(upload, with_models)
        default_models(with_models)
        models, _ = median_runs([args.python, "-m", "autograder", "grade", str(with_models), "--results",
                                 str(results_path), "--quiet"], env, args.repeat)
        measured = json.loads(results_path.read_text())
        evaluation = next(t["extra_data"]["seconds"] for t in measured["tests"] if t["number"] == "7.1")
        pkg_env = {**env, "PS1_SUBMISSION": str(Path(tmp) / "pkg")}
        public, _ = median_runs([args.python, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
                                pkg_env, args.repeat)
        old = None if args.no_old_design else old_design(args.python, upload, env, args.repeat, tmp)
        baseline = None
        if args.baseline:
            script = ("import subprocess, sys\n"
                      "ids = subprocess.run([sys.executable, '-m', 'pytest', '--collect-only', '-q', 'tests', "
                      "'autograder/suites'], capture_output=True, text=True).stdout.split()\n"
                      "for i in [i for i in ids if '::' in i]:\n"
                      "    subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', i], "
                      "capture_output=True)\n")
            baseline, _ = median_runs([args.python, "-c", script], pkg_env, 1)

    print(f"PS1 autograder benchmark — {torch_build(args.python)}, {os.cpu_count()} CPUs, OMP_NUM_THREADS=1, "
          f"median of {args.repeat}")
    print(f"{'':28}{'wall s':>9}{'CPU s':>9}{'peak PSS MB':>13}   budget")
    print(f"{'grade the solution':28}{grade['wall_s']:9.2f}{grade['cpu_s']:9.2f}{grade['pss_mb']:13.0f}   "
          f"<= {BUDGETS['grade']['cpu_s']:.0f} s CPU, <= {BUDGETS['grade']['pss_mb']:.0f} MB")
    print(f"{'grade + two trained models':28}{models['wall_s']:9.2f}{models['cpu_s']:9.2f}{models['pss_mb']:13.0f}   "
          f"(the trainer's default sizes; test 7.1 took {evaluation:.2f} s: "
          f"{', '.join(e['name'] + ' ' + format(e['value'], '.4f') for e in measured.get('leaderboard', []))})")
    print(f"{'public tests (pytest)':28}{public['wall_s']:9.2f}{public['cpu_s']:9.2f}{public['pss_mb']:13.0f}   "
          f"<= {BUDGETS['public']['wall_s']:.0f} s")
    if old:
        print(f"{'previous design (' + OLD_DESIGN + ')':28}{old['wall_s']:9.2f}{old['cpu_s']:9.2f}{old['pss_mb']:13.0f}"
              "   (session forked per test; student code in the verdict's process)")
    if baseline:
        print(f"{'naive: 1 interpreter/test':28}{baseline['wall_s']:9.2f}{baseline['cpu_s']:9.2f}"
              f"{baseline['pss_mb']:13.0f}   (no sandbox; for comparison)")
    print(f"score {results['score']:.1f}/40; slowest tests (seconds: a fresh worker + the test):")
    for test in sorted(results["tests"], key=lambda t: -t["extra_data"]["seconds"])[:8]:
        print(f"    {test['extra_data']['seconds']:6.2f}  {test['name'][:80]}")
    total_tests = sum(t["extra_data"]["seconds"] for t in results["tests"])
    print(f"    {total_tests:6.2f}  all {len(results['tests'])} tests; the rest of the wall time is start-up "
          "(torch import, collection)")
    within = (max(grade["cpu_s"], models["cpu_s"]) <= BUDGETS["grade"]["cpu_s"]
              and max(grade["pss_mb"], models["pss_mb"]) <= BUDGETS["grade"]["pss_mb"]
              and public["wall_s"] <= BUDGETS["public"]["wall_s"])
    print("within budget" if within else "OVER BUDGET")
    if args.json:
        Path(args.json).write_text(json.dumps({"grade": grade, "with_models": models, "evaluation_s": evaluation,
                                               "public": public, "torch": torch_build(args.python),
                                               "old_design": old, "score": results["score"]}, indent=2))
    return 0 if last["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
