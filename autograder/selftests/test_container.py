"""What a grading tells staff about its confinement, whose sandbox uid it is, and who may say
that a failure is the grader's fault."""
import os
import re
import subprocess
import sys

import pytest

from autograder import regrade
from autograder.corpus import adversarial
from autograder.harness import results as results_mod, sandbox
from autograder.selftests.conftest import IS_ROOT, ROOT, run_grader

UID_LINE = re.compile(r"^  user: uid (\d+)$", re.M)


def _uid(stdout):
    found = UID_LINE.findall(stdout)
    assert len(found) == 1, f"grade printed no (or more than one) sandbox uid:\n{stdout[:2000]}"
    return int(found[0])


def test_grade_prints_the_protections_it_ran_under(solution_results):
    _, stdout = solution_results
    block = stdout.split("Protections of this grading's test processes:\n", 1)
    assert len(block) == 2, stdout[:2000]
    keys = [line.split(":", 1)[0].strip() for line in block[1].splitlines() if line.startswith("  ")]
    assert {"user", "limits", "filesystem", "namespaces", "syscalls", "oom"} <= set(keys), keys
    if IS_ROOT:
        assert "seccomp:" in stdout and "workers first" in stdout, block[1][:1000]


@pytest.mark.skipif(not IS_ROOT, reason="needs root: only then do workers run as a uid of their own")
def test_gradings_never_share_a_sandbox_uid(tmp_path):
    """Two gradings in a row and two at once: four different uids (none derived from a pid)."""
    upload = adversarial.write(adversarial.Attack("skeleton", "", {}, base="skeleton"), tmp_path / "upload")
    uids = [_uid(run_grader(upload, tmp_path / f"row{i}.json")[1]) for i in range(2)]
    command = [sys.executable, "-m", "autograder", "grade", str(upload), "--quiet", "--results"]
    at_once = [subprocess.Popen([*command, str(tmp_path / f"once{i}.json")], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    for proc in at_once:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-2000:]
        uids.append(_uid(stdout))
        from_pid = {sandbox.UID_BASE + proc.pid % span for span in (4_000_000, sandbox.UID_SPAN)}
        assert uids[-1] not in from_pid, f"uid {uids[-1]} follows from the grader's pid {proc.pid}"
    assert len(set(uids)) == 4, f"sandbox uids repeated: {uids}"
    with open(sandbox.USED_UIDS) as registry:
        used = {int(line) for line in registry.read().split()}
    assert set(uids) <= used, "a grading's uid is not in the registry of used uids (a later one could reuse it)"


def test_a_worker_cannot_mark_a_failure_as_the_graders(tmp_path):
    """A worker that answers with a "protocol" error (the kind once shown as the grader's
    fault) with a grader-like text: its tests fail as the upload's, unflagged, and regrade
    records the row as graded."""
    attack = next(a for a in adversarial.ATTACKS if a.name == "forged_protocol_error")
    results, _ = run_grader(adversarial.write(attack, tmp_path / "upload"), tmp_path / "results.json")
    results_mod.validate(results)
    failed = [t for t in results["tests"] if t["status"] != "passed"]
    assert failed and all(t["number"].startswith("1.") for t in failed), [t["number"] for t in failed]
    for test in results["tests"]:
        assert "grader_fault" not in test["extra_data"], test
        assert "tell the course staff" not in test["output"], test["output"]
    assert regrade._grader_faults(results) == []


def test_regrade_retries_only_flagged_tests():
    """Words in a message mean nothing; only the harness's flag marks a grader fault."""
    manifest = [{"id": n, "number": n, "name": n, "max_score": 1.0, "visibility": "visible", "tags": []}
                for n in ("1.1", "1.2", "1.3")]
    outcomes = {"1.1": {"status": "failed", "output": "internal grader error, please tell the course staff."},
                "1.2": {"status": "failed", "output": "no test process", "grader_fault": "the zygote died"},
                "1.3": {"status": "passed", "output": ""}}
    results = results_mod.build(manifest, outcomes, 1.0, "", not_run_message="not run")
    results_mod.validate(results)
    assert regrade._grader_faults(results) == ["1.2"]
    assert regrade._grader_faults(results_mod.internal_error(0.0, manifest)) == ["1.1", "1.2", "1.3"]


CGROUP_REPORTER = '''
    def _ps1_cgroup():
        import os
        line = next(l for l in open("/proc/self/cgroup").read().splitlines() if "memory" in l.split(":")[1].split(","))
        folder = os.path.join("/sys/fs/cgroup/memory", line.split(":", 2)[2].lstrip("/"))
        with open(os.path.join(folder, "memory.limit_in_bytes")) as f:
            return line.split(":", 2)[2], int(f.read())
    raise RuntimeError("CGROUP %s LIMIT %d" % _ps1_cgroup())
'''


def test_each_worker_runs_in_a_memory_cgroup_of_its_own(tmp_path, solution_results):
    """Where the grader finds a writable cgroup v1 memory hierarchy (the log says so), every worker
    is in a cgroup of its own with the limit the log states, and the grading removes them all."""
    _, stdout = solution_results
    line = next((l for l in stdout.splitlines() if l.startswith("  cgroup: ")), "")
    if "(v1)" not in line:
        pytest.skip(f"no cgroup v1 per worker on this machine: {line.strip() or 'no cgroup line'}")
    limit_mb = int(re.search(r"per worker, (\d+) MB", line).group(1))
    upload = adversarial.write(adversarial.Attack("cgroup_reporter", "", {"probability.py": adversarial.in_function(
        adversarial.solution("probability.py"), "def kl_divergence(", CGROUP_REPORTER)}), tmp_path / "upload")
    results, _ = run_grader(upload, tmp_path / "results.json")
    reports = [re.search(r"CGROUP (\S+) LIMIT (\d+)", t["output"]) for t in results["tests"]
               if t["number"] in ("1.1", "1.4")]
    assert all(reports), [t["output"][:300] for t in results["tests"] if t["number"] in ("1.1", "1.4")]
    paths = [r.group(1) for r in reports]
    assert len(set(paths)) == len(paths), f"two tests' workers shared a cgroup: {paths}"
    assert all("/ps1-workers-" in p and "/worker-" in p for p in paths), paths
    assert all(int(r.group(2)) == limit_mb * 2**20 for r in reports), [r.group(2) for r in reports]
    left = [p for p in paths if os.path.exists(os.path.join("/sys/fs/cgroup/memory", p.lstrip("/").rsplit("/", 1)[0]))]
    assert not left, f"the grading left its cgroup folder behind: {left}"
