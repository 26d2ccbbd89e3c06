"""The zygote: a fresh interpreter that holds torch, numpy and the probe library, and forks
one worker per test.

Started by the grading session as ``python -I -B -c "..." --control-fd N ...`` with only the
runtime folder (this package and ``probes``) on ``sys.path``: it never sees a test, oracle,
fixture or the solution. The session talks to it over a Unix socket, one JSON line per
command, and passes each test's channel (a socket) along with ``spawn``:

* ``spawn`` → fork a worker that keeps only that channel, confines itself (:mod:`.confine`)
  and answers probe requests until the channel closes; answers ``{"pid": n}``;
* ``reap`` → wait for a (killed or finished) worker; answers how it ended;
* ``sweep`` → kill every process a test left behind (as root: every process of the sandbox
  user; otherwise every descendant, which this subreaper has inherited);
* ``exit``.
"""
import argparse
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import time

from . import cgroup, confine, hugepages, procs

CGROUP_EXTRA_MB = 160

# Standard-library modules a student's code may reasonably import, preloaded so that a worker
# never has to read the interpreter's files (the sandbox user may not be allowed to).
STDLIB_FOR_STUDENTS = ("abc", "bisect", "collections", "contextlib", "copy", "dataclasses", "enum", "fractions",
                       "functools", "heapq", "itertools", "json", "math", "numbers", "operator", "pathlib",
                       "pickle", "random", "re", "statistics", "string", "tempfile", "time", "typing", "warnings",
                       "zipfile", "io", "struct", "traceback", "inspect", "types", "collections.abc")


def warm_up():
    """Import and exercise what workers will need, so that it is loaded before the fork."""
    for name in STDLIB_FOR_STUDENTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    import io

    import numpy  # noqa: F401
    import torch
    import torch.nn.functional  # noqa: F401
    import torch.utils.data  # noqa: F401

    from probes import doubles, server, wire  # noqa: F401

    conv = torch.nn.Conv2d(1, 1, 3, padding=1).double()
    lin = torch.nn.Linear(3, 3)
    x = torch.randn(2, 1, 3, 3, requires_grad=True, dtype=torch.float64)
    (conv(x).sum() + lin(torch.randn(2, 3)).sum()).backward()
    torch.optim.Adam(lin.parameters()).step()
    torch.optim.lr_scheduler.StepLR(torch.optim.SGD(lin.parameters(), lr=0.1), 1)
    torch.rand(2, generator=torch.Generator().manual_seed(0)).bernoulli()
    torch.empty(2, device="meta") * 2
    torch.nn.functional.binary_cross_entropy_with_logits(torch.zeros(2), torch.zeros(2))
    torch.log_softmax(torch.zeros(2), 0)
    buffer = io.BytesIO()
    torch.save({"w": lin.state_dict()}, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)
    wire.decode(wire.encode({"t": torch.zeros(2), "x": (1, [2.0])}))
    seed_global_generators(0)  # its first call imports numpy.random and more: 4.4 ms in every worker


