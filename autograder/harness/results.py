"""Build Gradescope's results.json from the grader's manifest and the children's outcomes.

Names, numbers, points and visibility come only from the manifest (collected before any
student code ran); a child contributes nothing but passed/failed and a capped message.
"""
import json
import os
import tempfile
from pathlib import Path

SECTIONS = {"1": "probability", "2": "likelihood", "3": "made", "4": "pixelcnn", "5": "sampling", "6": "training"}
SCHEMA = Path(__file__).with_name("results_schema.json")
OUTPUT_CAP = 3000


def _number_key(number):
    return [int(p) for p in number.split(".") if p.isdigit()]


def build(manifest, outcomes, execution_time, summary, not_run_message):
    """The results dict: every manifest test, scored from ``outcomes`` (missing → failed)."""
    tests = []
    for entry in sorted(manifest, key=lambda e: _number_key(e["number"])):
        outcome = outcomes.get(entry["id"], {"status": "failed", "output": not_run_message})
        passed = outcome["status"] == "passed"
        tests.append({
            "name": entry["name"],
            "number": entry["number"],
            "score": entry["max_score"] if passed else 0.0,
            "max_score": entry["max_score"],
            "status": "passed" if passed else "failed",
            "output": str(outcome.get("output", ""))[:OUTPUT_CAP],
            "visibility": entry["visibility"],
            "tags": [str(t) for t in entry["tags"]],
            "extra_data": {"seconds": float(outcome.get("seconds", 0.0))},
        })
    score = round(sum(t["score"] for t in tests), 6)
    return {
        "score": score,
        "execution_time": round(execution_time, 3),
        "output": summary,
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write(results, path):
    """Write ``results`` atomically, replacing whatever is at ``path`` (a planted file too)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    with os.fdopen(fd, "w") as out:
        json.dump(results, out, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def table(results):
    """A plain-text score table: one line per test, a subtotal per section, the total."""
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
            lines.append(f"    {mark} {t['score']:4.1f}/{t['max_score']:<4.1f} {t['name'][:78]}{hidden}")
            if t["status"] != "passed" and t["output"]:
                first = t["output"].strip().splitlines()[0]
                lines.append(f"         {first[:110]}")
    total = sum(t["max_score"] for t in results["tests"])
    lines.append(f"Total: {results['score']:.1f} / {total:.1f}   ({results['execution_time']:.1f} s)")
    return "\n".join(lines)


def validate(results):
    """Raise ``jsonschema.ValidationError`` unless ``results`` follows the schema."""
    import jsonschema

    jsonschema.validate(results, json.loads(SCHEMA.read_text()))
