"""Build Gradescope's results.json from the grader's manifest and the children's outcomes.

Names, numbers, points and visibility come only from the manifest (collected before any
student code ran); a child contributes nothing but passed/failed and a capped message.

Student-controlled text (test messages, file names from the upload) is neutralised here, in
one function, :func:`clean_text`, before it reaches a person: terminal escape sequences are
removed, other control characters and Unicode bidi overrides are shown escaped (``\\x07``,
``\\u202e``), and the length is capped. Each sink calls it once: :func:`build` (results.json),
:func:`table` (the console) and ``staging.Staged.summary`` (the list of files).

If grading itself breaks, :func:`internal_error` builds results that still list every test,
from ``tests_manifest.json`` (written from the suites by ``make manifest``).
"""
import json
import math
import os
import re
import sys
import tempfile
import textwrap
from pathlib import Path

SECTIONS = {"1": "probability", "2": "likelihood", "3": "made", "4": "pixelcnn", "5": "sampling", "6": "training",
            "7": "trained models"}
LEADERBOARD_NAMES = ("MADE bits/dim", "PixelCNN bits/dim")  # what autograder.trained reports
SCHEMA = Path(__file__).with_name("results_schema.json")
EXPECTED_TESTS = Path(__file__).with_name("tests_manifest.json")
OUTPUT_CAP = 3000          # one test's output
SUMMARY_CAP = 6000         # the top-level output (staging summary and grader notes)
NAME_CAP = 200             # a test name
TABLE_LINE_CAP = 110       # the first line of a failing test's output in the console table
INTERNAL_ERROR = "internal grader error, please tell the course staff"
TRUNCATED = " [...]"

# Terminal escape sequences, removed outright: CSI (ESC [ or the 8-bit 0x9b) with parameters;
# OSC/DCS/SOS/PM/APC strings (ESC ] P X ^ _, or 8-bit 0x9d 0x90 0x98 0x9e 0x9f) up to their
# terminator (BEL or ST) or the end of the line when unterminated; two- and three-byte ESC
# sequences (ESC 7, ESC c, ESC ( B, ...).
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]")
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Everything shown escaped: C0 controls but tab and newline, DEL and C1 controls, bidi
# controls, lone surrogates (undecodable bytes; they cannot be printed or encoded).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "\ud800-\udfff]")
_NEWLINES = re.compile(r"\r\n|[\r\n\u2028\u2029\x85]")


def _escape(match):
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_text(text, cap=None, keep_newlines=True):
    """``text`` made safe to show a person: no escape sequences, no carriage returns, other
    control characters and bidi overrides escaped, at most ``cap`` characters.

    With ``keep_newlines`` (multi-line messages, e.g. mask pictures) escape sequences are
    removed, line breaks of any kind become ``\\n`` and tabs stay. Without it (file names,
    one-line summaries) nothing is removed: line breaks, tabs and escape sequences are shown
    escaped (``\\n``, ``\\x1b[31m``), so the result is one line and a name keeps its oddities
    in sight.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = str(text)
    if cap is not None:
        text = text[:cap * 8 + 1024]  # bound the work; escaping can only lengthen what is kept
    if keep_newlines:
        text = _NEWLINES.sub("\n", _ESCAPE_SEQUENCE.sub("", text))
    else:
        text = _NEWLINES.sub(lambda m: "\\r" if m.group() == "\r" else "\\n", text).replace("\t", "\\t")
    text = _CONTROL.sub(_escape, text)
    if cap is not None and len(text) > cap:
        text = text[:max(0, cap - len(TRUNCATED))] + TRUNCATED
    return text


def _number_key(number):
    return [int(p) for p in str(number).split(".") if p.isdigit()]


def _seconds(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) and value >= 0 else 0.0


def _leaderboard(entries):
    """Gradescope's leaderboard entries, each checked: a known name, a finite value, an order."""
    board = []
    for entry in entries or ():
        try:
            name, value, order = str(entry["name"]), float(entry["value"]), entry.get("order", "asc")
        except (KeyError, TypeError, ValueError):
            continue
        if name in LEADERBOARD_NAMES and math.isfinite(value) and order in ("asc", "desc") \
                and name not in {e["name"] for e in board}:
            board.append({"name": name, "value": value, "order": order})
    return board


def build(manifest, outcomes, execution_time, summary, not_run_message, not_run_fault=None, leaderboard=None):
    """The results dict: every manifest test, scored from ``outcomes`` (missing → failed, with
    ``not_run_message``; ``not_run_fault``: why that is the grader's fault, if it is).

    A test that failed through the grader's own fault has ``extra_data.grader_fault`` (one line
    for staff): only harness code in the session or here sets it, never a worker, and regrade
    reads it instead of searching messages for words a student could write too."""
    missing = {"status": "failed", "output": not_run_message, **({"grader_fault": not_run_fault} if not_run_fault else {})}
    tests = []
    for entry in sorted(manifest, key=lambda e: _number_key(e["number"])):
        outcome = outcomes.get(entry.get("id", entry["number"]), missing)
        passed = outcome.get("status") == "passed"
        tests.append({
            "name": clean_text(entry["name"], NAME_CAP, keep_newlines=False),
            "number": entry["number"],
            "score": entry["max_score"] if passed else 0.0,
            "max_score": entry["max_score"],
            "status": "passed" if passed else "failed",
            "output": clean_text(outcome.get("output", ""), OUTPUT_CAP),
            "visibility": entry["visibility"],
            "tags": [clean_text(t, NAME_CAP, keep_newlines=False) for t in entry["tags"]],
            "extra_data": {"seconds": _seconds(outcome.get("seconds", 0.0)),
                           **({"grader_fault": clean_text(outcome["grader_fault"], NAME_CAP, keep_newlines=False)}
                              if outcome.get("grader_fault") else {})},
        })
    score = round(sum(t["score"] for t in tests), 6)
    return {
        "score": score,
        "execution_time": round(_seconds(execution_time), 3),
        "output": clean_text(summary, SUMMARY_CAP),
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        **({"leaderboard": board} if (board := _leaderboard(leaderboard)) else {}),
    }


