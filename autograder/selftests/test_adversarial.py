"""Hostile submissions: each ends with a valid results.json, within the deadline, with no point
it did not earn and every point its untouched sections earned, and leaves no process and no
file of the sandbox user behind. Run as root (CI and Gradescope both are), workers drop to the
sandbox user, so the privilege separation is exercised."""
import ctypes
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.corpus import adversarial, trust
from autograder.harness import cleanup, results as results_mod, sandbox, scratchfs
from autograder.selftests.conftest import IS_ROOT, ROOT, SECTIONS, run_grader, section_scores
from autograder.worker import procs

DEADLINE_S = 240
SHARED_TMP = ("/tmp", "/dev/shm", "/var/tmp")
POSIX_QUEUE = b"/ps1-left-behind"  # made by the ipc_objects_left_behind attack


def leftovers(uid):
    """Processes, and files in the shared temporary folders or IPC objects, that belong to ``uid``."""
    processes = [p for p in os.listdir("/proc") if p.isdigit() and _owner(f"/proc/{p}") == uid]
    files = [os.path.join(folder, name) for folder in SHARED_TMP if os.path.isdir(folder)
             for name in os.listdir(folder) if _owner(os.path.join(folder, name)) == uid]
    return processes, files + ipc_objects_of(uid)


def ipc_objects_of(uid):
    """System V shared memory, queues and semaphore sets of ``uid`` (in this IPC namespace), and
    the POSIX queue the corpus makes (mq_unlink: there may be no /dev/mqueue to look in)."""
    found = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                header, *rows = [line.split() for line in table]
        except OSError:
            continue
        found += [f"System V {kind} {row[1]}" for row in rows if int(row[header.index("uid")]) == uid]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mq_unlink(POSIX_QUEUE) == 0:
        found.append(f"POSIX message queue {POSIX_QUEUE.decode()}")
    return found


def _owner(path):
    try:
        return os.lstat(path).st_uid
    except OSError:
        return None


@pytest.fixture
def sandbox_uid(monkeypatch):
    """This grading's worker uid, known to the test (so it checks its own leftovers only)."""
    uid = sandbox.UID_BASE + sandbox.UID_SPAN + os.getpid() % 1_000_000
    monkeypatch.setenv("PS1_SANDBOX_UID", str(uid))
    return uid


@pytest.mark.parametrize("attack", adversarial.ATTACKS + trust.ATTACKS, ids=lambda a: a.name)
def test_attack_is_contained(attack, tmp_path, sandbox_uid, solution_results, solution_upload, monkeypatch):
    """Graded by the warm service; then the solution, by the same service right after, scores as
    it does alone (test_service: the service gives what grade gives)."""
    if attack.root_only and not IS_ROOT:
        pytest.skip("needs root: only then does student code run as a separate, unprivileged user")
    upload = adversarial.write(attack, tmp_path / "upload")
    out = tmp_path / "results" / "results.json"
    started = time.time()
    results, stdout = run_grader(upload, out, "--deadline", str(DEADLINE_S), timeout=DEADLINE_S + 60)
    elapsed = time.time() - started
    assert elapsed < (attack.max_seconds or DEADLINE_S + 30), f"grading took {elapsed:.0f} s"
    results_mod.validate(results)
    failed = {t["number"] for t in results["tests"] if t["status"] != "passed"}
    assert set(attack.must_fail) <= failed, f"tests {sorted(set(attack.must_fail) - failed)} passed despite the attack"
    assert not set(attack.must_pass) & failed, f"tests {sorted(set(attack.must_pass) & failed)} were disturbed"
    outputs = {t["number"]: t["output"] for t in results["tests"]}
    for number, text in attack.says.items():
        assert text in outputs[number], f"test {number} does not say {text!r}: {outputs[number][:300]!r}"
    if IS_ROOT:
        processes, files = leftovers(sandbox_uid)
        assert not processes and not files, f"left behind: processes {processes}, files {files}"
    assert "forged" not in out.read_text()
    check_sections(results, attack.expect, stdout)
    # A forger that outlived grading would rewrite the file now; nothing may survive.
    time.sleep(2.0)
    assert "forged" not in out.read_text(), "results.json was rewritten after grading finished"
    monkeypatch.delenv("PS1_SANDBOX_UID")  # the next upload gets a fresh uid, as any grading does
    after, _ = run_grader(solution_upload, tmp_path / "after.json")
    alone = {t["number"]: (t["status"], t["output"]) for t in solution_results[0]["tests"]}
    then = {t["number"]: (t["status"], t["output"]) for t in after["tests"]}
    assert then == alone, (f"the solution graded right after {attack.name} scored {after['score']}, not "
                           f"{solution_results[0]['score']}: {sorted(n for n in alone if alone[n] != then.get(n))}")


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


