"""The grading session: the trusted process that runs the tests and computes every verdict.

Forked by the launcher (:mod:`autograder.worker.launch`) that :mod:`autograder.harness.grade`
starts, next to its sibling the zygote. It collects
the suites, reports the manifest of tests (over ``--report-fd``, one JSON line per message)
and runs each test body here, in this process, which never imports, runs or unpickles
anything of the student's. Student code runs only in workers: the zygote
(:mod:`autograder.worker.zygote`, forked from an interpreter that held nothing but torch and
numpy, it adds the probe library only) forks a fresh, confined worker for each test,
connected to this process by one socket. The test's probes go over that socket and come back as
plain data (:mod:`tests.probes.wire`); the worker is killed when the test ends.
"""
import argparse
import ctypes
import dataclasses
import gc
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from _pytest.runner import runtestprotocol

from tests.probes import wire
from tests.support import client, examples
from tests.support.plugin import number_key, points_of

from ..worker import procs
from . import cleanup, exits, scratchfs, uploaded

OUTPUT_CAP = 3000
DEFAULT_TIMEOUT_S = client.WALL_LIMIT_S
STARTUP_TIMEOUT_S = 120.0
LOG_FD = 2


def manifest_entry(item):
    declared = points_of(item)
    return {
        "id": item.nodeid,
        "name": declared["name"],  # the number has its own field: Gradescope shows and sorts by it
        "number": declared["number"],
        "max_score": declared["weight"],
        "visibility": declared["visibility"],
        "tags": declared["tags"],
    }


def _section(entry):
    return entry["number"].split(".")[0]


def interleave(items, entries):
    """Round-robin over sections (1.1, 2.1, 3.1, …, 1.2, …) so that a section whose tests all
    hang cannot use up the time budget of the sections after it."""
    by_section = {}
    for item, entry in zip(items, entries):
        by_section.setdefault(_section(entry), []).append((item, entry))
    queues = [sorted(v, key=lambda ie: number_key(ie[1]["number"])) for _, v in sorted(by_section.items())]
    order = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order


def outcome_of(reports):
    """(status, message) from pytest's setup/call/teardown reports."""
    for report in reports:
        if report.failed:
            text = report.longreprtext if hasattr(report, "longreprtext") else str(report.longrepr)
            where = "" if report.when == "call" else f" (during test {report.when})"
            return "failed", (text.strip() + where)[:OUTPUT_CAP]
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            return "failed", f"skipped: {reason}"[:OUTPUT_CAP]
    # A passing test may still have something to say (the trained models' figures).
    said = [value for report in reports if report.when == "call"
            for name, value in getattr(report, "user_properties", ()) if name == "feedback"]
    return "passed", "\n".join(map(str, said))[:OUTPUT_CAP]


def death_message(status):
    """How a worker ended, completing "the test process ..."."""
    if "signal" in status:
        name = exits.signal_name(status["signal"])
        if name == "SIGXCPU":
            return client.cpu_message(client.CPU_LIMIT_S)
        hint = {"SIGKILL": " (killed: probably the memory limit)", "SIGSEGV": " (a crash inside native code)"}.get(name, "")
        return f"was ended by {name}{hint} while running your code."
    return ("ended before the test finished (exit status "
            f"{status.get('exit', '?')}): does your code call sys.exit(), os._exit() or os.kill()?")


# --- the zygote and its workers -----------------------------------------------------------------

