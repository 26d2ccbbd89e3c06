"""``python -m autograder.corpus.stability [--keys N] [--jobs J] [NAME ...]``: are verdicts the
same whatever examples the grader draws?

On the grader every upload gets its own examples, drawn from the grading key. A test whose
verdict on a buggy (or correct) upload depends on the draw would make a score a matter of luck,
and ``docs/corpus.md`` (which lists the tests that catch each bug) untrue under another secret.
This runs every suite in-process (``pytest tests autograder/suites`` with ``PS1_FRESH_KEY``)
on the solution and on each buggy submission under ``N`` random keys, and prints every upload
whose failed tests differ between keys. Exit status 1 if any does.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import buggy

ROOT = Path(__file__).resolve().parents[2]
FAIL_LINE = re.compile(r"^(FAIL|----)\s+(\d+\.\d+)\s")


def failed_tests(files, key):
    """Numbers of the tests that fail on ``files`` (name -> source) with examples from ``key``."""
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "submission"
        package.mkdir()
        (package / "__init__.py").write_text("")
        for name, source in files.items():
            (package / name).write_text(source)
        env = {**os.environ, "PS1_FRESH_KEY": key, "PS1_SUBMISSION": tmp, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "autograder/suites", "-q", "-p",
                               "no:cacheprovider", "-o", "timeout=300"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=1200)
    return sorted({m.group(2) for line in proc.stdout.splitlines() if (m := FAIL_LINE.match(line))},
                  key=lambda n: [int(p) for p in n.split(".")])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.corpus.stability")
    parser.add_argument("names", nargs="*", help="bugs to check (default: the solution and every bug)")
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    solution = {name: (buggy.SOLUTION / name).read_text() for name in buggy.GRADED}
    uploads = {"solution": solution} if not args.names or "solution" in args.names else {}
    uploads.update({bug.name: buggy.render(bug) for bug in buggy.BUGS if not args.names or bug.name in args.names})
    keys = [os.urandom(16).hex() for _ in range(args.keys)]
    jobs = [(name, key) for name in uploads for key in keys]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda job: failed_tests(uploads[job[0]], job[1]), jobs))
    unstable = 0
    for name in uploads:
        seen = {key: tuple(result) for (job_name, key), result in zip(jobs, results) if job_name == name}
        if len(set(seen.values())) > 1:
            unstable += 1
            print(f"UNSTABLE {name}:")
            for key, failed in seen.items():
                print(f"    key {key}: {' '.join(failed) or '(none)'}")
        else:
            print(f"stable   {name}: {' '.join(next(iter(seen.values()))) or '(none)'}")
    print(f"{unstable} of {len(uploads)} uploads have verdicts that depend on the draw ({args.keys} keys each)")
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
