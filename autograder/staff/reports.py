"""What a regrade writes and prints: scores.csv, tests.csv, changes.csv and their text forms.

Files under the output folder may hold names and e-mail addresses (they stay on the staff
member's disk); what is printed names submissions by id only, unless ``names`` is asked for.
"""
import csv
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import UsageError

SCORES_FIXED = ["submission_id", "sids", "names", "emails", "status", "total"]
TESTS_COLUMNS = ["number", "name", "max_score", "passed", "failed", "timed_out", "pass_rate",
                 "top_failure", "top_failure_count"]
CHANGES_COLUMNS = ["scope", "submission_id", "sids", "test", "old", "new", "change"]
TEST_NUMBER = re.compile(r"^\d+(\.\d+)*$")
EPS = 1e-9


def printable(text):
    """``text`` safe for a terminal: control characters, escape sequences and bidi overrides
    (a student's name or message could carry them) are shown escaped, never interpreted."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))


def number_key(number):
    return [int(p) for p in str(number).split(".") if p.isdigit()]


def _num(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _fmt(value):
    """Scores as written to CSV: ``40``, ``33.5``, ``12.345678`` (no float noise, no lost digits)."""
    return "" if value is None else f"{round(value, 6):.12g}"


# --- one table of scores, from a run or from an earlier scores.csv ------------------------------

@dataclass
class ScoreTable:
    rows: dict                                       # id -> {"sids", "names", "total", "tests": {number: score}}
    numbers: list                                    # test numbers, in order
    max_scores: dict = field(default_factory=dict)   # number -> max_score (empty where unknown)
    names: dict = field(default_factory=dict)        # number -> test name


def table_from_rows(rows):
    """``rows``: ``[(Submission, status, results dict or None)]`` → a :class:`ScoreTable`."""
    table = ScoreTable({}, [])
    for sub, status, results in rows:
        tests = (results or {}).get("tests", [])
        for t in tests:
            table.max_scores[t["number"]] = float(t["max_score"])
            table.names[t["number"]] = t["name"]
        table.rows[sub.id] = {
            "sids": "; ".join(sub.sids), "names": "; ".join(sub.names), "emails": "; ".join(sub.emails),
            "status": status, "total": float(results["score"]) if results else None,
            "tests": {t["number"]: float(t["score"]) for t in tests},
        }
    table.numbers = sorted(table.max_scores, key=number_key)
    return table


def write_scores(path, table):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(SCORES_FIXED + table.numbers)
        for ident, row in table.rows.items():
            writer.writerow([ident, row["sids"], row["names"], row["emails"], row["status"], _fmt(row["total"])]
                            + [_fmt(row["tests"].get(n)) for n in table.numbers])


def read_scores(path):
    """Read a scores.csv written by an earlier regrade (max scores from the tests.csv beside it)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist")
    with open(path, newline="", encoding="utf-8") as src:
        reader = csv.DictReader(src)
        if not reader.fieldnames or "submission_id" not in reader.fieldnames or "total" not in reader.fieldnames:
            raise UsageError(f"{path} is not a regrade scores.csv (needs submission_id and total columns)")
        numbers = sorted((c for c in reader.fieldnames if TEST_NUMBER.match(c)), key=number_key)
        rows = {}
        for rec in reader:
            rows[rec["submission_id"]] = {
                "sids": rec.get("sids", ""), "names": rec.get("names", ""), "emails": rec.get("emails", ""),
                "status": rec.get("status", ""), "total": _num(rec["total"]),
                "tests": {n: _num(rec[n]) for n in numbers if _num(rec[n]) is not None},
            }
    table = ScoreTable(rows, numbers)
    tests_csv = path.with_name("tests.csv")
    if tests_csv.is_file():
        with open(tests_csv, newline="", encoding="utf-8") as src:
            for rec in csv.DictReader(src):
                if _num(rec.get("max_score")) is not None:
                    table.max_scores[rec["number"]] = _num(rec["max_score"])
                    table.names[rec["number"]] = rec.get("name", "")
    return table


# --- per-test summary -----------------------------------------------------------------------------

def _first_line(text):
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def is_timeout(test):
    # tests.support.client.TIMED_OUT, which every time-limit message holds
    return test["status"] != "passed" and "timed out after" in _first_line(test.get("output", ""))