MANIFEST_KEYS = ("name", "number", "max_score", "visibility", "tags")


def expected_tests():
    """The committed list of every test (name, number, max_score, visibility, tags)."""
    return json.loads(EXPECTED_TESTS.read_text())["tests"]


def manifest_text(entries):
    """``tests_manifest.json`` as ``make manifest`` writes it for the collected ``entries``
    (:func:`autograder.harness.session.manifest_entry`), in results.json's order."""
    tests = sorted(({k: e[k] for k in MANIFEST_KEYS} for e in entries), key=lambda t: _number_key(t["number"]))
    lines = ",\n".join("  " + json.dumps(t) for t in tests)
    return ('{"comment": "every test of the session, for results.internal_error; written by '
            '`make manifest` from the suites", "tests": [\n' + lines + "\n]}\n")


def manifest_is_stale(entries):
    """Whether ``tests_manifest.json`` differs from what ``make manifest`` would write for ``entries``."""
    return EXPECTED_TESTS.read_text() != manifest_text(entries)


def expected_total():
    """The assignment's total: the points of every test the suites declare (``make manifest``)."""
    return sum(t["max_score"] for t in expected_tests())


def internal_error(execution_time=0.0, manifest=None):
    """Results for when grading itself broke: every test listed, failed, with
    :data:`INTERNAL_ERROR`. ``manifest`` defaults to the committed list of tests."""
    message = INTERNAL_ERROR + "."
    try:
        manifest = manifest or expected_tests()
        return build(manifest, {}, execution_time, message, not_run_message=message, not_run_fault="grading broke")
    except Exception:  # even the committed list is unusable: still a valid results.json
        return build([], {}, execution_time, message, not_run_message=message)


def expected_tests_of(results):
    """The tests of a real ``results`` dict as ``tests_manifest.json`` lists them."""
    return [{k: t[k] for k in MANIFEST_KEYS} for t in results["tests"]]


def write(results, path):
    """Write ``results`` atomically, replacing whatever is at ``path`` (a planted file too)."""
    text = json.dumps(results, indent=2, allow_nan=False)  # NaN is not JSON: Gradescope would reject it
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def table(results):
    """A plain-text score table: one line per test, a subtotal per section, the total.

    A failing test shows the first line of its output, cleaned, indented and marked with
    ``>``, so that nothing a student wrote can pass for a line of the table."""
    lines = []
    by_section = {}
    for test in results["tests"]:
        by_section.setdefault(test["number"].split(".")[0], []).append(test)
    for section, tests in sorted(by_section.items()):
        got = sum(t["score"] for t in tests)
        out_of = sum(t["max_score"] for t in tests)
        lines.append(f"{section} {SECTIONS.get(section, '?'):<12} {got:5.1f} / {out_of:4.1f}")
        for t in tests:
            mark = "PASS" if t["status"] == "passed" else "FAIL"
            hidden = "" if t["visibility"] == "visible" else " [hidden]"
            lines.append(f"    {mark} {t['number']:>5} {t['score']:4.1f}/{t['max_score']:<4.1f} "
                         f"{textwrap.shorten(clean_text(t['name'], 400, keep_newlines=False), 72, placeholder=' ...')}"
                         f"{hidden}")
            if t["status"] != "passed" and t["output"]:
                shown = [line.strip() for line in clean_text(t["output"], OUTPUT_CAP).splitlines()]
                first = next((line for line in shown if line), "")
                if first:
                    lines.append(f"         > {clean_text(first, TABLE_LINE_CAP, keep_newlines=False)}")
    total = sum(t["max_score"] for t in results["tests"])
    lines.append(f"Total: {results['score']:.1f} / {total:.1f}   ({results['execution_time']:.1f} s)")
    return "\n".join(lines)


def echo(text, stream=None):
    """Print ``text`` on a console that may not take every character (never raises)."""
    stream = stream or sys.stdout
    try:
        try:
            stream.write(text + "\n")
        except UnicodeEncodeError:
            encoding = getattr(stream, "encoding", None) or "ascii"
            stream.write((text + "\n").encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()
    except (OSError, ValueError):  # a closed or broken stdout: the results file is what counts
        pass


def validate(results):
    """Raise ``jsonschema.ValidationError`` unless ``results`` follows the schema."""
    import jsonschema

    jsonschema.validate(results, json.loads(SCHEMA.read_text()))
