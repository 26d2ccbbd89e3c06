"""Trained models uploaded with the graded files: measured in the session, on the leaderboard.

The provided trainer trains tiny MADE and PixelCNN models on a small MNIST made of the grader's
held-out digits (the only MNIST a clone is sure to hold), the solution is uploaded with their
``.safetensors`` files, and the bits/dim the grader reports must equal an independent
evaluation of the same weights: the solution's own modules and ``bernoulli_nll``. Every bad
file of :mod:`autograder.corpus.models` gets one line naming what is wrong; two of them go
through the real grader with the solution, which keeps its 40 points.
"""
import json
import shutil
import subprocess
import sys

import pytest
import torch

from autograder import trained
from autograder.corpus import models as bad
from autograder.harness import results as results_mod
from autograder.selftests.conftest import ROOT, SOLUTION, copy_graded, run_grader
from autograder.selftests.test_adversarial import CONTAINER_MB, grade_isolated, sandbox_uid  # noqa: F401
from autograder.solution import evaluate, likelihood

TINY_RUNS = {"made": ["made", "--hidden", "32"],
             "pixelcnn": ["pixelcnn", "--channels", "4", "--layers", "1", "--kernel", "3"]}


def trained_on_heldout_digits(folder):
    """A t10k-only MNIST of the 1000 held-out digits, written as IDX files, in ``folder``."""
    folder.mkdir(parents=True)
    digits = trained.heldout_digits()
    n = len(digits)
    pixels = (digits.reshape(-1) * 255).to(torch.uint8).numpy().tobytes()
    (folder / "t10k-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + b"".join(
        v.to_bytes(4, "big") for v in (n, 28, 28)) + pixels)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + bytes(n))
    return folder


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """``{kind: path}`` of the trainer's exports after one epoch on 800 digits."""
    base = tmp_path_factory.mktemp("trained")
    data = trained_on_heldout_digits(base / "mnist")
    files = {}
    for kind, args in TINY_RUNS.items():
        out = base / f"run-{kind}"
        proc = subprocess.run([sys.executable, "-m", "autograder.solution.train", *args, "--dataset", "mnist",
                               "--data-dir", str(data), "--epochs", "1", "--num-train", "800", "--num-test", "100",
                               "--num-samples", "1", "--threads", "1", "--out", str(out)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert f"{kind}.safetensors" in proc.stdout.splitlines()[-1], "the trainer does not say it wrote the model"
        files[kind] = out / f"{kind}.safetensors"
    return files


def independent_bits_per_dim(kind, path):
    """The solution's modules with the file's weights (their own masks; the students' `make
    evaluate` loader), its ``bernoulli_nll`` and ``bits_per_dim``, on the held-out digits."""
    model, meta = evaluate.load_model(path)
    if kind == "made":
        config = {"input_dim": 784, "hidden_sizes": json.loads(meta["hidden_sizes"])}
    else:
        config = {k: int(meta[k]) for k in ("in_channels", "hidden_channels", "num_layers", "kernel_size")}
    count = trained.digits_for(kind, config)
    x = trained.heldout_digits(count)
    with torch.no_grad():
        nll = likelihood.bernoulli_nll(model(x), x).mean()
    return likelihood.bits_per_dim(nll, 784).item(), count


def test_uploaded_models_are_measured_as_an_independent_evaluation(model_files, tmp_path):
    upload = copy_graded(SOLUTION, tmp_path / "upload")
    for kind, path in model_files.items():
        shutil.copy(path, upload / path.name)
    results, _ = run_grader(upload, tmp_path / "results.json")
    results_mod.validate(results)
    assert results["score"] == 40.0
    test = next(t for t in results["tests"] if t["number"] == "7.1")
    assert test["status"] == "passed" and test["max_score"] == 0.0, test
    board = {entry["name"]: entry for entry in results["leaderboard"]}
    assert set(board) == {"MADE bits/dim", "PixelCNN bits/dim"} and all(e["order"] == "asc" for e in board.values())
    for kind, name in (("made", "MADE bits/dim"), ("pixelcnn", "PixelCNN bits/dim")):
        expected, count = independent_bits_per_dim(kind, model_files[kind])
        assert board[name]["value"] == pytest.approx(expected, abs=2e-5), (kind, board[name], expected)
        assert f"{expected:.4f} bits/dim" in test["output"] and f"on {count} MNIST test digits" in test["output"]
    assert "Trained models (measured in the test 'Your trained models')" in results["output"]


def test_no_model_is_a_note_not_a_failure(solution_results):
    results, _ = solution_results
    test = next(t for t in results["tests"] if t["number"] == "7.1")
    assert test["status"] == "passed" and "made.safetensors: not uploaded" in test["output"], test
    assert "leaderboard" not in results


@pytest.mark.parametrize("member", bad.BAD_MODELS, ids=lambda m: m.name)
def test_a_bad_model_file_gets_one_line_naming_what_is_wrong(member, tmp_path):
    (tmp_path / trained.MODEL_FILES[member.kind]).write_bytes(member.make())
    ok, text, board = trained.report(tmp_path)
    line = next(line for line in text.splitlines() if line.startswith(trained.MODEL_FILES[member.kind]))
    assert not ok and "not measured: " in line and member.says in line, line
    assert len(text.splitlines()) == len(trained.MODEL_FILES), f"a file's text made lines of its own:\n{text}"
    assert not any(entry["name"].lower().startswith(member.kind) for entry in board), board


def test_denormal_weights_cost_no_more_than_normal_ones(tmp_path):
    """1e-40 weights made every multiply-add a denormal one (80 times slower: 2.5 minutes of the
    session); with flush-to-zero they cost what any weights cost."""
    import time

    (tmp_path / "pixelcnn.safetensors").write_bytes(bad.denormal_pixelcnn())
    started = time.process_time()
    ok, text, board = trained.report(tmp_path)
    spent = time.process_time() - started
    assert ok and board, text
    assert spent < trained.MAX_CPU_S / 2, f"measuring took {spent:.1f} s of CPU"


def test_bad_model_files_cost_the_graded_files_nothing(tmp_path, sandbox_uid):  # noqa: F811
    """A renamed checkpoint pickle as made.safetensors and a 17 MB file as pixelcnn.safetensors:
    40/40, test 7.1 fails (0 points) with one line for each, memory within the container."""
    upload = copy_graded(SOLUTION, tmp_path / "upload")
    for name in ("renamed_pickle", "oversized"):
        member = next(m for m in bad.BAD_MODELS if m.name == name)
        (upload / trained.MODEL_FILES[member.kind if name != "oversized" else "pixelcnn"]).write_bytes(member.make())
    results, stdout, memory = grade_isolated(upload, tmp_path / "results.json", sandbox_uid)
    results_mod.validate(results)
    assert results["score"] == 40.0, stdout[-2000:]
    test = next(t for t in results["tests"] if t["number"] == "7.1")
    lines = test["output"].splitlines()
    assert test["status"] == "failed" and len(lines) == 2, test["output"]
    assert "a pickle" in lines[0] and "Larger than 16 MB" in lines[1], lines
    assert "leaderboard" not in results
    assert memory.total_mb < CONTAINER_MB, f"the grading peaked at {memory.total_mb:.0f} MB"


def test_a_damaged_copy_does_not_hide_a_good_one(tmp_path):
    """Two copies of made.safetensors: the one beside the graded files is too large, an older one
    is fine: the fine one is measured (before, the first copy's problem was reported instead)."""
    from autograder.harness import staging

    upload = copy_graded(SOLUTION, tmp_path / "upload" / "sub")
    (upload / "made.safetensors").write_bytes(b"\0" * (staging.MAX_MODEL_BYTES + 1))
    (tmp_path / "upload" / "old").mkdir()
    (tmp_path / "upload" / "old" / "made.safetensors").write_bytes(bad.exported("made"))
    staged = staging.stage(tmp_path / "upload", tmp_path / "staged")
    assert staged.models == {"made.safetensors": "old/made.safetensors"}, staged.models
    ok, text, board = trained.report(tmp_path / "staged" / "models")
    assert ok and [e["name"] for e in board] == ["MADE bits/dim"], text
