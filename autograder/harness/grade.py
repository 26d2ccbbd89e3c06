"""``python -m autograder grade SUBMISSION``: grade an upload exactly as Gradescope will.

This process never imports student code (nor torch). It stages the upload, builds the
workers' runtime folder, then starts the grading session (:mod:`.session`) as a subprocess and
reads from it the manifest and one outcome per test; at the overall deadline it kills the
session, and a last-resort writer makes sure a results.json is written whatever happens. As
root (on Gradescope) the session and hidden tests run from a private copy that the workers'
uid cannot read.
"""
import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ..worker import cgroup
from . import cleanup, exits, results, sandbox, scratchfs, secret, staging

ROOT = Path(__file__).resolve().parents[2]
SUITES = ("tests", "autograder/suites")
GRADER_FILES = ("tests", "autograder/__init__.py", "autograder/oracles.py", "autograder/examples.py",
                "autograder/trained.py", "autograder/data", "autograder/harness", "autograder/suites",
                # the session sums the CPU time of each test's processes (stdlib only)
                "autograder/worker/__init__.py", "autograder/worker/procs.py")
# What the workers' interpreter may import besides torch and numpy: the zygote and the
# public probe library, copied alone into a runtime folder (as worker/ and probes/).
RUNTIME_FILES = (("autograder/worker", "worker"), ("tests/probes", "probes"))
DEFAULT_DEADLINE_S = 500.0   # Gradescope stops everything at 600 s


def _private_copy(dest):
    """Copy what the session needs (never the solution) into ``dest``, readable by root only.

    Folders are 0711 and the (empty) ``__init__.py`` files 0644 because pytest looks at package
    files while setting up a test in the child; every other file is 0600.
    """
    dest.mkdir(mode=0o700)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for rel in GRADER_FILES:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=ignore)
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for dirpath, dirnames, filenames in os.walk(dest):
        os.chmod(dirpath, 0o711)
        for name in filenames:
            path = os.path.join(dirpath, name)
            public = name == "__init__.py" and os.path.getsize(path) < 200
            os.chmod(path, 0o644 if public else 0o600)
    return dest


# Removing the work folder after results.json is written: bounded, so that where scratch folders
# are plain ones (no tmpfs) a flooded one cannot keep the grading running until Gradescope's own
# limit. What the background helper (cleanup.Background) did not remove during grading is left.
FINAL_CLEANUP_S = 60.0


def _session_env():
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
    keep.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0", CUDA_DEVICE_ORDER="PCI_BUS_ID")
    return keep


def build_runtime(dest):
    """The workers' code, alone in ``dest``: nothing of the tests, oracles or solution."""
    dest.mkdir(mode=0o755)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for src, name in RUNTIME_FILES:
        shutil.copytree(ROOT / src, dest / name, ignore=ignore)
    for dirpath, _, filenames in os.walk(dest):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return dest


def launcher_command(runtime, grader_root, zygote_args, session_args):
    """The command line of the grading's first interpreter (:mod:`autograder.worker.launch`),
    run from ``runtime`` (the workers' code only), which forks the zygote and the session (or,
    for the warm service, their templates)."""
    launcher = (f"import sys; sys.path.insert(0, {str(runtime)!r}); from worker import launch; "
                "sys.exit(launch.main())")
    return [sys.executable, "-I", "-B", "-c", launcher, "--grader-root", str(grader_root),
            "--zygote", *zygote_args, "--session", *session_args, *SUITES]


