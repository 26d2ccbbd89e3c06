"""``python -m autograder.corpus.report [NAME ...]``: grade every buggy submission (or the named
ones) and write docs/corpus.md.

The table lists, for each bug, the section it lives in, the points it loses and the tests
that catch it. The self-test ``test_corpus.py`` re-grades each bug and fails if the table no
longer says what the grader does.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import buggy

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "corpus.md"


def grade_files(files, workdir):
    """Grade ``{name: source}`` with the real harness; return the results dict."""
    workdir = Path(workdir)
    upload = workdir / "upload"
    upload.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (upload / name).write_text(source)
    out = workdir / "results.json"
    subprocess.run([sys.executable, "-m", "autograder", "grade", str(upload), "--results", str(out), "--quiet"],
                   cwd=ROOT, check=True, timeout=600)
    return json.loads(out.read_text())


def caught_by(results):
    """Numbers of the failed tests, in order."""
    return [t["number"] for t in results["tests"] if t["status"] != "passed"]


def grade_bug(bug):
    with tempfile.TemporaryDirectory() as tmp:
        return grade_files(buggy.render(bug), tmp)


def render_table(rows):
    lines = [
        "# Corpus of buggy submissions",
        "",
        "Each entry is the reference solution with one realistic bug (`autograder/corpus/buggy.py`). The",
        "self-test `autograder/selftests/test_corpus.py` grades every one with the real harness and checks that",
        "it loses points only in the section where the bug lives, and that this table is what the grader does.",
        "Regenerate with `.venv/bin/python -m autograder.corpus.report`.",
        "",
        "| bug | file (section) | what the student did | points lost | caught by tests |",
        "|---|---|---|---|---|",
    ]
    for bug, lost, tests in rows:
        lines.append(f"| `{bug.name}` | {bug.file} ({bug.section}) | {bug.description} | {lost:g} | "
                     f"{', '.join(tests)} |")
    return "\n".join(lines) + "\n"


def parse_table(text):
    """``{bug name: [test numbers]}`` from the markdown table."""
    return {name: tests for name, (_, tests) in parse_rows(text).items()}


def parse_rows(text):
    """``{bug name: (points lost, [test numbers])}`` from the markdown table."""
    table = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            table[cells[0].strip("`")] = (float(cells[-2]), [t.strip() for t in cells[-1].split(",") if t.strip()])
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.corpus.report", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="regrade only these bugs and keep the table's other rows (default: every bug)")
    args = parser.parse_args(argv)
    unknown = set(args.names) - {bug.name for bug in buggy.BUGS}
    if unknown:
        parser.error(f"no such bug: {', '.join(sorted(unknown))}")
    kept = parse_rows(DOC.read_text()) if args.names and DOC.exists() else {}
    todo = [bug for bug in buggy.BUGS if bug.name not in kept or bug.name in args.names]
    with ThreadPoolExecutor(max_workers=2) as pool:
        graded = dict(zip((bug.name for bug in todo), pool.map(grade_bug, todo)))
    rows = [(bug, 40.0 - graded[bug.name]["score"], caught_by(graded[bug.name])) if bug.name in graded
            else (bug, *kept[bug.name]) for bug in buggy.BUGS]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render_table(rows))
    print(f"wrote {DOC.relative_to(ROOT)} ({len(rows)} bugs, {len(todo)} graded)")
    for bug, lost, tests in rows:
        if bug.name in graded:
            print(f"{bug.name:32} section {bug.section}  lost {lost:4.1f}  {' '.join(tests)}")


if __name__ == "__main__":
    main()