class Zygote:
    """The session's handle on the zygote (a sibling process, forked by the launcher)."""

    def __init__(self, control_fd, pid, user):
        self.sock = socket.socket(fileno=control_fd)
        self.pid, self.user = pid, user
        self.info, self.buffer, self.seq = None, b"", 0

    def _reply(self, seq, timeout):
        """The zygote's answer to command ``seq``; answers to earlier commands that timed out
        here are skipped, so the two sides never fall out of step."""
        deadline = time.time() + timeout
        while True:
            while b"\n" not in self.buffer:
                self.sock.settimeout(max(0.01, deadline - time.time()))
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the zygote exited")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\n", 1)
            reply = json.loads(line)
            if reply.get("seq", seq) == seq:
                return reply

    def ready(self, timeout=STARTUP_TIMEOUT_S):
        if self.info is None:
            self.info = self._reply(0, timeout)
        return self.info

    def command(self, cmd, fds=(), timeout=60.0, **args):
        self.seq += 1
        message = (json.dumps({"cmd": cmd, "seq": self.seq, **args}) + "\n").encode()
        if fds:
            socket.send_fds(self.sock, [message], list(fds))
        else:
            self.sock.sendall(message)
        return self._reply(self.seq, timeout)

    def death(self, wait=0.0):
        """How the zygote ended (one line), or ``None`` while it runs (after waiting up to
        ``wait`` seconds for it to end). It is not this process's child: the grading process
        reaps it, so until then /proc still shows it as a zombie with its exit status."""
        stop = time.time() + wait
        while True:
            died = self._death()
            if died or time.time() >= stop:
                return died
            time.sleep(0.01)

    def _death(self):
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return "it is gone"
        if fields[0] not in ("Z", "X"):
            return None
        try:
            status = int(fields[49])  # exit_code, in waitpid's encoding (Linux 3.5 and later)
        except (IndexError, ValueError):
            return "it exited"
        return "it " + exits.ending(status)

    def close(self):
        try:
            self.command("exit", timeout=10)
        except (OSError, RuntimeError, ValueError):
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# What one test may receive from its workers: the solution's largest answer is 1.5 MB and its
# largest test receives 2.3 MB in all, so these leave a correct upload 20x room while the session
# never holds more than FRAME_CAP of one worker's bytes (plus their decoded tensors: no more, as
# a frame's tensors may not share bytes) whatever the worker sends.
FRAME_CAP = 32 * 2**20
ANSWER_BUDGET = 64 * 2**20


REMOVER = cleanup.Background()


# How often the session sums the CPU time of a worker's processes (a worker alone is held to
# its budget by its own RLIMIT_CPU; this catches the processes it starts).
CPU_WATCH_S = 0.5


