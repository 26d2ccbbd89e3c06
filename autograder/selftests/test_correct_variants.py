"""Every correct alternative submission (autograder/corpus/correct.py) scores 40/40 through the
real grader: a false failure on a correct solution is as bad as a missed bug."""
import pytest

from autograder.corpus import correct
from autograder.selftests.conftest import SECTIONS, SOLUTION, run_grader


def test_variants_are_distinct_and_really_differ():
    names = [variant.name for variant in correct.VARIANTS]
    assert len(names) == len(set(names)), f"duplicate variant names: {sorted({n for n in names if names.count(n) > 1})}"
    assert {variant.section for variant in correct.VARIANTS} == {int(s) for s, points in SECTIONS.items() if points}
    rendered = {}
    for variant in correct.VARIANTS:
        files = correct.render(variant)
        changed = [name for name, source in files.items() if source != (SOLUTION / name).read_text()]
        assert changed == [variant.file], f"{variant.name} changes {changed}, not just {variant.file}"
        compile(files[variant.file], f"{variant.name}/{variant.file}", "exec")
        rendered[variant.name] = files[variant.file]
    same = [(a, b) for a in rendered for b in rendered if a < b and rendered[a] == rendered[b]]
    assert not same, f"variants that render the same source: {same}"


@pytest.mark.timeout(900)  # a whole grading: pytest.ini's 30 s is per student call
@pytest.mark.parametrize("variant", correct.VARIANTS, ids=lambda variant: variant.name)
def test_correct_variant_scores_full_marks(variant, tmp_path):
    upload = correct.write(variant, tmp_path / "upload")
    results, _ = run_grader(upload, tmp_path / "results.json")
    failed = [f"{t['number']} ({t['score']}/{t['max_score']}, {t['status']}): {t.get('output', '')[:1500]}"
              for t in results["tests"] if t["status"] != "passed" or t["score"] != t["max_score"]]
    assert not failed and results["score"] == 40.0, (
        f"{variant.name} ({variant.description}) is correct but scores {results['score']}/40:\n" + "\n\n".join(failed))