# --- issue 11: zip uploads, student text, deep trees; a results.json always, nothing left behind

GRADE_AND_REPORT_PEAK = (
    "import re, sys\n"
    "from autograder.__main__ import main\n"
    "code = main(sys.argv[1:])\n"
    "peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "print(f'GRADER_PEAK_KB {peak}', file=sys.stderr)\n"
    "sys.exit(code)\n")
# The grader's own memory while it reads an upload (the bound); the whole grading's
# tree (session, zygote, workers: torch) is benchmarked against the SPEC's 500 MB by make bench.
GRADER_PEAK_MB = 300


@dataclass
class Memory:
    """Peak summed PSS of the grading's process tree, sampled every 5 ms: while the grader is
    alone (it stages the upload before it starts anything) and over the whole grading; and the
    grading process's exact peak RSS (VmHWM, an upper bound on its PSS between samples)."""
    staging_mb: float = 0.0
    staging_samples: int = 0
    first_child: str = ""
    tree_mb: float = 0.0
    grader_hwm_mb: float = 0.0
    held_mb: float = 0.0      # memory files (memfd, /dev/shm) the tree holds open: in no PSS
    total_mb: float = 0.0     # the peak of both together: what a container's limit counts
    scratch_mb: float = 0.0   # the peak of what the scratch file systems (tmpfs) below TMPDIR hold
    scratch_inodes: int = 0


def held_files_mb(pids):
    """Memory the processes ``pids`` hold in open memory files (memfd, files in /dev/shm), each
    file counted once, in MB: pages no process's PSS shows, yet the container's limit counts."""
    seen = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(("/memfd:", "/dev/shm/")):
                    info = os.stat(f"/proc/{pid}/fd/{fd}")
                    seen[(info.st_dev, info.st_ino)] = info.st_blocks * 512
            except OSError:
                continue
    return sum(seen.values()) / 2**20