class Remote:
    """One test's worker: a transport for :class:`tests.support.client.Worker`. The worker may
    use ``cpu_s`` seconds of CPU time (its own limit, so a loaded machine changes nothing); the
    test's wall-clock ``timeout`` is a backstop for workers that wait instead. Its answers may
    add up to ``ANSWER_BUDGET`` bytes per test (restarts included), each at most ``FRAME_CAP``.

    Where workers run as the sandbox user, the budget holds for every process of that user
    together (the test's only processes: the sweep between tests leaves none): a worker that
    forks 60 busy children is stopped once they have spent ``cpu_s`` between them, not after
    the wall-clock backstop with every core busy (a fork bomb's test took 60 s of CPU)."""

    def __init__(self, zygote, scratch_root, timeout, cpu_s=client.CPU_LIMIT_S, scratch=None, deadline=None,
                 received=0, seed=None):
        self.zygote, self.timeout, self.cpu_s, self.scratch_root = zygote, timeout, cpu_s, scratch_root
        self.seed = seed
        self.deadline = deadline or time.time() + timeout
        self.received = received
        self.mounted = False
        if scratch is None:
            scratch = tempfile.mkdtemp(prefix="test-", dir=scratch_root)
            self.mounted = scratchfs.mount(scratch, zygote.user)
            if zygote.user and not self.mounted:
                os.chown(scratch, *zygote.user)
        self.scratch = scratch
        self.sock, theirs = socket.socketpair()
        try:
            self.pid = zygote.command("spawn", fds=[theirs.fileno()], scratch=self.scratch,
                                      cpu_s=int(math.ceil(cpu_s)), seed=seed)["pid"]
        finally:
            theirs.close()
        self.dead = None
        self.over_cpu, self.watching = False, threading.Event()
        if zygote.user:
            threading.Thread(target=self._watch_cpu, name=f"cpu-{self.pid}", daemon=True).start()

    def _watch_cpu(self):
        """Every ``CPU_WATCH_S``: once the sandbox user's processes have spent ``cpu_s`` of CPU,
        kill them all and close the channel; ``request`` then reports the CPU limit."""
        uid = self.zygote.user[0]
        while not self.watching.wait(CPU_WATCH_S):
            if procs.cpu_seconds(procs.owned_by(uid)) <= self.cpu_s:
                continue
            self.over_cpu = True
            for pid in procs.owned_by(uid):  # the sweep after the test kills whatever they fork meanwhile
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the session's wait for an answer
            except OSError:
                pass
            return

    def request(self, frame, timeout=None):
        try:
            self.sock.settimeout(max(0.001, self.deadline - time.time()))
            self.sock.sendall(frame)
            room = max(0, min(FRAME_CAP, ANSWER_BUDGET - self.received))
            limits = dataclasses.replace(wire.LIMITS, blob_bytes=min(wire.LIMITS.blob_bytes, room),
                                         header_bytes=min(wire.LIMITS.header_bytes, room))
            frame = wire.read_frame(self.sock, limits=limits, deadline=self.deadline)
            if frame is None:
                raise EOFError("the worker closed its channel")
            self.received += len(frame)
            return frame
        except (socket.timeout, TimeoutError):
            self._kill()
            raise self._gone(client.wall_message(self.timeout), hung=True) from None
        except wire.WireError as exc:
            self._kill()
            if str(exc).startswith("frame too large"):
                raise self._gone(
                    f"sent an answer larger than a test accepts ({exc}; at most {FRAME_CAP >> 20} MB in one answer "
                    f"and {ANSWER_BUDGET >> 20} MB in all, {self.received >> 20} MB used): return results of the "
                    "documented shapes; this test scores 0.") from None
            raise self._gone(f"sent an unreadable answer ({exc}); this test scores 0.") from None
        except (BrokenPipeError, ConnectionError, EOFError):
            self._kill()
            try:
                status = self.status()
            except (OSError, RuntimeError, ValueError):
                status = None  # the zygote cannot answer: it died, and its workers with it (PR_SET_PDEATHSIG)
            died = self.zygote.death(wait=0.2 if status is not None else 2.0)
            if died:  # no verdict on the upload
                client.grader_faults.append(f"the zygote died: {died}")
                raise client.WorkerGone(f"was ended because the grader's process that starts each test's process "
                                        f"died ({died}). This is no verdict on your code; please tell the course "
                                        "staff.") from None
            if status is None and not self.over_cpu:
                raise
            raise self._gone(status and death_message(status)) from None

    def _gone(self, message, hung=False):
        """The worker is gone, and ``message`` says how; but where the CPU watcher stopped it
        (closing the channel, so the session saw a timeout, a cut frame or an EOF), the CPU limit
        is why."""
        if self.over_cpu:
            return client.WorkerGone(client.cpu_message(self.cpu_s))
        return client.WorkerGone(message, hung=hung)

    def _kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def status(self):
        if self.dead is None:
            self.dead = self.zygote.command("reap", pid=self.pid, timeout=2.0)
        return self.dead

    def _end(self):
        """Kill the worker and everything it started."""
        self.watching.set()
        self.sock.close()
        self._kill()
        if self.zygote.death():
            return  # nothing to sweep with; the tests left say so
        try:
            self.status()
            self.zygote.command("sweep", timeout=120.0)
        except (OSError, RuntimeError, ValueError):
            if not self.zygote.death(wait=1.0):
                raise
            # It died during the sweep: the test's own verdict stands, the next test says why.

    def restart(self):
        """A fresh worker for the rest of the test, in the same scratch folder (the files the
        first one wrote stay; none of its processes does) and under the same deadline."""
        self._end()
        fresh = Remote(self.zygote, self.scratch_root, self.timeout, self.cpu_s, scratch=self.scratch,
                       deadline=self.deadline, received=self.received,
                       seed=None if self.seed is None else (self.seed + 1) % 2**63)
        fresh.mounted, self.mounted = self.mounted, False  # the folder (and its mount) is the new one's
        return fresh

    def close(self):
        self._end()
        if self.mounted:
            scratchfs.unmount(self.scratch)
            cleanup.remove_tree(self.scratch)  # the empty mount point
        else:  # a plain folder may hold any number of entries: removed off every test's clock
            REMOVER.discard(self.scratch)