def run_session(staged_root, work, grader_root, deadline, log_path, key, user=None, audit=None, plain_scratch=False):
    """Run the session with the grading ``key``; return ``(manifest, outcomes, problems)``."""
    runtime = build_runtime(work / "runtime")
    scratch = work / "scratch"
    scratch.mkdir(mode=0o711, exist_ok=True)
    read_end, write_end = os.pipe()
    # The key goes to the session over a pipe: arguments and environment are the workers' to read.
    key_read, key_write = os.pipe()
    os.write(key_write, key.hex().encode())
    os.close(key_write)
    user_arg = f"{user[0]}:{user[1]}" if user else ""
    cmd = launcher_command(
        runtime, grader_root, ["--staged", str(staged_root), "--user", user_arg],
        ["--report-fd", str(write_end), "--key-fd", str(key_read), "--staged", str(staged_root),
         "--scratch", str(scratch), "--user", user_arg, "--deadline", str(deadline - 5.0),
         *(["--audit", str(audit)] if audit else []), *(["--plain-scratch"] if plain_scratch else [])])
    with open(log_path, "ab") as log:  # append: the workers' line is added to the same file
        proc = subprocess.Popen(cmd, cwd=runtime, env=_session_env(), pass_fds=(write_end, key_read),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    os.close(write_end)
    os.close(key_read)
    reports = Reports.read(read_end, deadline, log_path)
    death = _death_of(reports.session_pid) if reports.ended and reports.session_pid else None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    return reports.outcome(death)


class Reports:
    """What a grading session sent over its report pipe (one JSON line per message), read until
    the session closes it or the deadline: the manifest, one result per test, the grader's own
    problems, what confined the workers, the leaderboard. The same for a session started by
    :func:`run_session` and one forked by the warm service (:mod:`.service`)."""

    def __init__(self):
        self.manifest, self.outcomes, self.problems, self.board = None, {}, [], []
        self.info, self.session_pid, self.ended = {}, None, False

    @classmethod
    def read(cls, read_end, deadline, log_path):
        self, buffer = cls(), b""
        try:
            while True:
                left = deadline - time.time()
                if left <= 0:
                    self.problems.append("The grading deadline was reached; the tests still running were stopped.")
                    return self
                ready, _, _ = select.select([read_end], [], [], min(left, 1.0))
                if not ready:
                    continue
                chunk = os.read(read_end, 1 << 16)
                if not chunk or self.ended:
                    self.ended = True
                    return self
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._take(json.loads(line), log_path)
        finally:
            os.close(read_end)

    def _take(self, message, log_path):
        if message["type"] == "manifest" and self.manifest is None:
            self.manifest = message["tests"]
            stale = stale_manifest(self.manifest)
            if stale:  # staff edited a weight without `make manifest`: no test is run
                self.problems.append(stale)
                self.ended = True
        elif self.ended:
            return
        elif message["type"] == "result" and self.manifest is not None:
            self.outcomes[message["id"]] = message
        elif message["type"] == "leaderboard":
            self.board.extend(message["entries"])
        elif message["type"] == "workers":
            self.info, self.session_pid = message["info"], message.get("session_pid")
            with open(log_path, "a") as log:
                log.write(f"workers: {json.dumps(self.info)}\n")
        elif message["type"] == "died":
            self.problems.append(f"grader died: the {message['process']} died ({message['cause']}); the tests after "
                                 "that were not run.")
        elif message["type"] == "collect_error":
            self.problems.append(f"internal error: could not collect {message['where']}: {message['text'][:500]}")

    def outcome(self, death):
        """``(manifest, outcomes, problems, info)``, given how the session ended (``death``: one
        line, or ``None`` when it exited normally or its end was not waited for)."""
        info, problems = self.info, list(self.problems)
        if death:
            problems.append(f"grader died: the grading session died ({death}); the tests after that were not run.")
            info = {**(info or {}), "session_death": death}
        if self.board:
            info = {**(info or {}), "leaderboard": self.board}
        return self.manifest, self.outcomes, problems, info


def stale_manifest(manifest):
    """Why the collected tests are not those of tests_manifest.json (a weight or test edited
    without `make manifest`), or ``None``. Checked as soon as the session has collected, so that
    no upload is graded against points the build and Gradescope do not know."""
    def points(entries):
        return sorted((e["number"], e["max_score"]) for e in entries)

    declared = results.expected_tests()
    if points(manifest) == points(declared):
        return None
    total, want = sum(e["max_score"] for e in manifest), sum(e["max_score"] for e in declared)
    changed = sorted({n for n, _ in set(points(manifest)) ^ set(points(declared))}, key=results._number_key)
    which = (f"test {changed[0]} differs" if len(changed) == 1 else
             f"tests {', '.join(changed[:8])}{' ...' if len(changed) > 8 else ''} differ")
    return (f"stale manifest: the tests add up to {total:g} points, tests_manifest.json to {want:g} "
            f"({which}): run `make manifest`")


def _death_of(pid, seconds=5.0):
    """How child ``pid`` ended, as one line, if it ended abnormally; ``None`` if it exited 0 or 1
    (pytest's codes for "all passed" and "some failed") or is still running after ``seconds``.
    The session is this process's child: the launcher that forked it exits at once, and this
    process is a subreaper."""
    stop = time.time() + seconds
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            break
        if time.time() > stop:
            return None
        time.sleep(0.01)
    return death_of_status(status)


def death_of_status(status):
    """``None`` for a session that exited 0 or 1 (pytest's codes for "all passed" and "some
    failed"), else how it ended, as one line."""
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 1):
        return None
    return "it " + exits.ending(status)


