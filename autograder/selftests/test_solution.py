"""The reference solution scores 40/40, the skeleton 0, through the real harness; results.json
follows Gradescope's schema; grading is deterministic; the suites have the declared shape."""
import json
import subprocess
import sys

import pytest

from autograder.harness import results as results_mod
from autograder.selftests.conftest import ROOT, SECTIONS, SKELETON, copy_graded, run_grader, section_scores


def test_solution_scores_full_marks(solution_results):
    results, stdout = solution_results
    failed = [f"{t['number']}: {t['output'][:300]}" for t in results["tests"] if t["status"] != "passed"]
    assert not failed, "the reference solution failed:\n" + "\n".join(failed)
    assert results["score"] == 40.0
    assert stdout.strip().splitlines()[-1].startswith("Total: 40.0 / 40.0")


def test_results_follow_gradescope_schema(solution_results):
    results_mod.validate(solution_results[0])


def test_schema_rejects_malformed_results(solution_results):
    import jsonschema

    broken = json.loads(json.dumps(solution_results[0]))
    broken["tests"][0]["status"] = "ok"
    with pytest.raises(jsonschema.ValidationError):
        results_mod.validate(broken)


def test_manifest_shape(solution_results):
    tests = solution_results[0]["tests"]
    assert sum(t["max_score"] for t in tests) == 40.0
    assert section_scores({"tests": [dict(t, score=t["max_score"]) for t in tests]}) == SECTIONS
    numbers = [t["number"] for t in tests]
    assert len(numbers) == len(set(numbers)), "test numbers must be unique"
    public = [t for t in tests if t["visibility"] == "visible"]
    hidden = [t for t in tests if t["visibility"] != "visible"]
    assert public and hidden
    assert all(t["visibility"] == "after_published" for t in hidden)
    assert 0 < sum(t["max_score"] for t in public) < 40


def test_every_graded_function_has_a_public_test(solution_results):
    graded = {"kl_divergence", "kl_divergence_logits", "gaussian_kl", "bernoulli_nll", "bits_per_dim",
              "made_degrees", "made_masks", "MaskedLinear", "MADE", "causal_mask", "MaskedConv2d", "PixelCNN",
              "sample_made", "sample_pixelcnn", "train_epoch", "evaluate", "checkpoint"}
    public_tags = {tag for t in solution_results[0]["tests"] if t["visibility"] == "visible" for tag in t["tags"]}
    assert graded <= public_tags, f"no public test for {sorted(graded - public_tags)}"


def test_grading_is_deterministic(solution_upload, solution_results, tmp_path):
    again, _ = run_grader(solution_upload, tmp_path / "results.json")
    strip = lambda r: [(t["number"], t["score"], t["status"], t["output"]) for t in r["tests"]]  # noqa: E731
    assert strip(again) == strip(solution_results[0])


def test_skeleton_scores_zero_with_not_implemented_messages(tmp_path):
    results, _ = run_grader(copy_graded(SKELETON, tmp_path / "skeleton"), tmp_path / "results.json")
    assert results["score"] == 0.0
    silent = [t["number"] for t in results["tests"] if t["max_score"] and "not implemented" not in t["output"]]
    assert not silent, f"tests {silent} fail the skeleton without saying 'not implemented'"


def test_public_suite_passes_on_the_solution_with_plain_pytest(tmp_path):
    """The student workflow: plain pytest, no harness, prints the points table."""
    pkg = copy_graded(ROOT / "autograder" / "solution", tmp_path / "submission")
    (pkg / "__init__.py").write_text("")
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PS1_SUBMISSION": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "PS1 points" in proc.stdout and "Total: 16.5/16.5" in proc.stdout