# --- the pytest plugin ------------------------------------------------------------------------

def as_tmpdir(text, folders):
    """``text`` with each of the test's scratch folders written as ``$TMPDIR`` (the worker's
    TMPDIR): their names are drawn afresh at each grading, and a message that quotes a path in
    them (a checkpoint the student's code could not load) would differ from one grading of the
    same upload to the next."""
    for folder in folders:
        for form in {folder, os.path.realpath(folder)}:
            text = text.replace(form, "$TMPDIR")
    return text


def worker_seed(item):
    """The seed of the global random generators (torch's, numpy's, Python's) in ``item``'s
    worker, from the grading key: a student's code that draws from them (dropout, an unseeded
    initialisation, ``random.random()``) gets the same numbers whichever process grades the
    upload. Each interpreter's torch draws its own default seed, so two gradings of one upload
    used to differ in the figures of such code's failures. It tells a worker nothing of the key
    or of the examples (an HMAC of the key, like every example's seed)."""
    return examples.source.seed(item.nodeid, "the worker's global random generators")


class Session:
    """pytest plugin: runs the collected tests one by one, each with its own worker."""

    def __init__(self, report, zygote, scratch, deadline, timeout):
        self.report, self.zygote, self.scratch = report, zygote, scratch
        self.deadline, self.timeout = deadline, timeout
        self.entries = []
        self.current = None
        self.zygote_death = None
        self.folders = []  # the scratch folders of the running test's workers

    def send(self, message):
        os.write(self.report, (json.dumps(message) + "\n").encode())

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        self.entries = [manifest_entry(item) for item in session.items]
        self.send({"type": "manifest", "tests": self.entries})

    def pytest_collectreport(self, report):
        if report.failed:  # collection never runs student code: this is the grader's own bug
            self.send({"type": "collect_error", "where": report.nodeid, "text": str(report.longrepr)[:OUTPUT_CAP]})

    def backend(self, item):
        try:
            transport = Remote(self.zygote, self.scratch, self.current, seed=worker_seed(item))
            self.folders.append(transport.scratch)
        except Exception:
            died = self.zygote.death(wait=1.0)
            if not died:
                raise
            raise client.NoWorker(f"not run: the grader's process that starts each test's process died ({died}). "
                                  "This is no verdict on your code; please tell the course staff.") from None
        # To the session log (fd 2 itself: pytest captures sys.stderr while a test runs).
        os.write(LOG_FD, f"test {getattr(item, 'ps1_number', item.nodeid)}: worker {transport.pid}\n".encode())
        return transport

    def pytest_runtestloop(self, session):
        if session.testsfailed and not session.items:
            return True
        try:
            info = self.zygote.ready()
        except (OSError, RuntimeError, ValueError) as exc:
            info = {"error": f"the zygote did not start: {type(exc).__name__}: {exc}"}
        if isinstance(info.get("protections"), dict):
            info["protections"]["scratch"] = scratchfs.check(self.scratch, self.zygote.user)
        self.send({"type": "workers", "info": info, "session_pid": os.getpid(), "zygote_pid": self.zygote.pid})
        client.backend = self.backend
        ordered = interleave(session.items, self.entries)
        for index, (item, entry) in enumerate(ordered):
            left = self.deadline - time.time()
            if left < 1.0:
                self.send({"type": "result", "id": entry["id"], "status": "failed", "seconds": 0.0,
                           "output": "not run: the grading time budget ran out (an earlier test of yours took "
                                     "very long or hung)."})
                continue
            died = self.zygote.death()
            if died:
                if not self.zygote_death:
                    self.zygote_death = died
                    self.send({"type": "died", "process": "zygote", "cause": died})
                self.send({"type": "result", "id": entry["id"], "status": "failed", "seconds": 0.0,
                           "grader_fault": f"the zygote died: {died}",
                           "output": f"not run: the grader's process that starts each test's process died ({died}). "
                                     "This is no verdict on your code; please tell the course staff."})
                continue
            # Leave every test that still has to run at least a fair share of what is left.
            remaining = len(ordered) - index
            self.current = max(1.0, min(self.timeout, left - 0.5 * (remaining - 1)))
            item.ps1_number = entry["number"]
            started = time.time()
            client.grader_faults.clear()
            self.folders = []
            try:
                status, output = outcome_of(runtestprotocol(item, log=False, nextitem=None))
                output = as_tmpdir(output, self.folders)
            except Exception as exc:  # noqa: BLE001 — a bug of ours costs this test, never the session
                client.grader_faults.append(f"the session raised {type(exc).__name__}: {str(exc)[:300]}")
                status, output = "failed", f"internal grader error ({type(exc).__name__}), please tell the course staff."
            result = {"type": "result", "id": entry["id"], "status": status, "output": output,
                      "seconds": round(time.time() - started, 3)}
            if client.grader_faults and status != "passed":
                result["grader_fault"] = "; ".join(client.grader_faults)[:500]
            self.send(result)
            board = uploaded.take_leaderboard()
            if board:
                self.send({"type": "leaderboard", "entries": board})
            release_memory()
        return True


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
PR_SET_PDEATHSIG = 1