def protections_text(info, user):
    """What confined this grading's workers, one line each (for ``grade``'s stdout and regrade's
    grade.log): the uid, namespaces, Landlock, seccomp, limits and the OOM policy."""
    found = dict((info or {}).get("protections") or {})
    if not found:
        return "Protections: unknown (the workers did not start)"
    found["user"] = f"uid {user[0]}" if user else found.get("user", "?")
    found.setdefault("oom", "?")
    lines = [f"  {key}: {value}" for key, value in found.items()]
    return "Protections of this grading's test processes:\n" + "\n".join(lines)


def _results_of(manifest, outcomes, problems, info, staged, started, errors):
    """The results of a session that ran: the grader's own problems to stderr (and ``errors``),
    one line of each for the students."""
    for problem in [p for p in problems if p.startswith("grader died")]:  # the students see it too
        errors.append(problem)
        print(f"ps1 grader: {problem}", file=sys.stderr)
    internal_problems = [p for p in problems if p.startswith("internal error")]
    for problem in internal_problems:  # details for staff only; students get one line
        errors.append(problem)
        print(f"ps1 grader: {problem}", file=sys.stderr)
    problems = [p for p in problems if p not in internal_problems]
    if internal_problems:
        problems.append(results.INTERNAL_ERROR + ".")
    summary = "\n".join(filter(None, [staged.summary(), *problems]))
    death = (info or {}).get("session_death")
    if death:  # the tests it had not run yet
        not_run = (f"not run: the grading session died ({death}) before this test. This is no verdict on your "
                   "code; please tell the course staff.", f"the grading session died: {death}")
    else:
        not_run = ("not run: grading stopped before this test (time budget exhausted).", None)
    return results.build(manifest, outcomes, time.time() - started, summary, *not_run,
                         leaderboard=(info or {}).get("leaderboard"))


