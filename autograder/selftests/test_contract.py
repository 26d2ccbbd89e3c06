"""docs/contract.md maps every clause of the graded API to the tests that check it and to the
buggy submissions those tests catch; this keeps the table complete and true."""
import inspect
import json
import re

import pytest

from autograder.corpus import buggy, report
from autograder.harness import results
from autograder.selftests.conftest import ROOT
from autograder.solution import likelihood, made, pixelcnn, probability, sampling, training

CONTRACT = ROOT / "docs" / "contract.md"
MODULES = (probability, likelihood, made, pixelcnn, sampling, training)
ROW = re.compile(r"^\| `(?P<id>[A-Za-z0-9_.]+)` \| (?P<statement>.+?) \| (?P<tests>[^|]+) \| (?P<bugs>[^|]+) \|$")
KEYWORDS = {"errors": r"ValueError", "dtype": r"dtype|float64|LongTensor|float mask|floating tensor",
            "device": r"device", "mode": r"eval mode|train mode|no_grad|model\.train|model\.eval"}
# Clauses that only a grader with CUDA could check (the tests cell says so).
NEEDS_GPU = {"load_checkpoint.device"}


def rows():
    table = {}
    for line in CONTRACT.read_text().splitlines():
        match = ROW.match(line)
        if match:
            assert match["id"] not in table, f"clause {match['id']} has two rows"
            table[match["id"]] = {"tests": re.findall(r"\d+\.\d+", match["tests"]) if not match["tests"].startswith("(")
                                  else [], "bugs": re.findall(r"`([a-z0-9_A-Z]+)`", match["bugs"]),
                                  "gap": match["tests"].startswith("(")}
    return table


def graded_callables():
    """``(clause prefix, callable, is_class)`` for every graded function, class and method."""
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                yield name, obj, True
                for method in ("forward", "set_mask"):
                    if method in vars(obj):
                        yield f"{name}.{method}", vars(obj)[method], False
            else:
                yield name, obj, False


def required_clauses():
    """The clauses the solution itself implies: one per parameter, ``value`` for functions and
    methods, and the keyword clauses of each docstring."""
    required = set()
    for prefix, obj, is_class in graded_callables():
        signature = inspect.signature(obj.__init__ if is_class else obj)
        required |= {f"{prefix}.{p}" for p in signature.parameters if p != "self"}
        if not is_class:
            required.add(f"{prefix}.value")
        doc = inspect.getdoc(obj) or ""
        required |= {f"{prefix}.{clause}" for clause, pattern in KEYWORDS.items() if re.search(pattern, doc)}
    return required


def test_every_clause_has_a_row():
    missing = sorted(required_clauses() - set(rows()))
    assert not missing, f"docs/contract.md has no row for {missing}"


def test_rows_name_real_tests_and_every_test_has_a_row():
    tests = json.loads(results.EXPECTED_TESTS.read_text())["tests"]
    manifest = {t["number"] for t in tests}
    table = rows()
    unknown = {clause: row["tests"] for clause, row in table.items() if set(row["tests"]) - manifest}
    assert not unknown, f"rows name tests that do not exist: {unknown}"
    untested = sorted(clause for clause, row in table.items() if not row["tests"] and clause not in NEEDS_GPU)
    assert not untested, f"clauses without a test: {untested}"
    covered = {t for row in table.values() for t in row["tests"]}
    # 7.1 measures uploaded weights (data the provided trainer writes), not a clause of the API.
    api_tests = {t["number"] for t in tests if "trained models" not in t["tags"]}
    assert api_tests <= covered, f"tests {sorted(api_tests - covered)} check no clause of docs/contract.md"


def test_every_row_fails_on_a_corpus_member_its_tests_catch():
    """Shown, not claimed: docs/corpus.md (checked against real gradings by test_corpus.py)
    says which tests catch each bug; each row needs a bug caught by one of its tests."""
    bugs = {bug.name for bug in buggy.BUGS}
    caught = report.parse_table(report.DOC.read_text())
    problems = []
    for clause, row in rows().items():
        if row["gap"]:
            continue
        if not row["bugs"]:
            problems.append(f"{clause}: no corpus member")
        for name in row["bugs"]:
            if name not in bugs:
                problems.append(f"{clause}: {name} is not in autograder/corpus/buggy.py")
            elif not set(caught.get(name, ())) & set(row["tests"]):
                problems.append(f"{clause}: {name} is caught by {caught.get(name)}, none of {row['tests']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("clause", sorted(NEEDS_GPU))
def test_gaps_are_still_gaps(clause):
    assert rows()[clause]["gap"], f"{clause} has tests now: remove it from NEEDS_GPU"
