"""Hostile submissions: each ends with a valid results.json, within the deadline, with no point
it did not earn and every point its untouched sections earned. Run as root (CI and Gradescope
both are), the children drop to the sandbox user, so the privilege separation is exercised."""
import time

import pytest

from autograder.corpus import adversarial
from autograder.harness import results as results_mod
from autograder.selftests.conftest import IS_ROOT, SECTIONS, run_grader, section_scores

DEADLINE_S = 240


@pytest.mark.parametrize("attack", adversarial.ATTACKS, ids=lambda a: a.name)
def test_attack_is_contained(attack, tmp_path):
    if attack.root_only and not IS_ROOT:
        pytest.skip("needs root: only then does student code run as a separate, unprivileged user")
    upload = adversarial.write(attack, tmp_path / "upload")
    out = tmp_path / "results" / "results.json"
    started = time.time()
    results, stdout = run_grader(upload, out, "--deadline", str(DEADLINE_S), timeout=DEADLINE_S + 60)
    elapsed = time.time() - started
    assert elapsed < DEADLINE_S + 30, f"grading took {elapsed:.0f} s"
    results_mod.validate(results)
    assert "forged" not in out.read_text()
    scores = section_scores(results)
    for section, full in SECTIONS.items():
        want = attack.expect.get(int(section), "full")
        got = scores[section]
        if want == "full":
            assert got == full, f"section {section} lost points it earned: {got}/{full}\n{stdout[-2500:]}"
        elif want == "zero":
            assert got == 0.0, f"section {section} earned {got} points it should not have"
        else:
            assert got < full, f"section {section} kept all its points despite the attack"
    # A forger that outlived grading would rewrite the file now; nothing may survive.
    time.sleep(2.0)
    assert "forged" not in out.read_text(), "results.json was rewritten after grading finished"


def test_ignored_files_are_listed(tmp_path):
    attack = next(a for a in adversarial.ATTACKS if a.name == "planted_files")
    upload = adversarial.write(attack, tmp_path / "upload")
    results, _ = run_grader(upload, tmp_path / "results.json")
    for name in ("conftest.py", "pytest.ini", "torch.py", "json.py", "sitecustomize.py", "results.json"):
        assert name in results["output"], f"{name} is not listed as ignored"


def test_syntax_error_names_file_and_line(tmp_path):
    attack = next(a for a in adversarial.ATTACKS if a.name == "syntax_error")
    results, _ = run_grader(adversarial.write(attack, tmp_path / "upload"), tmp_path / "results.json")
    made = [t for t in results["tests"] if t["number"].startswith("3.")]
    assert all("made.py has a syntax error" in t["output"] and "line" in t["output"] for t in made)
    other = [t for t in results["tests"] if not t["number"].startswith("3.")]
    assert all(t["status"] == "passed" for t in other)


def test_missing_file_fails_only_its_section(tmp_path):
    upload = adversarial.write(adversarial.Attack("no_sampling", "", {}), tmp_path / "upload")
    (upload / "sampling.py").unlink()
    results, _ = run_grader(upload, tmp_path / "results.json")
    scores = section_scores(results)
    assert scores["5"] == 0.0 and sum(scores.values()) == 34.0
    assert all("sampling.py was not found" in t["output"] for t in results["tests"] if t["number"].startswith("5."))
    assert "Missing (their tests score 0): sampling.py" in results["output"]