def scratch_use(temp):
    """(MB, inodes) in use on the file systems mounted below ``temp`` (the tests' scratch tmpfs)."""
    used_mb, inodes = 0.0, 0
    for point in scratchfs.mounts_below(temp):
        try:  # the folder open pins the file system it is on: still the tmpfs, or no longer a mount
            fd = os.open(point, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            if os.fstat(fd).st_dev == os.stat(os.path.dirname(point)).st_dev:
                continue  # unmounted since mountinfo was read: statvfs would describe the disk
            st = os.fstatvfs(fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        used_mb += (st.f_blocks - st.f_bfree) * st.f_frsize / 2**20
        inodes += st.f_files - st.f_ffree
    return used_mb, inodes


def _sample_scratch(proc, memory, done, temp):
    """Every 20 ms, in a thread of its own: a round of the tree's sampling takes far longer on a
    loaded machine (a PSS read per process), and a flooded scratch lasts only its test."""
    while not done.is_set() and proc.poll() is None:
        used_mb, inodes = scratch_use(temp)
        memory.scratch_mb = max(memory.scratch_mb, used_mb)
        memory.scratch_inodes = max(memory.scratch_inodes, inodes)
        time.sleep(0.02)


def _sample_tree(proc, memory, done, temp):
    grader, alone = _command_line(proc.pid), True
    while not done.is_set() and proc.poll() is None:
        tree = procs.descendants(proc.pid)
        pss_mb = sum(procs.pss_kb(pid) for pid in tree) / 1024
        held_mb = held_files_mb(tree)
        memory.tree_mb = max(memory.tree_mb, pss_mb)
        memory.held_mb = max(memory.held_mb, held_mb)
        memory.total_mb = max(memory.total_mb, pss_mb + held_mb)
        alone = alone and len(tree) == 1
        if alone:
            memory.staging_mb = max(memory.staging_mb, pss_mb)
            memory.staging_samples += 1
        elif not memory.first_child:
            child = _command_line(tree[1])
            if child != grader:  # until it execs, a new child shows its parent's command line
                memory.first_child = child
        time.sleep(0.005)


def _command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def grade_isolated(upload, out, uid, deadline=DEADLINE_S, extra=()):
    """Grade with the real command line and a private TMPDIR; check the exit status, that the
    grader's work folder is gone and (as root) that sandbox user ``uid`` left nothing; return
    (results, stdout, :class:`Memory`)."""
    temp = Path(tempfile.mkdtemp(prefix="ps1-selftest-", dir="/tmp"))
    os.chmod(temp, 0o711)  # the sandbox user passes through to the work folder
    memory, done = Memory(), threading.Event()
    try:
        proc = subprocess.Popen([sys.executable, "-c", GRADE_AND_REPORT_PEAK, "grade", str(upload), "--results",
                                 str(out), "--deadline", str(deadline), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(temp)})
        samplers = [threading.Thread(target=target, args=(proc, memory, done, temp), daemon=True)
                    for target in (_sample_tree, _sample_scratch)]
        for sampler in samplers:
            sampler.start()
        try:
            stdout, stderr = proc.communicate(timeout=deadline + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            done.set()
            for sampler in samplers:
                sampler.join()
        left = os.listdir(temp)
    finally:
        cleanup.remove_tree(temp)
    assert proc.returncode == 0, f"grader exited {proc.returncode}:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    assert left == [], f"grading left {left} behind in its temporary folder"
    if IS_ROOT:
        processes, files = leftovers(uid)
        assert not processes and not files, f"left behind: processes {processes}, files {files}"
    memory.grader_hwm_mb = int(re.search(r"GRADER_PEAK_KB (\d+)", stderr).group(1)) / 1024
    return json.loads(Path(out).read_text()), stdout, memory


def assert_grader_memory_bounded(memory):
    """The upload was read by the grader alone (the first process it started is the grading
    session's launcher), within the bound, both sampled (tree PSS) and exactly (peak RSS)."""
    assert memory.staging_samples >= 1, "the grader was never sampled alone: the staging phase was not measured"
    assert "from worker import launch" in memory.first_child, \
        f"the grader started {memory.first_child!r} before the session: staging is no longer measured alone"
    assert memory.staging_mb < GRADER_PEAK_MB, f"while reading the upload, the grader's tree peaked at " \
                                               f"{memory.staging_mb:.0f} MB (PSS)"
    assert memory.grader_hwm_mb < GRADER_PEAK_MB, f"the grading process peaked at {memory.grader_hwm_mb:.0f} MB (RSS)"


def check_sections(results, expect, stdout):
    scores = section_scores(results)
    for section, full in SECTIONS.items():
        want, got = expect.get(int(section), "full"), scores[section]
        if want == "full":
            assert got == full, f"section {section} lost points it earned: {got}/{full}\n{stdout[-2500:]}"
        elif want == "zero":
            assert got == 0.0, f"section {section} earned {got} points it should not have"
        else:
            assert got < full, f"section {section} kept all its points despite the attack"


def assert_clean(text, allow="\n"):
    bad = sorted({c for c in text if (ord(c) < 32 or 0x7f <= ord(c) < 0xa0 or c in "\u202a\u202b\u202d\u202e\u2066"
                                      or "\ud800" <= c <= "\udfff") and c not in allow})
    assert not bad, f"raw control characters {bad} reached a person"


def assert_console_table_is_genuine(stdout, results):
    lines = stdout.splitlines()
    assert_clean(stdout)
    assert [line for line in lines if line.startswith("Total:")] == [lines[-1]], "a line poses as the total"
    assert len([line for line in lines if line.startswith(("    PASS", "    FAIL"))]) == len(results["tests"])
    assert all(line.startswith("         > ") for line in lines if line.startswith("         "))


@pytest.mark.parametrize("attack", adversarial.ZIP_ATTACKS, ids=lambda a: a.name)
def test_zip_attack_is_contained(attack, tmp_path, sandbox_uid):
    upload = adversarial.write_zip_attack(attack, tmp_path / "upload")
    out = tmp_path / "results" / "results.json"
    results, stdout, memory = grade_isolated(upload, out, sandbox_uid)
    assert_grader_memory_bounded(memory)
    results_mod.validate(results)
    check_sections(results, attack.expect, stdout)
    for text in attack.mentions:
        assert text in results["output"], f"{text!r} is not in the summary:\n{results['output']}"
    for text in [results["output"], *(t["output"] for t in results["tests"])]:
        assert_clean(text, allow="\n\t")
    assert_console_table_is_genuine(stdout, results)


def test_student_text_cannot_fake_grader_lines(tmp_path, sandbox_uid):
    attack = next(a for a in adversarial.ATTACKS if a.name == "escape_codes_in_message")
    results, stdout, _ = grade_isolated(adversarial.write(attack, tmp_path / "upload"), tmp_path / "results.json",
                                        sandbox_uid)
    results_mod.validate(results)
    made = [t for t in results["tests"] if t["number"].startswith("3.")]
    assert any("Total: 40.0 / 40.0" in t["output"] for t in made), "the student's message did not reach the output"
    for text in [results["output"], *(t["output"] for t in results["tests"])]:
        assert_clean(text, allow="\n\t")
    assert_console_table_is_genuine(stdout, results)
    assert "Total: 40.0" not in stdout.splitlines()[-1]


def test_deep_folder_in_scratch_is_cleaned_up(tmp_path, sandbox_uid):
    attack = next(a for a in adversarial.ATTACKS if a.name == "deep_folder_in_scratch")
    results, stdout, _ = grade_isolated(adversarial.write(attack, tmp_path / "upload"), tmp_path / "results.json",
                                        sandbox_uid)
    results_mod.validate(results)
    check_sections(results, attack.expect, stdout)


def test_solution_graded_right_after_a_lingering_attack_scores_full(tmp_path, sandbox_uid, solution_upload):
    """A self-respawning chain and tmp litter from one grading cost the next grading nothing."""
    for name in ("linger_and_respawn", "litter_tmp"):
        attack = next(a for a in trust.ATTACKS if a.name == name)
        run_grader(adversarial.write(attack, tmp_path / name), tmp_path / f"{name}.json")
    results, _ = run_grader(solution_upload, tmp_path / "solution.json")
    assert results["score"] == 40.0, [t["number"] for t in results["tests"] if t["status"] != "passed"]


def test_student_errors_never_pose_as_the_grader(tmp_path, sandbox_uid):
    """An exception raised by student code, whatever its class (even the probe library's own
    WireError) and text, is reported as the student's, on one line."""
    attack = next(a for a in adversarial.ATTACKS if a.name == "poses_as_grader")
    results, _ = run_grader(adversarial.write(attack, tmp_path / "upload"), tmp_path / "results.json")
    kl = [t for t in results["tests"] if t["status"] != "passed"]
    assert kl and all(t["number"].startswith("1.") for t in kl), [t["number"] for t in kl]
    for test in kl:
        assert not test["output"].startswith("internal grader error"), test["output"]
        assert "marked 40/40" not in test["output"], test["output"]
    assert "marked 40/40" not in results["output"]


@pytest.mark.skipif(not IS_ROOT, reason="needs root: only then do workers get a network namespace of their own")
def test_workers_reach_no_network(tmp_path, sandbox_uid):
    """UDP, which Landlock's network rules do not cover, never leaves a worker: hidden test
    inputs cannot be sent anywhere, nor workers of different gradings talk to each other."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    call_home = f'''
        def _call_home(what):
            import socket
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.sendto(repr(what).encode()[:1000], ("127.0.0.1", {port}))
            except OSError:
                pass
        _call_home("made.py imported")
    '''
    made = adversarial.prepend(adversarial.solution("made.py"), call_home)
    made = adversarial.in_function(made, "def made_masks(", "_call_home((input_dim, hidden_sizes))\n")
    attack = adversarial.Attack("udp_home", "", {"made.py": made})
    try:
        results, _ = run_grader(adversarial.write(attack, tmp_path / "upload"), tmp_path / "results.json")
        listener.settimeout(1.0)
        try:
            received = listener.recv(2000)
        except (socket.timeout, TimeoutError):
            received = None
    finally:
        listener.close()
    assert received is None, f"a worker sent {received!r} over UDP"
    assert results["score"] == 40.0


# Gradescope's container (768 MB) less the honest grading's peak (make bench: ~460 MB with the
# CPU-only torch) is the headroom an upload may never push the grader's tree past.
CONTAINER_MB = 768


def test_memory_files_are_refused(tmp_path, sandbox_uid):
    """A worker cannot hold memory outside its address-space limit: memfd is refused (seccomp),
    so the tree never holds memory files and stays within the container."""
    attack = next(a for a in adversarial.ATTACKS if a.name == "memory_files")
    results, stdout, memory = grade_isolated(adversarial.write(attack, tmp_path / "upload"),
                                             tmp_path / "results.json", sandbox_uid)
    check_sections(results, attack.expect, stdout)
    assert memory.held_mb < 1, f"the grading's processes held {memory.held_mb:.0f} MB in memory files"
    assert memory.total_mb < CONTAINER_MB, f"the grading peaked at {memory.total_mb:.0f} MB (PSS + memory files)"


def test_scratch_folders_are_capped(tmp_path, sandbox_uid):
    """A worker that floods its scratch folder with files and folders meets the tmpfs's caps (it
    holds at most SCRATCH_MB and SCRATCH_INODES at any time) and costs no test its time: the
    folders go with one unmount. Where the grader may not mount, the log says so instead."""
    if not scratchfs.check(tempfile.gettempdir(), (os.getuid(), os.getgid())).startswith("each test's"):
        pytest.skip(f"this machine gives plain scratch folders: {scratchfs.describe()}")
    attack = next(a for a in adversarial.ATTACKS if a.name == "disk_flood")
    started = time.time()
    results, stdout, memory = grade_isolated(adversarial.write(attack, tmp_path / "upload"),
                                             tmp_path / "results.json", sandbox_uid)
    elapsed = time.time() - started
    check_sections(results, attack.expect, stdout)
    assert "scratch: each test's scratch folder is a tmpfs" in stdout, stdout[:2000]
    assert 8 < memory.scratch_mb <= scratchfs.SCRATCH_MB + 1, f"scratch held {memory.scratch_mb:.0f} MB at peak"
    assert memory.scratch_inodes <= scratchfs.SCRATCH_INODES, f"scratch held {memory.scratch_inodes} inodes"
    assert elapsed < 120, f"grading the flood took {elapsed:.0f} s"


def test_plain_scratch_folders_are_removed_off_every_tests_clock(tmp_path, sandbox_uid):
    """Where the grader may not mount (here: --plain-scratch), a folder flood in each test's
    scratch costs no test its time: the folder is renamed aside and removed by an idle-priority
    helper. Removing each test's 5000 folders inside the test took 7-10 s per test here (the
    disk frees a block per folder), 52 s over section 6."""
    attack = next(a for a in adversarial.ATTACKS if a.name == "folder_flood")
    results, stdout, _ = grade_isolated(adversarial.write(attack, tmp_path / "upload"), tmp_path / "results.json",
                                        sandbox_uid, extra=["--plain-scratch"])
    check_sections(results, attack.expect, stdout)
    assert "scratch: scratch folders are plain folders" in stdout and "in the background" in stdout, stdout[:2000]
    section_6 = {t["number"]: t["extra_data"]["seconds"] for t in results["tests"] if t["number"].startswith("6.")}
    assert sum(section_6.values()) < 12.0, f"section 6's tests were charged for removing folders: {section_6}"


@pytest.mark.parametrize("name, refusal", [
    ("answer_flood", "MB in all"),    # right answers padded with 30 MB: the test's budget (64 MB) runs out
    ("aliased_answer", "share bytes"),  # 20 tensors on one 24 MB region: refused, not copied per reference
])
def test_oversized_answers_are_refused_before_the_session_holds_them(name, refusal, tmp_path, sandbox_uid):
    """The session holds at most one answer's cap of a worker's data: the tests that got such an
    answer fail saying why, the other sections keep their points, the grading stays within the
    container."""
    attack = next(a for a in adversarial.ATTACKS if a.name == name)
    results, stdout, memory = grade_isolated(adversarial.write(attack, tmp_path / "upload"),
                                             tmp_path / "results.json", sandbox_uid)
    check_sections(results, attack.expect, stdout)
    failed = [t for t in results["tests"] if t["number"].startswith("1.") and t["status"] != "passed"]
    assert failed and all(refusal in t["output"] for t in failed), [t["output"][:200] for t in failed]
    assert memory.total_mb < CONTAINER_MB, f"the grading peaked at {memory.total_mb:.0f} MB"
