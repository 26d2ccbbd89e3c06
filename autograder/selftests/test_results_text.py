"""Student-controlled text is neutralised before it reaches a person (results.json, the summary,
the console table), and every run of the grader leaves a valid results.json — with every test
listed and "internal grader error, please tell the course staff" when grading itself broke —
and nothing behind in its temporary folder."""
import io
import json
import os
import subprocess
import sys

import pytest

from autograder.harness import results
from autograder.selftests.conftest import ROOT

HOSTILE = ("\x1b[2K\r    PASS  1.0/1.0  3.1 made_degrees: fine\n"
           "\x1b]0;title\x07\x1b]8;;http://x.invalid/\x1b\\link\x1b]8;;\x1b\\ \x9b31mred\x1b[0m \x1bc\x1b(B\n"
           "\u202eevil\u202c bell\x07 nul\x00 del\x7f c1\x85next \ud800\r\n"
           "Total: 40.0 / 40.0")
RAW_CONTROLS = [chr(c) for c in [*range(0, 9), *range(11, 32), *range(0x7f, 0xa0)]] + list(
    "\u202a\u202b\u202d\u202e\u2066")


def no_raw_controls(text, allow="\n\t"):
    return not any(c in text and c not in allow for c in RAW_CONTROLS) and not any(
        "\ud800" <= c <= "\udfff" for c in text)


# --- clean_text -------------------------------------------------------------------------------

def test_multi_line_text_keeps_lines_and_loses_escape_sequences():
    text = results.clean_text(HOSTILE)
    assert no_raw_controls(text)
    lines = text.split("\n")
    assert lines[0] == ""  # what followed "\r" starts a line of its own: nothing is overwritten
    assert lines[1] == "    PASS  1.0/1.0  3.1 made_degrees: fine"
    assert "title" not in text and "http" not in text and "link red" in text
    assert "\\u202eevil\\u202c" in text and "bell\\x07" in text and "\\x00" in text and "\\ud800" in text


def test_one_line_text_shows_everything_escaped():
    text = results.clean_text(HOSTILE, keep_newlines=False)
    assert "\n" not in text and no_raw_controls(text, allow="")
    assert text.startswith("\\x1b[2K\\r    PASS")
    assert "\\x1b]0;title\\x07" in text and "\\n" in text


def test_mask_pictures_survive():
    picture = "allowed       measured\nout\\in  0 1   out\\in  0 1\n0       . .   0       X .\n\ttabbed"
    assert results.clean_text(picture) == picture


@pytest.mark.parametrize("keep", [True, False])
def test_cap(keep):
    text = results.clean_text("\x07" * 10_000 + "x" * 10_000, cap=100, keep_newlines=keep)
    assert len(text) == 100 and text.endswith(results.TRUNCATED)
    assert len(results.clean_text("y" * 100, cap=100)) == 100


def test_bytes_and_other_types():
    assert results.clean_text(b"ok \xff\x1b[1m") == "ok \ufffd"
    assert results.clean_text(3.5) == "3.5"


# --- the three sinks ----------------------------------------------------------------------------

MANIFEST = [
    {"id": "a", "name": "3.1 made_degrees: degrees", "number": "3.1", "max_score": 1.0, "visibility": "visible",
     "tags": ["made"]},
    {"id": "b", "name": "3.2 made_masks: masks", "number": "3.2", "max_score": 39.0, "visibility": "after_published",
     "tags": ["made"]},
]


def test_build_cleans_outputs_and_summary():
    data = results.build(MANIFEST, {"a": {"status": "failed", "output": HOSTILE, "seconds": float("nan")},
                                    "b": {"status": "passed", "output": ""}},
                         1.0, "Ignored: x\x1b[2J\rTotal: 40.0 / 40.0", not_run_message="not run")
    results.validate(data)
    assert no_raw_controls(json.dumps(data, ensure_ascii=False))
    assert data["tests"][0]["extra_data"]["seconds"] == 0.0
    assert "\n" in data["tests"][0]["output"]  # multi-line messages stay multi-line
    assert len(data["tests"][0]["output"]) <= results.OUTPUT_CAP