def test_summary(results_list):
    """One dict per test over every graded results dict: passes, failures, timeouts and the most
    common first line of a failure message (timeouts are counted apart, not as failures)."""
    stats = {}
    for results in results_list:
        for t in results["tests"]:
            s = stats.setdefault(t["number"], {"number": t["number"], "name": t["name"], "max_score": t["max_score"],
                                               "passed": 0, "failed": 0, "timed_out": 0, "lines": Counter()})
            if t["status"] == "passed":
                s["passed"] += 1
            elif is_timeout(t):
                s["timed_out"] += 1
            else:
                s["failed"] += 1
                s["lines"][_first_line(t.get("output", ""))] += 1
    summary = []
    for number in sorted(stats, key=number_key):
        s = stats.pop(number)
        lines = s.pop("lines")
        top, count = lines.most_common(1)[0] if lines else ("", 0)
        graded = s["passed"] + s["failed"] + s["timed_out"]
        summary.append({**s, "pass_rate": s["passed"] / graded if graded else 0.0,
                        "top_failure": top, "top_failure_count": count})
    return summary


def write_tests(path, summary):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=TESTS_COLUMNS)
        writer.writeheader()
        for s in summary:
            writer.writerow({**s, "max_score": _fmt(s["max_score"]), "pass_rate": f"{s['pass_rate']:.3f}"})


def _bar(rate, width=20):
    filled = round(rate * width)
    return "#" * filled + "." * (width - filled)


def format_tests(summary, graded):
    """The per-test table with its text chart: pass-rate bars, most failed tests stand out."""
    lines = [f"Per test, over {graded} graded submission(s) (pass rate as a bar; the full table is tests.csv):",
             f"  {'test':<7}{'pass':>5}{'fail':>5}{'t/o':>5}  {'pass rate':<26}most common first failure line"]
    for s in summary:
        rate = f"{_bar(s['pass_rate'])} {s['pass_rate']:4.0%}"
        failure = f"{s['top_failure_count']}x {printable(s['top_failure'])}" if s["top_failure_count"] else ""
        lines.append(f"  {s['number']:<7}{s['passed']:>5}{s['failed']:>5}{s['timed_out']:>5}  {rate:<26}"
                     f"{failure[:70]}")
    return "\n".join(lines)


