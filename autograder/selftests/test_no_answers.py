"""Nothing shipped implements a graded function (issue: the handout gave answers away).

By behaviour: every module of dist/handout.zip (except the student's submission/) and every
module a worker can import at grading time is imported, and every function and class in it is
called with the arguments of each graded function; none may return the reference's output.
The text checks of test_package.py stay as well.
"""
import json
import subprocess
import sys
import textwrap
import zipfile

import pytest

from autograder import package
from autograder.harness import grade
from autograder.selftests.conftest import ROOT

CHECK = ("import sys; sys.path.append({root!r}); from autograder.selftests import answers; "
         "sys.exit(answers.main({folder!r}))")


def implementations(folder):
    """``(findings, summary)`` from answers.py run with ``folder`` first on sys.path."""
    proc = subprocess.run([sys.executable, "-c", CHECK.format(root=str(ROOT), folder=str(folder))], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if "implements" in line], lines[-1]


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    folder = tmp_path_factory.mktemp("handout")
    with zipfile.ZipFile(package.build("handout", folder / "handout.zip")) as archive:
        archive.extractall(folder / "unzipped")
    return folder / "unzipped" / package.HANDOUT_FOLDER


def test_handout_implements_no_graded_function(handout):
    found, summary = implementations(handout)
    assert summary["imported"] >= 15 and summary["checked"] > 1000, summary
    assert not found, f"the handout implements graded functions: {found}"


def test_worker_runtime_implements_no_graded_function(tmp_path):
    runtime = grade.build_runtime(tmp_path / "runtime")
    found, summary = implementations(runtime)
    assert summary["imported"] >= 5, summary
    assert not found, f"modules a worker can import implement graded functions: {found}"


def test_the_check_finds_an_implementation(tmp_path):
    """The check itself can fail: a helper module holding a KL and a causal mask is caught."""
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("")
    (tmp_path / "helpers" / "maths.py").write_text(textwrap.dedent('''
        import torch

        def divergence(p, q, dim=-1):
            return torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p)).sum(dim)

        def triangle(k, kind):
            mask = torch.zeros(k, k)
            mask[: k // 2] = 1
            mask[k // 2, : k // 2 + (kind == "B")] = 1
            return mask
    '''))
    found, _ = implementations(tmp_path)
    assert {(f["callable"], f["implements"]) for f in found} == {("divergence", "kl_divergence"),
                                                                ("triangle", "causal_mask")}