def map_large_blocks(threshold=1 << 20):
    """Serve every allocation of ``threshold`` bytes or more (tensor storage) from its own
    mapping, given back to the kernel when freed. glibc's default threshold rises to the largest
    block freed so far (up to 32 MiB); after that, a float64 convolution's unfolded input (10–50
    MB, freed a moment later) stays in this heap until the test ends: the session held 80 MB
    more than it used while computing 4.11's examples, at the grading's peak."""
    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, threshold)
    except (OSError, AttributeError):  # not glibc
        pass


def release_memory():
    """Give what the last test freed back to the kernel, so that one test's peak does not stay
    in the session's heap under the next one's (glibc keeps freed pages otherwise)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def audit_student_imports(staged):
    """Record any import of a ``submission`` module or opening of a staged file in this
    process (there must be none: the self-tests check) other than the trained models, which
    the session reads as data (safetensors: tensors and strings, no code)."""
    seen = []
    staged = os.path.realpath(staged)
    models = os.path.join(staged, "models") + os.sep

    def hook(event, args):
        if event == "import" and args and str(args[0]).split(".")[0] == "submission":
            seen.append(f"import {args[0]}")
        elif event == "open" and args and isinstance(args[0], (str, bytes)):
            path = os.fsdecode(args[0])
            real = os.path.realpath(path)
            if real.startswith(staged + os.sep) and not (real + os.sep).startswith(models):
                seen.append(f"open {path}")

    sys.addaudithook(hook)
    return seen


def pytest_args(basetemp, paths):
    """The session's pytest command line. ``-s``: the session's own output goes straight to its
    log, which in the warm service is a different file for each upload forked from one template
    (pytest's capture would restore the template's descriptors between tests). No logging
    plugin: nothing here logs, and its handlers around each phase of each test were 13 % of the
    CPU time of grading the skeleton (1.67 s, 1.46 s without)."""
    return ["-q", "-s", "-p", "no:cacheprovider", "-p", "no:timeout", "-p", "no:randomly", "-p", "no:logging",
            "--rootdir", os.getcwd(), "-o", "addopts=", "-o", "python_files=test_*.py", "--basetemp", basetemp,
            *paths]


@dataclasses.dataclass
class Upload:
    """What the session holds for one upload: its tests' plugin, and what its audit hook saw."""
    plugin: Session
    seen: list
    audit: str = None

    @classmethod
    def start(cls, report_fd, key, staged, control_fd, zygote_pid, scratch, user, deadline,
              timeout=DEFAULT_TIMEOUT_S, plain_scratch=False, audit=None):
        """Set up this process (the session under ``grade``, a fresh fork of the template in the
        warm service) for one upload; the same steps in both."""
        from autograder.examples import Fresh

        examples.source = Fresh(key)  # every test draws its examples from this grading's key
        seen = audit_student_imports(staged)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        user = tuple(int(v) for v in user.split(":")) if user else None
        if plain_scratch:
            scratchfs.refuse("plain folders were asked for")
        uploaded.MODELS_DIR = os.path.join(staged, "models")  # read as data by autograder.trained
        zygote = Zygote(control_fd, zygote_pid, user)
        return cls(Session(report_fd, zygote, scratch, deadline, timeout), seen, audit)

    def end(self):
        zygote = self.plugin.zygote
        zygote.close()
        REMOVER.close()  # the helper finishes on its own; the grader removes what it has not
        if self.audit:
            with open(self.audit, "w") as out:
                json.dump({"seen": self.seen, "modules": sorted(m for m in sys.modules if m.startswith("submission")),
                           "workers": zygote.info or {}}, out)