def write_chart(path, summary):
    """A PNG bar chart of pass/fail/timeout shares by test; skipped (returns False) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    numbers = [s["number"] for s in summary]
    shares = {key: [] for key in ("passed", "failed", "timed_out")}
    for s in summary:
        graded = max(1, s["passed"] + s["failed"] + s["timed_out"])
        for key in shares:
            shares[key].append(s[key] / graded)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * len(numbers)), 3.2))
    bottom = [0.0] * len(numbers)
    for key, colour in (("passed", "#4c9a2a"), ("failed", "#c0392b"), ("timed_out", "#e67e22")):
        ax.bar(numbers, shares[key], bottom=bottom, color=colour, label=key.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, shares[key])]
    ax.set_ylabel("share of submissions")
    ax.set_ylim(0, 1)
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    # Above the axes, not over them: every bar reaches 1.0, so any corner inside hides one.
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=7, frameon=False)
    ax.set_title("Pass rate by test", pad=18)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# --- comparing two runs -------------------------------------------------------------------------

@dataclass
class Changes:
    submissions: list      # {"id", "sids", "old", "new", "change", "tests": [(number, old, new)]}, changed first
    tests: list            # {"number", "old_max", "new_max", "gain", "lose", "net"}
    only_new: list         # submission ids graded now but not in the old file
    only_old: list
    tests_added: list
    tests_removed: list

    def count(self, sign):
        return sum(1 for s in self.submissions if s["change"] is not None and sign * s["change"] > EPS)

    @property
    def max_changed(self):
        return [t for t in self.tests if t["old_max"] is not None and abs(t["old_max"] - t["new_max"]) > EPS]


def _delta(old, new):
    return None if old is None or new is None else new - old


def compare(old, new):
    """What changed from ``old`` to ``new`` (two :class:`ScoreTable`), largest changes first."""
    common_tests = [n for n in new.numbers if n in old.numbers]
    per_test = {n: {"number": n, "old_max": old.max_scores.get(n), "new_max": new.max_scores.get(n),
                    "gain": 0, "lose": 0, "net": 0.0} for n in common_tests}
    submissions = []
    for ident, row in new.rows.items():
        if ident not in old.rows:
            continue
        before = old.rows[ident]
        changed = []
        for n in common_tests:
            a, b = before["tests"].get(n), row["tests"].get(n)
            d = _delta(a, b)
            if d is not None and abs(d) > EPS:
                changed.append((n, a, b))
                per_test[n]["gain" if d > 0 else "lose"] += 1
                per_test[n]["net"] += d
        submissions.append({"id": ident, "sids": row["sids"], "names": row["names"], "old": before["total"],
                            "new": row["total"], "change": _delta(before["total"], row["total"]), "tests": changed})
    submissions.sort(key=lambda s: (-abs(s["change"] or 0.0), s["id"]))
    tests = sorted(per_test.values(), key=lambda t: (-abs(t["net"]), number_key(t["number"])))
    return Changes(submissions, tests,
                   only_new=[i for i in new.rows if i not in old.rows],
                   only_old=[i for i in old.rows if i not in new.rows],
                   tests_added=[n for n in new.numbers if n not in old.numbers],
                   tests_removed=[n for n in old.numbers if n not in new.numbers])


def _plural(n, one, many):
    return f"{n} {one if n == 1 else many}"


def headline(changes):
    """E.g. ``12 submissions gain points, 3 lose, 40 unchanged; 0 tests changed max_score``."""
    gain, lose = changes.count(+1), changes.count(-1)
    unknown = sum(1 for s in changes.submissions if s["change"] is None)
    same = len(changes.submissions) - gain - lose - unknown
    text = (f"{_plural(gain, 'submission gains', 'submissions gain')} points, {lose} lose, {same} unchanged; "
            f"{_plural(len(changes.max_changed), 'test', 'tests')} changed max_score")
    extra = [f"{unknown} without a score in one of the runs (grading error)"] if unknown else []
    if changes.tests_added or changes.tests_removed:
        extra.append(f"tests added: {', '.join(changes.tests_added) or 'none'}; "
                     f"removed: {', '.join(changes.tests_removed) or 'none'}")
    if changes.only_new or changes.only_old:
        extra.append(f"{len(changes.only_new)} submission(s) only in this run, "
                     f"{len(changes.only_old)} only in the old one")
    return "; ".join([text, *extra])


def format_changes(changes, names=False, limit=25):
    """The text report: every changed submission (largest first, up to ``limit``), then every test."""
    moved = [s for s in changes.submissions if s["change"] is None or abs(s["change"]) > EPS]
    lines = [headline(changes)]
    if moved:
        lines.append("Per submission, largest change first (score old -> new; tests that moved):")
        who = {s["id"]: printable(f"{s['id']} {s['names']}" if names and s["names"] else s["id"])[:40]
               for s in moved[:limit]}
        width = max(len(w) for w in who.values())
        for s in moved[:limit]:
            tests = ", ".join(f"{n} {_fmt(a)}->{_fmt(b)}" for n, a, b in s["tests"])
            change = "?" if s["change"] is None else format(s["change"], "+g")
            old, new = _fmt(s["old"]) or "?", _fmt(s["new"]) or "?"
            lines.append(f"  {who[s['id']]:<{width}} {old:>6} -> {new:<6} {change:>6}  {tests}")
        if len(moved) > limit:
            lines.append(f"  ... and {len(moved) - limit} more (changes.csv has them all)")
    touched = [t for t in changes.tests if t["gain"] or t["lose"] or t in changes.max_changed]
    if touched:
        lines.append("Per test (max_score old -> new; submissions that gain / lose; net points):")
        for t in touched:
            lines.append(f"  {t['number']:<7} max {_fmt(t['old_max']) or '?':>4} -> {_fmt(t['new_max']):<4} "
                         f"{t['gain']:>4} gain {t['lose']:>4} lose   net {t['net']:+g}")
    return "\n".join(lines)


def write_changes(path, changes, old_table, new_table):
    """changes.csv, long form: per-submission totals, then per-submission tests, then max scores."""
    rows = []
    for s in changes.submissions:
        if s["change"] is None or abs(s["change"]) > EPS:
            rows.append(["total", s["id"], s["sids"], "", _fmt(s["old"]), _fmt(s["new"]), _fmt(s["change"]),
                         abs(s["change"] or 0.0)])
    for s in changes.submissions:
        for n, a, b in s["tests"]:
            rows.append(["test", s["id"], s["sids"], n, _fmt(a), _fmt(b), _fmt(b - a), abs(b - a)])
    for t in changes.max_changed:
        rows.append(["max_score", "", "", t["number"], _fmt(t["old_max"]), _fmt(t["new_max"]),
                     _fmt(t["new_max"] - t["old_max"]), abs(t["new_max"] - t["old_max"])])
    for ident in changes.only_new:  # graded now, absent before: old score blank
        row = new_table.rows[ident]
        rows.append(["total", ident, row["sids"], "", "", _fmt(row["total"]), "", 0.0])
    for ident in changes.only_old:  # in the old file, not in this export: new score blank
        row = old_table.rows[ident]
        rows.append(["total", ident, row["sids"], "", _fmt(row["total"]), "", "", 0.0])
    order = {"total": 0, "test": 1, "max_score": 2}
    rows.sort(key=lambda r: (order[r[0]], -r[-1], r[1], number_key(r[3])))
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CHANGES_COLUMNS)
        writer.writerows(r[:-1] for r in rows)
