"""Every realistic buggy submission loses points in its own section and nowhere else, and
docs/corpus.md says which tests catch it."""
import pytest

from autograder.corpus import buggy, report
from autograder.selftests.conftest import SECTIONS, run_grader, section_scores

DOCUMENTED = report.parse_table(report.DOC.read_text()) if report.DOC.exists() else {}


def test_corpus_is_large_and_covers_every_section():
    assert len(buggy.BUGS) >= 30
    assert {bug.section for bug in buggy.BUGS} == {1, 2, 3, 4, 5, 6}
    assert len({bug.name for bug in buggy.BUGS}) == len(buggy.BUGS)


@pytest.mark.parametrize("bug", buggy.BUGS, ids=lambda bug: bug.name)
def test_bug_costs_points_only_in_its_section(bug, tmp_path):
    upload = tmp_path / "upload"
    for name, source in buggy.render(bug).items():
        upload.mkdir(exist_ok=True)
        (upload / name).write_text(source)
    results, _ = run_grader(upload, tmp_path / "results.json")
    scores = section_scores(results)
    section = str(bug.section)
    assert scores[section] < SECTIONS[section], f"{bug.name} ({bug.description}) is not caught"
    elsewhere = {s: got for s, got in scores.items() if s != section and got != SECTIONS[s]}
    assert not elsewhere, f"{bug.name} also costs points in sections {elsewhere}"
    caught = report.caught_by(results)
    assert caught == DOCUMENTED.get(bug.name), (
        f"docs/corpus.md lists {DOCUMENTED.get(bug.name)} for {bug.name}, the grader fails {caught}; "
        "regenerate it with `python -m autograder.corpus.report`")


def test_every_test_catches_some_bug(solution_results):
    """No test that cannot fail: each graded test fails on at least one buggy submission. (7.1
    measures uploaded weights, not code: the bad files of corpus/models.py fail it, see
    test_trained_models.py.)"""
    numbers = {t["number"] for t in solution_results[0]["tests"] if "trained models" not in t["tags"]}
    caught = {number for tests in DOCUMENTED.values() for number in tests}
    assert numbers <= caught, f"tests {sorted(numbers - caught)} catch none of the corpus's bugs"


MASK_TESTS = {"made.py": {"3.1", "3.2", "3.5", "3.6"}, "pixelcnn.py": {"4.1", "4.5"}}
INTEGRATION = {"made.py": {"3.4", "3.8", "3.9"}, "pixelcnn.py": {"4.3", "4.4", "4.7", "4.8", "4.9"}}
FIX_FIRST = {"made.py": "fix made_masks first", "pixelcnn.py": "fix causal_mask first"}


@pytest.mark.parametrize("name", ["centre_in_type_A", "output_mask_not_strict"])
def test_a_mask_bug_costs_the_mask_tests_and_the_labelled_integration_tests_only(name, tmp_path):
    """One bug, one place: a one-character mask bug fails the mask tests and the integration
    tests (which say which test to fix first), and no message blames the forward pass."""
    bug = next(b for b in buggy.BUGS if b.name == name)
    results, _ = run_grader(buggy.write(bug, tmp_path / "upload"), tmp_path / "results.json")
    failed = {t["number"]: t["output"] for t in results["tests"] if t["status"] != "passed"}
    assert set(failed) <= MASK_TESTS[bug.file] | INTEGRATION[bug.file], sorted(failed)
    for number in set(failed) & INTEGRATION[bug.file]:
        first = failed[number].splitlines()[0]
        assert "integration test" in first and FIX_FIRST[bug.file] in first, failed[number][:400]
        assert "forward" not in failed[number].split("Hint:")[-1], failed[number][:1500]