def warm_up():
    """Import what the tests' oracles import on first use (trusted code: torch's own), once in the
    template rather than in every upload's session: the first optimizer imports torch._dynamo,
    1.5 s of CPU that every grading paid in test 6.1. (Not in the launcher, for both children:
    that took 80 MB more at the peak of a grading under ``grade``, 534 MB against 455.)"""
    import torch

    weight = torch.zeros(1, requires_grad=True)
    for optimizer in (torch.optim.SGD([weight], lr=0.1), torch.optim.Adam([weight])):
        weight.grad = torch.zeros(1)
        optimizer.step()


class Template:
    """pytest plugin of the warm service's session template (:mod:`.service`): it collects every
    suite once, then, for each upload the grading process asks for, gets a fresh zygote from the
    zygote template and forks a fresh session, which runs that upload's tests exactly as the
    session of ``grade`` does (:class:`Upload`, :meth:`Session.pytest_runtestloop`) and exits.
    This process never runs a test: each upload starts from the same collected, untouched state.

    Over the service socket (one JSON line each; descriptors with ``grade``): ``ready`` {tests:
    the manifest entries collected} →; ``grade``
    (the upload's report pipe and log) → ``started`` {session_pid, zygote_pid}, ``exited``
    {status} when the session has exited, ``ended`` once its zygote is released; ``exit``.
    """

    def __init__(self, service_fd, control_fd, zygote_pid, timeout):
        self.service = socket.socket(fileno=service_fd)
        self.zygotes = Zygote(control_fd, zygote_pid, None)
        self.timeout = timeout
        self.entries, self.collect_errors = [], []

    def send(self, message):
        self.service.sendall((json.dumps(message) + "\n").encode())

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append({"type": "collect_error", "where": report.nodeid,
                                        "text": str(report.longrepr)[:OUTPUT_CAP]})

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        self.entries = [manifest_entry(item) for item in session.items]

    def pytest_runtestloop(self, session):
        warm_up()
        info = self.zygotes.ready()
        gc.freeze()  # each upload's fork would otherwise copy these pages on its first collection
        self.send({"type": "ready", "tests": self.entries, "pid": os.getpid(), "zygote_template": info.get("pid")})
        buffer = b""
        while True:
            message, fds, _, _ = socket.recv_fds(self.service, 65536, 4)
            if not message:
                return True
            buffer += message
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                request = json.loads(line)
                if request["cmd"] == "exit":
                    return True
                self.grade(session, request, fds)
                fds = []

    def grade(self, session, request, fds):
        report_fd, log_fd = fds
        ours, theirs = socket.socketpair()
        try:
            zygote_pid = self.zygotes.command("zygote", fds=[theirs.fileno(), log_fd], staged=request["staged"],
                                              user=request["user"], timeout=STARTUP_TIMEOUT_S)["pid"]
        finally:
            theirs.close()

        def upload():
            self.service.close()
            self.zygotes.sock.close()
            return self._run_upload(session, request, report_fd, log_fd, ours.detach(), zygote_pid)

        pid = procs.fork_child(upload)
        for fd in (report_fd, log_fd):
            os.close(fd)
        ours.close()
        self.send({"type": "started", "session_pid": pid, "zygote_pid": zygote_pid})
        _, status = os.waitpid(pid, 0)
        self.send({"type": "exited", "status": status})
        try:
            os.killpg(pid, signal.SIGKILL)  # what the session started (its clean-up helper)
        except (ProcessLookupError, PermissionError):
            pass
        self.zygotes.command("release", pid=zygote_pid, user=request["user"], timeout=120.0)
        self.send({"type": "ended"})

    def _run_upload(self, session, request, report_fd, log_fd, control_fd, zygote_pid):
        global LOG_FD
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a stopped service takes it along
        os.setsid()  # the grading process kills this group at the deadline, as it does under grade
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        LOG_FD = os.dup(2)
        upload = Upload.start(report_fd, bytes.fromhex(request["key"]), request["staged"], control_fd, zygote_pid,
                              request["scratch"], request["user"], request["deadline"], self.timeout,
                              request.get("plain_scratch", False), request.get("audit"))
        try:
            for message in self.collect_errors:  # as the session of grade reports its collection
                upload.plugin.send(message)
            upload.plugin.entries = self.entries
            upload.plugin.send({"type": "manifest", "tests": self.entries})
            upload.plugin.pytest_runtestloop(session)
        finally:
            upload.end()
        return 0


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", action="store_true", help="the warm service's session template")
    parser.add_argument("--service-fd", type=int, help="with --template: socket to the grading process")
    parser.add_argument("--report-fd", type=int)
    parser.add_argument("--key-fd", type=int, help="pipe holding the grading key (hex)")
    parser.add_argument("--staged", help="folder holding the staged submission/ package")
    parser.add_argument("--control-fd", type=int, required=True, help="socket to the zygote (or its template)")
    parser.add_argument("--zygote-pid", type=int, required=True)
    parser.add_argument("--scratch", help="where each worker gets its own folder")
    parser.add_argument("--user", default="", help="uid:gid of the sandbox user (as root)")
    parser.add_argument("--deadline", type=float, help="absolute time.time() to stop by")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    parser.add_argument("--audit", default=None, help="write what the audit hook saw here (self-tests)")
    parser.add_argument("--plain-scratch", action="store_true", help="never mount a tmpfs (the fallback)")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)

    global LOG_FD
    map_large_blocks()
    if args.template:
        template = Template(args.service_fd, args.control_fd, args.zygote_pid, args.timeout)
        basetemp = tempfile.mkdtemp(prefix="ps1-template-")
        try:
            pytest.main(pytest_args(basetemp, args.paths), plugins=[template])
        finally:
            cleanup.remove_tree(basetemp)
        return 0
    LOG_FD = os.dup(2)  # the log, kept apart from what pytest does with fd 2
    with os.fdopen(args.key_fd, "rb") as key_pipe:
        key = bytes.fromhex(key_pipe.read().decode())
    upload = Upload.start(args.report_fd, key, args.staged, args.control_fd, args.zygote_pid, args.scratch, args.user,
                          args.deadline, args.timeout, args.plain_scratch, args.audit)
    try:
        # The zygote warms up while this process collects the tests.
        code = pytest.main(pytest_args(os.path.join(args.scratch, "pytest"), args.paths), plugins=[upload.plugin])
    finally:
        upload.end()
    return 0 if code in (0, 1) else int(code)


if __name__ == "__main__":
    sys.exit(main())
