"""The warm grading service: many uploads, one start-up.

``grade`` pays, for every upload, a fresh interpreter, ``import torch``, pytest, the collection
of every suite and the zygote's warm-up; none of it depends on the upload. The service pays
them once. One launcher (:mod:`autograder.worker.launch`, ``--template``) imports torch and
numpy and forks two templates:

* the **session template** (:class:`autograder.harness.session.Template`) imports pytest,
  collects every suite (hypothesis, the oracles: trusted code only) and then, for each upload,
  forks a fresh session that runs the upload's tests exactly as ``grade``'s session does;
* the **zygote template** (:class:`autograder.worker.zygote.Template`) warms up once and forks
  a fresh zygote for each upload, with that upload's staged folder and uid; the zygote forks
  one worker per test as under ``grade``. Nothing of any student ever runs in a template.

Every step around the session is :func:`.grade.grade`'s own (staging, a fresh sandbox uid, the
key, scratch, deadline, results.json, clean-up): :class:`Service` only replaces
:func:`.grade.run_session`. What one upload touched (its session and zygote, their modules,
caches, hung-import records, hypothesis state; its workers, uid, files) ends with it; the next
upload forks again from the untouched templates. A template found dead is started afresh
before the next upload.

``python -m autograder serve`` (:func:`serve_main`) is a grading server on its stdin/stdout:
one JSON request per line (a ``grade`` command line, the ``PS1_*`` environment, where its
stdout and stderr go), one ``{"exit": code}`` per request. :class:`Client` drives one; regrade
keeps one per job slot and the self-tests one per test process.
"""
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import cleanup, grade as grade_mod, results, sandbox

START_TIMEOUT_S = 180.0
END_WAIT_S = 5.0          # as grade's _death_of: how long a session that closed its pipe may take to exit
RELEASE_TIMEOUT_S = 150.0  # the zygote template's sweep of an upload's processes (30 s at most) and more