def test_table_cannot_be_faked():
    data = results.build(MANIFEST, {"a": {"status": "failed", "output": HOSTILE}}, 1.0, "", not_run_message=HOSTILE)
    table = results.table(data)
    assert no_raw_controls(table, allow="\n")
    lines = table.splitlines()
    assert [line for line in lines if line.startswith("Total:")] == [lines[-1]]
    assert lines[-1].startswith("Total: 0.0 / 40.0")
    grader_lines = [line for line in lines if line.startswith(("    PASS", "    FAIL"))]
    assert len(grader_lines) == len(MANIFEST)
    student = [line for line in lines if line.startswith("         ")]
    assert student and all(line.startswith("         > ") for line in student)


def test_echo_on_a_narrow_console():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    results.echo("mask \u00b7 picture \u2713", stream)
    assert raw.getvalue() == b"mask \\xb7 picture \\u2713\n"


def test_write_refuses_nan_and_leaves_no_temporary_file(tmp_path):
    with pytest.raises(ValueError):
        results.write({"score": float("nan")}, tmp_path / "results.json")
    assert list(tmp_path.iterdir()) == []


# --- the last resort -----------------------------------------------------------------------------

def test_internal_error_results_list_every_expected_test():
    data = results.internal_error(2.0)
    results.validate(data)
    assert data["score"] == 0 and sum(t["max_score"] for t in data["tests"]) == 40.0
    assert results.INTERNAL_ERROR in data["output"]
    assert all(t["status"] == "failed" and results.INTERNAL_ERROR in t["output"] for t in data["tests"])


def test_tests_manifest_is_in_sync_with_the_session(solution_results):
    """tests_manifest.json (the fallback list of tests) matches the session's real manifest."""
    real = results.expected_tests_of(solution_results[0])
    assert results.expected_tests() == real, (
        "autograder/harness/tests_manifest.json is out of date: run `make manifest`")


BREAK = r'''
import os, sys
from pathlib import Path
from autograder.harness import grade as g, results

case, upload, out = sys.argv[1:4]


def boom(*args, **kwargs):
    raise {"stage": RuntimeError("boom"), "recursion": RecursionError("deep"),
           "interrupt": KeyboardInterrupt()}[case]


def deep_tree_session(staged_root, work, *args, **kwargs):
    # What a worker could leave in the work folder: 3000 levels (paths over PATH_MAX, more
    # levels than the recursion limit), a link out, a locked folder.
    here = os.open(".", os.O_RDONLY)
    os.chdir(work)
    for level in range(3000 if case == "deep_tree" else 1):
        os.mkdir("deep")
        os.chdir("deep")
    os.symlink(upload, "link")
    os.mkdir("locked")
    os.chmod("locked", 0)
    os.fchdir(here)
    return [dict(t, id=t["number"]) for t in results.expected_tests()], {}, [], {}


if case in ("stage", "interrupt"):
    g.staging.stage = boom
elif case == "recursion":
    g.run_session = boom
elif case == "no_manifest":
    g.run_session = lambda *args, **kwargs: (None, {}, [], {})
elif case in ("deep_tree", "unwritable"):
    g.run_session = deep_tree_session
sys.exit(g.grade_command(upload, out))
'''


@pytest.mark.parametrize("case", ["stage", "recursion", "no_manifest", "interrupt", "deep_tree", "unwritable"])
def test_results_json_is_written_whatever_breaks(tmp_path, case):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "made.py").write_text("x = 1\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = tmp_path / "results" / "results.json"
    if case == "unwritable":
        out.mkdir(parents=True)  # a folder where results.json should go
    proc = subprocess.run([sys.executable, "-c", BREAK, case, str(upload), str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TMPDIR": str(temp)})
    assert os.listdir(temp) == [], "the grader left its work folder behind"
    assert (upload / "made.py").exists()
    if case == "unwritable":
        assert proc.returncode != 0 and "could not write" in proc.stderr
        return
    data = json.loads(out.read_text())
    results.validate(data)
    assert sum(t["max_score"] for t in data["tests"]) == 40.0
    if case == "deep_tree":  # grading went through; only clean-up was hard
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert results.INTERNAL_ERROR not in data["output"]
        return
    assert proc.returncode != 0
    assert "internal error" in proc.stderr  # staff see the details on stderr ...
    assert data["output"] == results.INTERNAL_ERROR + "."  # ... students only this
    assert all(results.INTERNAL_ERROR in t["output"] for t in data["tests"])
