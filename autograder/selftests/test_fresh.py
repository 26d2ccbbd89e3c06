"""Fresh examples on the grader: unpredictable for an upload, the same for the same upload.

The public tests take their examples from the recorded file locally and from the grading key
on the grader (an HMAC of the staff-only secret and the staged upload's hash). The key reaches
the session over a pipe only: no worker can read it from its arguments, environment or files.
"""
import json
import os
import stat
import subprocess
import sys
import zipfile

import pytest
import torch

from autograder import examples, package
from autograder.corpus import adversarial, buggy
from autograder.harness import secret
from autograder.selftests.conftest import ROOT, run_grader
from tests.probes import wire
from tests.support import examples as public_examples


def test_the_same_key_draws_the_same_examples_and_another_key_others():
    a, b = examples.Fresh(b"key one"), examples.Fresh(b"key two")
    for name in ("kl_divergence", "made_degrees", "masked_conv", "train_epoch"):
        first, again, other = a.example("1.1", name), a.example("1.1", name), b.example("1.1", name)
        assert repr(first) == repr(again), name
        assert repr(first) != repr(other), name
    assert a.seed("3.4", "weights") != a.seed("3.5", "weights"), "each test draws its own numbers"


def test_locally_the_recorded_examples_are_used():
    recorded = public_examples.Recorded()
    assert not recorded.fresh
    expected = wire.load_file(public_examples.RECORDED)["kl_divergence"]
    assert torch.equal(recorded.example("1.1", "kl_divergence")["p"], expected["p"])
    assert recorded.seed("5.1", "model") == recorded.seed("5.1", "model")


def test_the_grading_key_depends_on_the_upload(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        for name in buggy.GRADED:
            (tmp_path / folder / name).write_text((buggy.SOLUTION / name).read_text())
    (tmp_path / "b" / "made.py").write_text((buggy.SOLUTION / "made.py").read_text() + "\n# a comment\n")
    digests = [secret.upload_digest(tmp_path / folder) for folder in ("a", "b")]
    assert digests[0] != digests[1]
    assert secret.grading_key(b"s" * 32, digests[0]) == secret.grading_key(b"s" * 32, digests[0])
    assert secret.grading_key(b"s" * 32, digests[0]) != secret.grading_key(b"t" * 32, digests[0])


def test_the_secret_is_private_and_stays(tmp_path):
    path = tmp_path / "secret.key"
    first = secret.load(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(first) == secret.SECRET_BYTES
    assert secret.load(path) == first, "the secret is created once, then kept"
    assert "autograder/secret.key" in (ROOT / ".gitignore").read_text().split()


def test_a_secret_another_grading_creates_meanwhile_is_the_secret(tmp_path, monkeypatch):
    """Two first gradings at once (a fresh clone's `make test`) both find no secret: the one
    that creates it second uses the first one's, whole, instead of failing on it."""
    path = tmp_path / "secret.key"
    theirs = secret.load(path)
    monkeypatch.setattr(type(path), "exists", lambda self: False)  # the check ran before theirs was made
    assert secret.load(path) == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"], "a draft secret was left behind"


def test_the_secret_ships_in_the_autograder_zip_only(tmp_path):
    built = package.build("autograder", tmp_path / "autograder.zip")
    with zipfile.ZipFile(built) as archive:
        assert archive.read("autograder/secret.key") == secret.load()
    with zipfile.ZipFile(package.build("handout", tmp_path / "handout.zip")) as archive:
        assert not [n for n in archive.namelist() if "secret" in n]


def _message(results, number):
    return next(t["output"] for t in results["tests"] if t["number"] == number)


def test_fresh_examples_differ_between_uploads_and_not_between_gradings(tmp_path):
    """A bug that shows the expected and actual values: two gradings of one upload give the same
    results.json; the same bug with a comment added (another hash) gets other numbers."""
    bug = next(b for b in buggy.BUGS if b.name == "kl_arguments_swapped")
    upload = buggy.write(bug, tmp_path / "upload")
    first, _ = run_grader(upload, tmp_path / "first.json")
    again, _ = run_grader(upload, tmp_path / "again.json")
    strip = lambda r: [(t["number"], t["score"], t["output"]) for t in r["tests"]]  # noqa: E731
    assert strip(first) == strip(again)
    (upload / "likelihood.py").write_text((upload / "likelihood.py").read_text() + "\n# another upload\n")
    other, _ = run_grader(upload, tmp_path / "other.json")
    assert first["score"] == other["score"], "the same bug loses the same points"
    assert _message(first, "1.1") != _message(other, "1.1") and "expected" in _message(first, "1.1")


KEY_HUNT = r'''
import os as _os
def _hunt():
    found = []
    for path in ["/proc/self/cmdline", "/proc/self/environ"] + [f"/proc/{p}/{f}" for p in
                 (_os.getppid(), 1) for f in ("cmdline", "environ")]:
        try:
            found.append(open(path, "rb").read().decode(errors="replace"))
        except OSError:
            pass
    for fd in range(0, 64):
        try:
            found.append(_os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    found.append(repr(dict(_os.environ)))
    raise ValueError(" | ".join(found)[:1900])
'''


def test_no_worker_can_read_the_grading_key(tmp_path):
    """kl_divergence dumps what a worker can read about its process (arguments, environment,
    open files, its parents') into its error message, which results.json shows: the key of
    this grading must not be in it."""
    source = adversarial.in_function(adversarial.prepend(adversarial.solution("probability.py"), KEY_HUNT),
                                     "def kl_divergence(", "_hunt()\n")
    upload = tmp_path / "upload"
    upload.mkdir()
    for name in buggy.GRADED:
        (upload / name).write_text(source if name == "probability.py" else (buggy.SOLUTION / name).read_text())
    results, _ = run_grader(upload, tmp_path / "results.json")
    key = secret.grading_key(secret.load(), secret.upload_digest(upload)).hex()
    text = json.dumps(results)
    assert "ValueError" in _message(results, "1.1"), "the dump did not reach results.json"
    assert key not in text and key[:16] not in text


@pytest.mark.skipif(sys.platform != "linux", reason="the busy loops are a Linux process pair")
def test_a_loaded_machine_changes_no_score(solution_upload, solution_results, tmp_path):
    """Limits are CPU time: the solution graded while every core runs a busy loop gets the same
    results.json (timings aside)."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        loaded, _ = run_grader(solution_upload, tmp_path / "results.json")
    finally:
        for proc in loops:
            proc.kill()
            proc.wait()
    strip = lambda r: [(t["number"], t["score"], t["status"], t["output"]) for t in r["tests"]]  # noqa: E731
    assert loaded["score"] == 40.0
    assert strip(loaded) == strip(solution_results[0])


def test_the_grader_never_asks_for_a_recorded_input():
    """Resubmitting until the fresh draw hits a recorded example gains nothing: the grader's
    discrete inputs (made_degrees/made_masks arguments, causal mask sizes, of which every
    smaller one sits at a larger mask's centre) never are recorded ones."""
    recorded = public_examples.Recorded().all()
    masks = [e["k"] for e in recorded["causal_mask"]] + [recorded["masked_conv"]["kernel_size"]]
    masks += [m["k"] for name in ("pixelcnn_autoregressive", "pixelcnn_nll") for m in recorded[name]["masks"]]
    largest = max(masks)
    for n in range(300):
        fresh = examples.Fresh(f"resubmission {n}".encode())
        for name in ("made_degrees", "made_masks"):
            assert fresh.example("3.1", name)["args"] != recorded[name]["args"]
        assert min(e["k"] for e in fresh.example("4.1", "causal_mask")) > largest