class Zygote:
    def __init__(self, args):
        self.args = args
        self.user = tuple(int(v) for v in args.user.split(":")) if args.user else None
        self.runtime = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.control = socket.socket(fileno=args.control_fd)
        # A worker may map memory_mb more than the zygote; the cgroup also counts what it makes the
        # kernel hold (pipes, page cache, its scratch tmpfs) and the zygote's pages it copies.
        self.cgroups = cgroup.Workers.create(args.memory_mb + CGROUP_EXTRA_MB) if self.user else None

    # -- the control loop ---------------------------------------------------------------------

    def serve(self):
        serve_commands(self.control, self)

    def cmd_spawn(self, command, fds):
        channel = fds[0]
        for extra in fds[1:]:
            os.close(extra)
        born_in = self.cgroups.take_next() if self.cgroups else None
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                self._become_worker(channel, command, born_in)
            except BaseException:  # noqa: B902 — nothing may escape a forked child
                code = 70
            finally:
                os._exit(code)
        os.close(channel)
        return {"pid": pid}

    def after_spawn(self):
        """Once the session has the new worker's pid: the cgroup for the next one."""
        if self.cgroups:
            self.cgroups.ready_next()

    def cmd_reap(self, command, fds):
        pid = command["pid"]
        deadline = time.time() + float(command.get("timeout", 2.0))
        _wait_for_exit(pid, float(command.get("timeout", 2.0)))
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return {"unknown": True}
            if done:
                break
            if time.time() > deadline:
                procs.kill_group(pid)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.005)
        if os.WIFSIGNALED(status):
            return {"signal": os.WTERMSIG(status)}
        return {"exit": os.WEXITSTATUS(status)}

    def cmd_sweep(self, command, fds):
        killed = sweep(self.user)
        if self.cgroups:
            self.cgroups.remove_empty()
        return {"killed": killed}

    def cmd_exit(self, command, fds):
        sweep(self.user)
        if self.cgroups:
            self.cgroups.close()
        return {"bye": True}

    # -- a worker -------------------------------------------------------------------------------

    def read_paths(self):
        return [*confine.interpreter_paths(), self.runtime, self.args.staged, *confine.SYSTEM_READ,
                "/dev/urandom", "/dev/random", "/dev/zero"]

    def protections(self):
        """What a worker will be confined by, tried out in a throw-away child."""
        found = {"user": f"uid {self.user[0]}" if self.user else "the grader's own user (not root)",
                 "limits": f"{self.args.memory_mb} MB address space, the test's CPU time limit, "
                           f"{self.args.file_size_mb} MB files, {confine.MAX_OPEN_FILES} open files, "
                           f"{self.args.max_processes} processes"}
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                oom = confine.oom_first()
                namespaces = confine.private_namespaces()
                described = confine.landlock(self.read_paths(), ["/dev/null"])
                outside = os.path.dirname(self.runtime)
                try:
                    os.listdir(outside)
                    described = None if described else described  # not enforced after all
                except PermissionError:
                    pass
                syscalls = confine.seccomp_filter()
                if syscalls and confine.memfd_refused() is False:
                    syscalls = None  # loaded, yet not enforced
                os.write(write_end, json.dumps([described, namespaces, syscalls, oom]).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        try:
            described, namespaces, syscalls, oom = json.loads(os.read(read_end, 4096).decode())
        except ValueError:
            described = namespaces = syscalls = oom = None
        os.close(read_end)
        os.waitpid(pid, 0)
        found["filesystem"] = described or "no Landlock: private copies and file permissions only"
        found["namespaces"] = namespaces or "none (not root)"
        found["syscalls"] = syscalls or "no seccomp filter (libseccomp is not installed)"
        found["cgroup"] = (self.cgroups.describe() if self.cgroups else
                           f"none ({cgroup.Workers.refused or 'not root'}): the address-space limit only")
        found["oom"] = (f"workers first (oom_score_adj 1000; the zygote {_oom_score_adj()})" if oom
                        else "the kernel's default choice")
        return found

    def _become_worker(self, channel, command, born_in=None):
        self.control.close()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.dup2(channel, 3)
        os.closerange(4, 65536)  # the channel is the only descriptor a worker keeps
        scratch = command["scratch"]
        args = self.args
        # CPU: the test's own limit (the session sends it; the same in-process on a student's
        # machine); the session's clock ends a worker that waits instead of computing.
        confine.limit(int(command["cpu_s"]), args.memory_mb, args.file_size_mb, args.max_processes, self.user)
        confine.oom_first()
        if self.cgroups and not born_in:
            try:
                self.cgroups.join(os.getpid())
            except OSError:
                pass  # the limits above still hold; the log said a cgroup was there
        confine.private_namespaces()
        confine.drop_privileges(self.user)
        confine.landlock(read_paths=self.read_paths(), write_paths=[scratch, "/dev/null"])
        confine.seccomp_filter()
        os.chdir(scratch)
        os.environ.update(HOME=scratch, TMPDIR=scratch, TMP=scratch, TEMP=scratch, USER="student", LOGNAME="student")
        import tempfile

        tempfile.tempdir = scratch  # the zygote may have cached another one
        if command.get("seed") is not None:
            seed_global_generators(int(command["seed"]))
        from probes import server, wire

        srv = server.Server(self.args.staged)
        chan = socket.socket(fileno=3)
        while True:
            try:
                frame = wire.read_frame(chan)
            except EOFError:
                return
            if frame is None:
                return
            chan.sendall(srv.handle(frame))


def seed_global_generators(seed):
    """torch's, numpy's and Python's global random generators, from the test's ``seed`` (see
    the session's ``worker_seed``): else a worker inherits whatever the zygote's interpreter drew
    at its start, and the same upload's random draws differ from one grading to the next."""
    import random

    import numpy
    import torch

    random.seed(seed)
    numpy.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _wait_for_exit(pid, timeout):
    """Sleep until child ``pid`` has exited (or ``timeout``), woken by the kernel through a pidfd
    rather than polling: a killed worker takes a few ms to end, and the session waits for it
    after every test."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3 or Python 3.9: the loop polls
        return
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def serve_commands(control, handler):
    """Answer the commands on ``control`` (one JSON line each, descriptors alongside) with
    ``handler.cmd_<name>``, each reply carrying its command's ``seq``, until ``exit`` or EOF."""
    buffer = b""
    while True:
        message, fds, _, _ = socket.recv_fds(control, 65536, 4)
        if not message:
            return
        buffer += message
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            command = json.loads(line)
            reply = {**getattr(handler, "cmd_" + command["cmd"])(command, fds), "seq": command.get("seq")}
            fds = []
            control.sendall((json.dumps(reply) + "\n").encode())
            if command["cmd"] == "exit":
                return
            after = getattr(handler, "after_" + command["cmd"], None)
            if after is not None:  # work that needs no answer, done while the session goes on
                after()


def _oom_score_adj():
    try:
        with open("/proc/self/oom_score_adj") as adj:
            return adj.read().strip()
    except OSError:
        return "?"


def _reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sweep(user, rounds=200, seconds=30.0):
    """Kill whatever tests left running. As root, a helper that is the sandbox user kills
    every process of that user (``kill(-1)``), however it detached itself; in any case every
    descendant, since orphans are re-parented to this subreaper. Returns how many were seen."""
    killed, stop = 0, time.time() + seconds
    for _ in range(rounds):
        if time.time() > stop:
            break
        victims = procs.children_of(os.getpid())
        if user is not None:
            victims += procs.owned_by(user[0])
        if not victims:
            break
        killed += len(victims)
        if user is not None:
            _kill_user(user)
        for pid in procs.children_of(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)
        _reap_all()
    _reap_all()
    return killed


def _kill_user(user):
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(user[1])
            os.setuid(user[0])
            for _ in range(3):
                os.kill(-1, signal.SIGKILL)  # every process of this user but the caller
            confine.clear_keyrings()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _parser():
    parser = argparse.ArgumentParser(prog="zygote")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--staged", default=None, help="folder holding the staged submission/ package")
    parser.add_argument("--user", default="", help="uid:gid to drop to (as root)")
    parser.add_argument("--memory-mb", type=int, default=320)
    parser.add_argument("--file-size-mb", type=int, default=16)
    parser.add_argument("--max-processes", type=int, default=32)
    parser.add_argument("--template", action="store_true",
                        help="the warm service's zygote template: fork one zygote per upload")
    return parser


def serve_upload(args):
    """Be the zygote of one upload (``args.staged``, ``args.user``): say what confines its workers,
    then serve the session's commands until it says exit."""
    # Orphans of this upload's workers are re-parented here, to be swept and reaped. Set again in
    # a zygote forked from the template (fork does not inherit it): else they went to the
    # template, which reaps only at the release, and each sweep spun its 200 rounds on the
    # zombies (2.2 s per test for an upload that leaves a daemon).
    confine.prctl(confine.PR_SET_CHILD_SUBREAPER, 1)
    zygote = Zygote(args)
    import torch

    info = {"ready": True, "pid": os.getpid(), "python": sys.version.split()[0], "torch": torch.__version__,
            "protections": zygote.protections(),
            "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("tests", "autograder", "submission"))}
    gc.freeze()  # children would otherwise copy the inherited heap on their first collection
    zygote.control.sendall((json.dumps(info) + "\n").encode())
    zygote.after_spawn()  # the first worker's cgroup
    zygote.serve()
    return 0


class Template:
    """The warm service's zygote template: warmed up once, it forks a fresh zygote for each upload
    (:func:`serve_upload`, with that upload's staged folder and uid) and never forks a worker
    itself, so nothing of any student ever runs in it or in what it forks next.

    The session template asks, over the control socket: ``zygote`` (with the new zygote's control
    socket and the upload's log as descriptors) → ``{"pid": n}``; ``release`` → the zygote is
    killed and reaped, every process of the upload's uid killed, its cgroups removed; ``exit``.
    A zygote that dies is left a zombie until its release, so the upload's session can still read
    how it ended, as it can under ``grade``.
    """

    def __init__(self, args):
        self.args = args
        self.control = socket.socket(fileno=args.control_fd)

    def serve(self):
        serve_commands(self.control, self)

    def cmd_zygote(self, command, fds):
        control, log = fds

        def upload_zygote():
            self.control.close()
            confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)  # a stopped service takes it along
            os.setsid()
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
            return serve_upload(argparse.Namespace(**{**vars(self.args), "control_fd": control, "template": False,
                                                      "staged": command["staged"], "user": command["user"]}))

        pid = procs.fork_child(upload_zygote)
        os.close(control)
        os.close(log)
        return {"pid": pid}

    def cmd_release(self, command, fds):
        pid = command["pid"]
        procs.kill_group(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        user = tuple(int(v) for v in command["user"].split(":")) if command.get("user") else None
        killed = sweep(user)  # the upload's workers a dead zygote left (re-parented to this subreaper)
        cgroup.remove_stale_gradings()  # the dead zygote's worker cgroups
        return {"killed": killed}

    def after_release(self):
        """Collapse again what this template's own work since the last upload split into small
        pages (a write to a huge page shared with a live zygote splits it): with no zygote alive,
        it copies blocks only this process holds."""
        hugepages.collapse()

    def cmd_exit(self, command, fds):
        return {"bye": True}


def main(argv=None):
    args = _parser().parse_args(argv)
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # ask about CUDA without creating a context
    confine.prctl(confine.PR_SET_CHILD_SUBREAPER, 1)
    warm_up()
    if not args.template:
        return serve_upload(args)
    template = Template(args)
    gc.freeze()
    huge_mb, refusal = hugepages.collapse()  # each upload's zygote forks ~50 workers from these pages
    print(f"zygote template: {huge_mb} MB in huge pages" + (f" (the kernel refused more: {refusal})" if refusal else ""),
          file=sys.stderr, flush=True)
    template.control.sendall((json.dumps({"ready": True, "pid": os.getpid()}) + "\n").encode())
    template.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
