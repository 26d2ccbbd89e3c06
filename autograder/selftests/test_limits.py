"""The per-test limit is the same locally and on the grader: 10 s of CPU time of the student's
side of the test (a wall-clock backstop behind it), and a timeout names the call that ran."""
import os
import subprocess
import sys

from autograder.corpus import adversarial, buggy
from autograder.selftests.conftest import ROOT, run_grader
from tests.support import client

LOOP = "while True:\n    pass\n"


def _upload(folder, name, source):
    folder.mkdir(parents=True, exist_ok=True)
    for graded in buggy.GRADED:
        (folder / graded).write_text(source if graded == name else (buggy.SOLUTION / graded).read_text())
    return folder


def test_grader_timeout_names_the_call(tmp_path):
    source = adversarial.in_function(adversarial.solution("made.py"), "def made_degrees", LOOP)
    results, _ = run_grader(_upload(tmp_path / "upload", "made.py", source), tmp_path / "results.json")
    output = next(t["output"] for t in results["tests"] if t["number"] == "3.1")
    assert output.startswith("made_degrees("), output
    assert f"{client.TIMED_OUT} {client.CPU_LIMIT_S:.0f} s of CPU time" in output, output
    others = [t for t in results["tests"] if not t["number"].startswith("3.")]
    assert all(t["status"] == "passed" for t in others)


def test_local_runs_apply_the_same_cpu_limit(tmp_path):
    source = adversarial.in_function(adversarial.solution("probability.py"), "def gaussian_kl", LOOP)
    _upload(tmp_path / "submission", "probability.py", source)
    (tmp_path / "submission" / "__init__.py").write_text("")
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_probability.py", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PS1_SUBMISSION": str(tmp_path)})
    assert "gaussian_kl(mu_p, logvar_p, mu_q, logvar_q)" in proc.stdout, proc.stdout[-3000:]
    assert f"{client.TIMED_OUT} {client.CPU_LIMIT_S:.0f} s of CPU time" in proc.stdout, proc.stdout[-3000:]
    assert "Total: 2.0/3.0" in proc.stdout, proc.stdout[-2000:]
