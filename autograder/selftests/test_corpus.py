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
    """No test that cannot fail: each graded test fails on at least one buggy submission."""
    numbers = {t["number"] for t in solution_results[0]["tests"]}
    caught = {number for tests in DOCUMENTED.values() for number in tests}
    assert numbers <= caught, f"tests {sorted(numbers - caught)} catch none of the corpus's bugs"
