"""The warm grading service (autograder/harness/service.py) gives each upload exactly what
``grade`` gives it: the same results.json, timings aside, for uploads of every corpus; a
template that dies is replaced before the next upload.

Every corpus upload is graded through the service by the corpus self-tests; here a fixed sample
of each corpus (every kind of death and refusal among the hostile ones) is also graded by its own
``grade`` process and the two results compared. ``PS1_IDENTITY=all`` compares every upload of
every corpus (about 250 gradings more; staff run it when they change the service).
"""
import os
import signal
import time

import pytest

from autograder.corpus import adversarial, buggy, correct, nowork, trust
from autograder.harness import service
from autograder.selftests.conftest import IS_ROOT, ROOT, SKELETON, SOLUTION, copy_graded, run_grader
from autograder.worker import procs

EVERY = os.environ.get("PS1_IDENTITY") == "all"
ATTACKS = {a.name: a for a in adversarial.ATTACKS + trust.ATTACKS}
# Hostile uploads that end their workers, the session's budget or the channel in each way there
# is (the slow hangs and loops only with PS1_IDENTITY=all: they cost minutes each way).
SAMPLE_ATTACKS = ("os_exit_at_import", "sys_exit_in_function", "memory_bomb", "forged_results_daemon", "huge_prints",
                  "syntax_error", "empty_upload", "kill_the_grader", "deep_folder_in_scratch", "answer_flood",
                  "meta_parameters", "realtime_signal", "channel_oversized", "channel_forged_verdict", "linger_and_respawn")
# Their verdicts are compared, not their text. linger_and_respawn's chain of processes writes into
# the channel while the worker answers: which of the two a test reads first is a race, under grade
# as in the service. read_hidden_files lists the grader files it could read, whose folder (the
# workers' runtime) is drawn for each grading.
RACY = {"linger_and_respawn", "read_hidden_files"}
# The first of each section, and two whose failures agree only if nothing of the grading process
# shows in them: code that draws from torch's global generator (dropout in train mode: each
# worker's global generators are seeded from the key) and a message that quotes a path in the
# test's folder (whose name is drawn at each grading: the session writes it as $TMPDIR).
SAMPLE_BUGS = [*{bug.section: bug for bug in reversed(buggy.BUGS)}.values(),
               *(bug for bug in buggy.BUGS if bug.name in ("made_dropout_in_train_mode", "checkpoint_without_optimizer"))]
SAMPLE_NOWORK = ("replay", "zero_models", "model_free_samplers", "probe_patches", "combined")


def _uploads():
    yield pytest.param(lambda dest: copy_graded(SOLUTION, dest), id="solution")
    yield pytest.param(lambda dest: copy_graded(SKELETON, dest), id="skeleton")
    for bug in (buggy.BUGS if EVERY else SAMPLE_BUGS):
        yield pytest.param(lambda dest, bug=bug: buggy.write(bug, dest), id=f"buggy-{bug.name}")
    for entry in nowork.ENTRIES:
        if EVERY or entry.name in SAMPLE_NOWORK:
            yield pytest.param(lambda dest, entry=entry: nowork.write(entry, dest), id=f"nowork-{entry.name}")
    for attack in ATTACKS.values():
        if EVERY or attack.name in SAMPLE_ATTACKS:
            yield pytest.param(lambda dest, attack=attack: adversarial.write(attack, dest), id=f"hostile-{attack.name}",
                               marks=[pytest.mark.racy] if attack.name in RACY else [])
    if EVERY:
        for variant in correct.VARIANTS:
            yield pytest.param(lambda dest, variant=variant: correct.write(variant, dest), id=f"correct-{variant.name}")


def comparable(results):
    """results.json without what measures time (its own and each test's)."""
    if isinstance(results, dict):
        return {k: comparable(v) for k, v in results.items() if k not in ("execution_time", "seconds")}
    if isinstance(results, list):
        return [comparable(v) for v in results]
    return results


def _same_uid(monkeypatch):
    """Both gradings of an upload use one sandbox uid (else uid-dependent text could differ)."""
    if IS_ROOT:
        from autograder.harness import sandbox

        monkeypatch.setenv("PS1_SANDBOX_UID", str(sandbox.UID_BASE + sandbox.UID_SPAN + 2_000_000 + os.getpid() % 1_000_000))


def verdicts(results):
    return {"score": results["score"], "tests": [(t["number"], t["status"], t["score"]) for t in results["tests"]]}


@pytest.mark.parametrize("make", _uploads())
def test_service_gives_what_grade_gives(make, tmp_path, monkeypatch, request):
    upload = make(tmp_path / "upload")
    _same_uid(monkeypatch)
    warm, _ = run_grader(upload, tmp_path / "warm.json", "--deadline", "240", timeout=400)
    alone, _ = run_grader(upload, tmp_path / "alone.json", "--deadline", "240", timeout=400, fresh=True)
    # Not a benchmark: a paired check that no upload makes the service pathologically slower than
    # grade (zygotes forked from the template were not subreapers: a daemon's zombies made every
    # sweep spin, 102 s against 6.8 s). The grading of the same upload alone is the yardstick.
    took = {name: sum(t["extra_data"]["seconds"] for t in r["tests"]) for name, r in (("warm", warm), ("alone", alone))}
    assert took["warm"] <= 2 * took["alone"] + 10, f"the service's tests took {took['warm']:.1f} s, grade's {took['alone']:.1f} s"
    warm, alone = comparable(warm), comparable(alone)
    if request.node.get_closest_marker("racy"):
        warm, alone = verdicts(warm), verdicts(alone)
    differ = [f"{a['number']}: {a['status']} {a['output'][:200]!r} (alone) vs {w['status']} {w['output'][:200]!r} (warm)"
              if isinstance(a, dict) else f"{a} (alone) vs {w} (warm)"
              for a, w in zip(alone["tests"], warm["tests"]) if a != w]
    assert warm == alone, "the service's results differ from grade's:\n" + "\n".join(differ or [
        f"{k}: {alone.get(k)!r:.300} (alone) vs {warm.get(k)!r:.300} (warm)" for k in alone if alone.get(k) != warm.get(k)])


@pytest.mark.parametrize("victim", ["zygote", "session"])
def test_a_dead_template_is_replaced_before_the_next_upload(victim, tmp_path):
    upload = copy_graded(SKELETON, tmp_path / "upload")
    server = service.Client(ROOT, log=tmp_path / "server.log")
    try:
        assert server.grade([upload, "--results", tmp_path / "first.json"], tmp_path / "first.out") == 0
        templates = dict(zip(("session", "zygote"), server.last["templates"]))
        assert set(templates.values()) <= set(procs.children_of(server.proc.pid)), "the templates are not the server's"
        os.kill(templates[victim], signal.SIGKILL)
        time.sleep(0.2)
        assert server.grade([upload, "--results", tmp_path / "again.json"], tmp_path / "again.out") == 0
        assert server.last["service_starts"] == 2, "the service was not started afresh"
    finally:
        server.close()
    import json

    first, again = (comparable(json.loads((tmp_path / f"{n}.json").read_text())) for n in ("first", "again"))
    assert again == first
