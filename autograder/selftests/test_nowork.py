"""No-work uploads (``autograder/corpus/nowork.py``), graded through the real grader, score
exactly what their honest parts earn: an upload that implements nothing scores 0, whatever it
replays, fakes, patches or recognises.

An entry with a ``finding`` gained points without the work when it was written: its test fails
(with the finding in the message) until the grader stops giving those points away.
"""
import pytest

from autograder.corpus import nowork
from autograder.harness.staging import GRADED
from autograder.selftests.conftest import run_grader


def by_number(numbers):
    return sorted(numbers, key=lambda number: [int(part) for part in number.split(".")])


def test_corpus_is_complete():
    names = [entry.name for entry in nowork.ENTRIES]
    assert len(set(names)) == len(names)
    for entry in nowork.ENTRIES:
        assert set(entry.files) == set(GRADED), f"{entry.name} does not hold the six graded files"
        assert entry.expect in (frozenset(), nowork.MASKS_AND_LAYERS, nowork.SECTIONS_3_AND_4), entry.name
    assert {"replay", "autoregressive_standins", "zero_models", "model_free_samplers", "validation_only",
            "handle_aliasing", "probe_patches", "combined"} <= set(names)


@pytest.mark.parametrize("entry", nowork.ENTRIES, ids=lambda entry: entry.name)
def test_upload_scores_only_what_its_honest_parts_earn(entry, tmp_path):
    results, _ = run_grader(nowork.write(entry, tmp_path / "upload"), tmp_path / "results.json")
    numbers = {test["number"] for test in results["tests"]}
    assert entry.expect <= numbers, f"{entry.name} expects tests {by_number(entry.expect - numbers)} the grader lacks"
    # Tests worth points (7.1, the trained models' report, is worth 0 and passes without a model).
    passed = {test["number"] for test in results["tests"] if test["status"] == "passed" and test["max_score"]}
    extra, missing = by_number(passed - entry.expect), by_number(entry.expect - passed)
    known = f"\nKnown finding: {entry.finding}" if entry.finding else ""
    assert not extra, (f"{entry.name} ({entry.description}) passes tests {extra} without the work; it scores "
                       f"{results['score']}/40.{known}")
    assert not missing, f"{entry.name}: its honest parts should pass tests {missing}"
    earned = sum(test["max_score"] for test in results["tests"] if test["number"] in entry.expect)
    assert results["score"] == pytest.approx(earned), f"{entry.name} scores {results['score']}, its honest parts {earned}"