class ServiceError(RuntimeError):
    """The templates did not answer (one died): the upload is the grader's fault, not graded."""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Service:
    """The grading process's handle on the warm templates (started on first use)."""

    def __init__(self):
        self.sock = self.work = None
        self.templates = ()
        self.manifest = None  # the tests the session template collected
        self.buffer = b""
        self.starts = 0

    # -- the templates ----------------------------------------------------------------------------

    def start(self):
        sandbox.become_subreaper()  # the launcher exits at once: its two children become ours
        self.work = Path(tempfile.mkdtemp(prefix="ps1-service-"))
        os.chmod(self.work, 0o711)
        user = os.geteuid() == 0
        grader_root = grade_mod._private_copy(self.work / "grader") if user else grade_mod.ROOT
        runtime = grade_mod.build_runtime(self.work / "runtime")
        ours, theirs = socket.socketpair()
        cmd = grade_mod.launcher_command(runtime, grader_root, ["--template"],
                                         ["--template", "--service-fd", str(theirs.fileno())])
        # The templates stay in this process's group: killing the group (Client.kill) ends them, and
        # what they forked for an upload dies with them (PR_SET_PDEATHSIG).
        with open(self.work / "service.log", "ab") as log:
            proc = subprocess.Popen(cmd, cwd=runtime, env=grade_mod._session_env(), pass_fds=(theirs.fileno(),),
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        theirs.close()
        proc.wait()
        self.sock, self.buffer = ours, b""
        try:
            ready = self._receive("ready", START_TIMEOUT_S)
        except ServiceError:
            log = (self.work / "service.log").read_text(errors="replace")[-2000:]
            self.close()
            raise ServiceError("the warm service did not start; its log ends with:\n" + log) from None
        self.templates = (ready["pid"], ready["zygote_template"])
        self.manifest = ready["tests"]
        self.starts += 1

    def ensure(self):
        """Started, with both templates alive (else started afresh)."""
        if self.sock is not None and self.templates and all(map(_alive, self.templates)):
            return
        self.close()
        self.start()

    def pids(self):
        """The templates' pids: the grading process's children that are not strays."""
        return set(self.templates)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.sendall(b'{"cmd": "exit"}\n')
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        stop = time.monotonic() + 5.0
        for pid in self.templates:
            while _alive(pid) and time.monotonic() < stop:
                time.sleep(0.02)
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.templates = ()
        if self.work is not None:
            cleanup.remove_tree(self.work)
            self.work = None

    def _receive(self, kind, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServiceError(f"the session template sent no {kind!r} in {timeout:g} s")
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.templates = ()
                raise ServiceError(f"the session template exited (waiting for {kind!r})")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message = json.loads(line)
        if message.get("type") != kind:
            raise ServiceError(f"the session template sent {message.get('type')!r}, not {kind!r}")
        return message

    # -- one upload ---------------------------------------------------------------------------------

    def run_session(self, staged_root, work, deadline, log_path, key, user=None, audit=None, plain_scratch=False):
        """:func:`.grade.run_session`, forked from the templates: ``(manifest, outcomes, problems,
        info)``, the same for the same upload and key."""
        self.ensure()
        scratch = work / "scratch"
        scratch.mkdir(mode=0o711, exist_ok=True)
        read_end, write_end = os.pipe()
        request = {"cmd": "grade", "staged": str(staged_root), "scratch": str(scratch),
                   "user": f"{user[0]}:{user[1]}" if user else "", "deadline": deadline - 5.0, "key": key.hex(),
                   "audit": str(audit) if audit else None, "plain_scratch": bool(plain_scratch)}
        try:
            with open(log_path, "ab") as log:
                socket.send_fds(self.sock, [(json.dumps(request) + "\n").encode()], [write_end, log.fileno()])
        except OSError as exc:
            os.close(read_end)
            self.templates = ()
            raise ServiceError(f"the session template did not take the upload: {exc}") from None
        finally:
            os.close(write_end)
        try:
            started = self._receive("started", START_TIMEOUT_S)
        except ServiceError:
            os.close(read_end)
            raise
        reports = grade_mod.Reports.read(read_end, deadline, log_path)
        session, zygote = started["session_pid"], started["zygote_pid"]
        status = None
        if reports.ended:  # it closed its pipe: how it exits tells whether it died
            try:
                status = self._receive("exited", END_WAIT_S)["status"]
            except ServiceError:
                if not self.templates:
                    raise
        if status is None:  # the deadline, or still running END_WAIT_S later: stopped, as grade does
            self._kill(session, zygote)
            self._receive("exited", RELEASE_TIMEOUT_S)
        self._receive("ended", RELEASE_TIMEOUT_S)  # its zygote released, the upload's processes killed
        death = grade_mod.death_of_status(status) if status is not None and reports.session_pid else None
        return reports.outcome(death)

    @staticmethod
    def _kill(*groups):
        for pid in groups:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# --- the grading server (python -m autograder serve) and its client ---------------------------------

def _apply_env(wanted):
    """Set the ``PS1_*`` variables to ``wanted`` (the client's at the time of its request)."""
    for name in [n for n in os.environ if n.startswith("PS1_") and n not in wanted]:
        del os.environ[name]
    os.environ.update({k: v for k, v in wanted.items() if k.startswith("PS1_")})


def _start(service):
    """Answer a ``start`` request: the templates started (the upload-independent part of every
    grading), and whether the suites they collected still match ``tests_manifest.json``."""
    try:
        service.ensure()
    except ServiceError as exc:
        return {"exit": 70, "error": str(exc)}
    stale = results.manifest_is_stale(service.manifest)
    return {"exit": 0, "stale_manifest": stale, "tests": len(service.manifest)}


def serve_main(parse):
    """Grade the uploads asked for on stdin, one at a time, with one warm :class:`Service`.
    ``parse`` turns a command line into ``grade``'s arguments (``python -m autograder``'s parser)."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed between requests goes to the server's log, never to the replies
    service = Service()
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("cmd") == "start":
                replies.write(json.dumps(_start(service)) + "\n")
                continue
            args = parse(request["argv"])
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err = out if request["err"] == request["out"] else os.open(request["err"], os.O_WRONLY | os.O_CREAT
                                                                       | os.O_TRUNC, 0o600)
            os.dup2(out, 1)
            os.dup2(err, 2)
            _apply_env(request.get("env", {}))
            started, code = time.monotonic(), 70
            try:
                code = grade_mod.grade_command(args.submission, args.results, deadline=args.deadline,
                                               quiet=args.quiet, plain_scratch=args.plain_scratch, service=service)
            except BaseException as exc:  # noqa: B902 — the server must answer every request
                print(f"ps1 grader: internal error: the grading server: {type(exc).__name__}: {exc}", file=sys.stderr)
                if not isinstance(exc, Exception):
                    raise
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in {out, err, *saved}:
                    os.close(fd)
            replies.write(json.dumps({"exit": code, "seconds": round(time.monotonic() - started, 3),
                                      "service_starts": service.starts, "templates": list(service.templates)}) + "\n")
    finally:
        service.close()
    return 0


class Client:
    """One grading server, started on first use; :meth:`grade` is ``subprocess.run`` of
    ``python -m autograder grade ...``, with the start-up paid once."""

    def __init__(self, cwd, log=None, cpus=None, python=None):
        self.cwd, self.log, self.cpus, self.python = cwd, log, cpus, python or sys.executable
        self.proc = None
        self.last = {}
        self.starting = False  # a start request's answer is still to be read

    def _start(self):
        log = open(self.log or os.devnull, "ab")
        before = os.sched_getaffinity(0) if self.cpus else None
        if self.cpus:  # the server, its templates and every upload's processes inherit the pinning
            os.sched_setaffinity(0, self.cpus)
        try:
            self.proc = subprocess.Popen([self.python, "-m", "autograder", "serve"], cwd=self.cwd,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                         bufsize=1, start_new_session=True)
        finally:
            if self.cpus:
                os.sched_setaffinity(0, before)
            log.close()

    def start(self):
        """Have the server start its templates now, while the caller does something else;
        :meth:`started` has its answer."""
        self._send({"cmd": "start"})
        self.starting = True

    def started(self, timeout=START_TIMEOUT_S + 60.0):
        """The answer to :meth:`start`: ``{"exit": 0, "stale_manifest": bool, "tests": n}``, or
        ``{"exit": 70, "error": why}`` when the templates did not start. Raises ``RuntimeError``
        (with the end of the server's log) if the server itself exited."""
        self.starting = False
        return self._reply(["start"], timeout)

    def grade(self, argv, out, err=None, env=None, timeout=None):
        """Grade with ``argv`` (``grade``'s arguments, without ``grade``); stdout to ``out``,
        stderr to ``err`` (default: ``out`` too). Returns the exit status; raises
        ``subprocess.TimeoutExpired`` (the server is then stopped) after ``timeout`` s."""
        if self.starting:  # its answer comes first; a failed start is tried again by this grading
            try:
                self.started()
            except RuntimeError:
                pass  # the server exited: _send starts another
        env = {k: v for k, v in (os.environ if env is None else env).items() if k.startswith("PS1_")}
        request = {"argv": ["grade", *map(str, argv)], "out": str(out), "err": str(err or out), "env": env}
        self._send(request)
        self.last = self._reply(request["argv"], timeout)
        return self.last["exit"]

    def _send(self, request):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.close()
            raise RuntimeError(self._gone("the grading server exited")) from None

    def _reply(self, argv, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close(timeout=0)
            raise subprocess.TimeoutExpired(argv, timeout)
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(self._gone(f"the grading server exited during {argv[0]!r}"))
        return json.loads(line)

    def _gone(self, what):
        """``what``, and the last lines of the server's log (why it exited, as a rule)."""
        try:
            tail = Path(self.log).read_text(errors="replace").strip().splitlines()[-5:] if self.log else []
        except OSError:
            tail = []
        return what + "".join(f"\n  {line}" for line in tail)

    def close(self, timeout=30.0):
        """Stop the server: at once with ``timeout=0`` (its group is killed, and with its templates
        whatever they forked for the upload in progress), else after it has cleaned up."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.proc = None
        self.starting = False