def grade(upload, results_path, deadline_s=None, quiet=False, errors=None, plain_scratch=False, service=None):
    """Grade ``upload`` (folder or .zip), write ``results_path``; return the results dict.

    With ``service`` (a started :class:`.service.Service`) the session and zygote are forked from
    its warm templates instead of a fresh interpreter; every other step is this function's.

    A results.json is written whatever happens. An internal error anywhere (staging, the
    session, building the results, clean-up) goes to stderr with its traceback, for staff, and
    is appended to ``errors`` (``grade_command`` then exits non-zero); if it struck before the
    results were built, every expected test is listed as failed with the message
    ``results.INTERNAL_ERROR``. The work folder is removed without recursion.
    """
    errors = [] if errors is None else errors
    started = time.time()
    data = work = interrupted = None

    def internal(what):  # called inside an ``except`` block
        errors.append(what)
        print(f"ps1 grader: internal error: {what}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)

    try:
        deadline = started + (deadline_s or DEFAULT_DEADLINE_S)
        user = sandbox.sandbox_user()
        sandbox.protect_from_oom()
        sandbox.become_subreaper()  # processes that escape the session are re-parented here
        work = Path(tempfile.mkdtemp(prefix="ps1-grade-"))
        os.chmod(work, 0o711)  # the sandbox user may pass through, not list
        staged = staging.stage(upload, work / "staged")
        key = secret.grading_key(secret.load(), secret.upload_digest(staged.root / "submission"))
        if service is None:
            grader_root = _private_copy(work / "grader") if user is not None else ROOT
            launch = functools.partial(run_session, grader_root=grader_root)
        else:
            launch = service.run_session
        manifest, outcomes, problems, info = launch(staged.root, work, deadline=deadline, log_path=work / "session.log",
                                                    key=key, user=user, audit=os.environ.get("PS1_AUDIT"),
                                                    plain_scratch=plain_scratch)
        print(protections_text(info, user), flush=True)  # stdout: Gradescope shows it to instructors only
        sandbox.kill_strays(keep=service.pids() if service else ())
        if manifest is None:
            log = (work / "session.log").read_text(errors="replace")[-2000:]
            raise RuntimeError("the grading session sent no manifest; its log ends with:\n" + log)
        stale = [p for p in problems if p.startswith("stale manifest")]
        if stale:  # refused before any test ran: every test is listed as the grader's failure
            for problem in [p for p in problems if p.startswith("internal error")]:  # a suite that did not collect
                errors.append(problem)
                print(f"ps1 grader: {problem}", file=sys.stderr)
            errors.append(stale[0])
            print(f"ps1 grader: {stale[0]}", file=sys.stderr)
            data = results.internal_error(time.time() - started)
        else:
            data = _results_of(manifest, outcomes, problems, info, staged, started, errors)
    except BaseException as exc:  # noqa: B902 — whatever it is, a results.json is still written
        internal(f"{type(exc).__name__}: {str(exc)[:2500]}")
        if not isinstance(exc, Exception):
            interrupted = exc  # KeyboardInterrupt, SystemExit: re-raised once results.json is written
    try:
        sandbox.kill_strays(keep=service.pids() if service else ())
    except BaseException as exc:
        internal(f"could not kill leftover processes: {type(exc).__name__}: {exc}")
    # results.json first: removing what a worker left (a million files, say) may take long, and
    # Gradescope stops everything at its own deadline.
    for attempt in ("results", "fallback"):
        try:
            if data is None or attempt == "fallback":
                data = results.internal_error(time.time() - started)
            results.write(data, results_path)
            break
        except BaseException as exc:
            internal(f"could not write {results_path} ({attempt}): {type(exc).__name__}: {exc}")
    try:
        cgroup.remove_stale_gradings()  # the workers' cgroups of a zygote that was killed
    except OSError as exc:
        internal(f"could not remove the workers' cgroups: {exc}")
    if work is not None:
        scratchfs.unmount_below(work)  # a scratch tmpfs a dead session left mounted
        try:
            left = cleanup.remove_tree(work, until=time.monotonic() + FINAL_CLEANUP_S)
        except cleanup.OutOfTime:  # plain scratch folders flooded faster than they can be removed
            left = 0
            print(f"ps1 grader: stopped removing {work} after {FINAL_CLEANUP_S:g} s (the upload filled its "
                  "scratch folders); results.json is written; remove the folder with rm -rf", file=sys.stderr)
        if left:
            errors.append(f"{left} entries of {work} could not be removed")
            print(f"ps1 grader: internal error: {left} entries of {work} could not be removed", file=sys.stderr)
    if interrupted is not None:
        raise interrupted
    if not quiet:
        try:
            if data["output"]:
                results.echo(data["output"])
            results.echo(results.table(data))
        except Exception as exc:
            internal(f"could not print the score table: {type(exc).__name__}: {exc}")
    return data


def grade_command(submission, results_path, deadline=None, quiet=False, plain_scratch=False, service=None):
    """``python -m autograder grade``: 0 when grading ran cleanly; 1 after an internal error
    (results.json was written all the same, see :func:`grade`)."""
    errors = []
    try:
        grade(submission, results_path, deadline, quiet, errors=errors, plain_scratch=plain_scratch, service=service)
    except Exception as exc:  # grade() contains its own errors; this is the very last resort
        errors.append(f"{type(exc).__name__}: {exc}")
        try:
            results.write(results.internal_error(), results_path)
        except Exception:
            pass
    if errors:
        first = errors[0].splitlines()[0][:300] if errors[0] else ""
        more = f" (and {len(errors) - 1} more, see above)" if len(errors) > 1 else ""
        print(f"ps1 grader: internal error: {first}{more}; exit status 1", file=sys.stderr)
        return 1
    return 0
