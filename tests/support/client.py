"""The tests' side of the probes: ask a worker to run the student's code, get plain data back.

Every test gets a :class:`Worker` (the ``worker`` fixture). On a student's machine it answers
in-process (:class:`InProcess`: the same requests and answers, encoded and decoded, without a
second process); on the grader each test gets a fresh sandboxed process, and this module never
sees the student's objects, only the data the worker sends. Any failure of student code, of
the worker or of its answers becomes a test failure with a message for the student.
"""
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.probes import server, wire
from tests.probes.wire import Params, Placed, Ref, Seeded, TensorInfo, Unsent  # noqa: F401 — for the tests

FILES = server.FILES
ROOT = Path(__file__).resolve().parents[2]

# The per-test limits, the same locally and on the grader: CPU time of the student's side of a
# test (the worker process; in-process, the time spent inside probe requests), so that a loaded
# machine never changes a score, and a wall-clock backstop for code that waits instead.
CPU_LIMIT_S = 10.0
WALL_LIMIT_S = 3 * CPU_LIMIT_S

# Set by the grading session: a callable(test item) -> transport. None: in-process.
backend = None
# module -> where its import hung (the grader's per-test timeouts), so later tests fail fast.
hung_imports = {}
# Why the running test failed through the grader's own fault, if it did: set only by this
# process's code (never from a worker's answer), read and reset by the session after each
# test; results.json and regrade take it from there, never from a message's text.
grader_faults = []


def grader_fault(message, cause):
    """Fail the running test with ``message`` and mark it as the grader's fault (``cause``: one
    line for staff)."""
    grader_faults.append(cause)
    fail(message)


class WorkerGone(Exception):
    """The worker died, hung or broke the protocol. The message, for the student, completes
    "the test process ..." ("used more than 10 s of CPU time ..."); ``hung``: it ran out of
    wall-clock time."""

    def __init__(self, message, hung=False):
        super().__init__(message)
        self.hung = hung


class StudentRaised(Exception):
    """Student code raised; ``info`` holds the worker's plain description of it."""

    def __init__(self, info):
        super().__init__(info.get("message", ""))
        self.info = info


def fail(message):
    from . import checks

    checks.fail(message)


def first_line(text, cap=300):
    """The first line of a text the worker sent, at most ``cap`` characters."""
    text = str(text or "").strip()
    first = text.splitlines()[0] if text else ""
    return first[:cap] + "…" if len(first) > cap else first


def describe(info):
    """One line naming an exception raised by student code and where it was raised."""
    first, where = first_line(info.get("message")), first_line(info.get("where"), cap=200)
    return f"{str(info.get('type', 'Exception'))[:100]}{': ' + first if first else ''}{' ' + where if where else ''}"


TIMED_OUT = "timed out after"  # in every time-limit message (staff reports count them)


def cpu_message(seconds):
    return (f"{TIMED_OUT} {seconds:.0f} s of CPU time (the limit of every test): your code is too slow or never "
            "returns (an infinite loop, or a per-example Python loop where a vectorised tensor operation is "
            "expected).")


def wall_message(seconds):
    return (f"{TIMED_OUT} {seconds:.0f} s of wall-clock time without using its CPU time: does your code wait, "
            "sleep or block on input?")


class _OverCpu(BaseException):
    """Raised inside student code when the test's CPU budget is spent (in-process runs)."""


class InProcess:
    """Answers requests with a :class:`~tests.probes.server.Server` in this process, under the
    grader's CPU limit per test (``ITIMER_PROF`` counts this process's CPU time while a request
    runs)."""

    timeout = WALL_LIMIT_S

    def __init__(self, root=None, cpu_left=CPU_LIMIT_S, tempdirs=()):
        root = root or os.environ.get("PS1_SUBMISSION") or ROOT
        self.root = Path(root).resolve()
        self.server = server.Server(self.root)
        self.server.tempdirs.extend(tempdirs)
        self.cpu_left, self.over = cpu_left, False

    def _on_prof(self, signum, frame):
        self.over = True
        raise _OverCpu()

    def request(self, frame, timeout=None):
        if self.cpu_left <= 0:
            raise WorkerGone(cpu_message(CPU_LIMIT_S))
        previous = signal.signal(signal.SIGPROF, self._on_prof)
        started = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, self.cpu_left, 0.2)  # again and again, if code swallows it
        try:
            answer = self.server.handle(frame)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, previous)
            self.cpu_left -= time.process_time() - started
        if self.over:
            raise WorkerGone(cpu_message(CPU_LIMIT_S))
        return answer

    def _forget_modules(self):
        # The next worker imports the student's modules afresh, like a fresh process would.
        for key in [k for k in sys.modules if k == server.PACKAGE or k.startswith(server.PACKAGE + ".")]:
            del sys.modules[key]

    def restart(self):
        """A fresh server for the rest of the test: no object of this one, modules imported
        again, the files written so far kept."""
        self._forget_modules()
        fresh = InProcess(self.root, self.cpu_left, self.server.tempdirs)
        self.server.tempdirs = []
        return fresh

    def close(self):
        self.server.close()
        self._forget_modules()


class Worker:
    """A test's connection to the student's code."""

    def __init__(self, transport, label=""):
        self.transport, self.label = transport, label
        self.next_id = 0
        self.gone = None
        self.fault = None  # set where ``gone`` is the grader's fault (no worker could be started)
        self.importing = None

    # -- raw requests -----------------------------------------------------------------------

    def request(self, op, what=None, **args):
        """The worker's answer to one probe; raises :class:`StudentRaised` for the student's
        exceptions and fails the test if the worker is gone or answered nonsense. ``what``
        (the call in the student's words) names what was running if the worker dies or runs
        out of time."""
        if self.gone:
            if self.fault:
                grader_fault(self.gone, self.fault)
            fail(self.gone)
        self.next_id += 1
        rid = self.next_id
        started = time.monotonic()
        try:
            frame = wire.encode({"id": rid, "op": op, "args": args})
            answer = wire.decode(self.transport.request(frame))
        except WorkerGone as exc:
            self.gone = (f"{what}: the test process " if what else "The test process ") + str(exc)
            limit = getattr(self.transport, "timeout", 0)
            # Hung only if the import itself had (nearly) the whole time limit: a test that spent
            # its time elsewhere and ran out during an import proves nothing about the module.
            if self.importing and exc.hung and time.monotonic() - started >= 0.8 * limit:
                hung_imports.setdefault(self.importing, (self.label, limit))
        except wire.WireError as exc:
            self.gone = f"The test process sent an unreadable answer ({exc}); this test scores 0."
        if self.gone:
            fail(self.gone)
        if not isinstance(answer, dict) or answer.get("id") != rid or ("ok" in answer) == ("error" in answer):
            self.gone = "the test process answered out of turn or with a malformed answer; this test scores 0."
            fail(self.gone)
        if "error" in answer:
            info = answer["error"] if isinstance(answer["error"], dict) else {"message": str(answer["error"])}
            if info.get("kind") == "protocol":
                # The worker's word only, and the student's to forge: a problem of the upload's
                # process, never the grader's fault.
                self.gone = (f"the test process said it could not read the grader's request (it reported: "
                             f"{describe(info)}); this test scores 0.")
                fail(self.gone)
            raise StudentRaised(info)
        return answer["ok"]

    # -- student-facing helpers --------------------------------------------------------------

    def load(self, module):
        """A proxy for the student's ``submission.<module>``; fails the test with a clear
        message if the file is missing, has a syntax error or raises on import."""
        filename = FILES[module]
        if module in hung_imports:
            test, seconds = hung_imports[module]
            fail(f"importing {filename} did not finish within {seconds:.0f} s in test {test}, so this test is not "
                 "run. Code at the top level of a module runs on import; keep it inside functions.")
        self.importing = module
        error = None
        try:
            self.request("import", what=f"importing {filename}", module=module)
        except StudentRaised as exc:
            error = exc.info
        finally:
            self.importing = None
        if error is not None:
            fail(import_message(filename, error))
        return Module(self, module)

    def probe(self, op, what, **args):
        """``request(op, **args)``; an exception of the student's code fails the test with a
        message naming ``what`` was being done."""
        try:
            return self.request(op, what=what, **args)
        except StudentRaised as exc:
            error = exc.info
        fail(call_message(what, error))  # outside the except block: no chained traceback

    def call(self, target, *args, what, method=None, keep=False, **kwargs):
        """The value of ``target(*args, **kwargs)`` (``target`` a handle or ``"module.name"``),
        or a test failure that names the call."""
        return self.probe("call", what, target=target, method=method, args=list(args), kwargs=kwargs, keep=keep)

    def call_no_grad(self, target, *args, what, **kwargs):
        """:meth:`call` under ``torch.no_grad()`` (as samplers and evaluation call models)."""
        return self.probe("call", what, target=target, args=list(args), kwargs=kwargs, no_grad=True)

    def method(self, target, name, *args, what, **kwargs):
        return self.call(target, *args, what=what, method=name, **kwargs)

    def attempt(self, target, *args, what=None, method=None, **kwargs):
        """``(value, None)`` or ``(None, error info)``: for tests that expect an exception."""
        try:
            return self.request("call", what=what, target=target, method=method, args=list(args),
                                kwargs=kwargs), None
        except StudentRaised as exc:
            return None, exc.info

    def grad(self, target, *args, what, method=None, wrt_args=(), wrt_params=(), cotangent=None, **kwargs):
        """``{"out": value, "grads": [...]}``: the call's result and the gradients of
        ``sum(result * cotangent)`` (of its plain sum without one)."""
        return self.probe("grad", what, target=target, method=method, args=list(args), kwargs=kwargs,
                          wrt_args=list(wrt_args), wrt_params=list(wrt_params), cotangent=cotangent)

    def state(self, target, what, grads=False):
        return self.probe("state", f"reading the parameters of {what}", target=target, grads=grads)

    def getattr(self, target, name, what):
        return self.probe("getattr", f"{what}.{name}", target=target, name=name)

    def load_params(self, target, params, what):
        """Copy ``params`` (name -> tensor) into the model's parameters, never its buffers."""
        from . import checks

        names = self.state(target, what)["params"]
        if set(names) != set(params):
            checks.fail(f"{what} has parameters {sorted(names)}, expected {sorted(params)}. Keep the provided "
                        "__init__ unchanged: the graders load weights by these names.")
        for name, value in params.items():
            got = names[name]
            if not hasattr(got, "shape") or tuple(got.shape) != tuple(value.shape):
                checks.fail(f"{what}: parameter {name} has shape {tuple(getattr(got, 'shape', ()))}, "
                            f"expected {tuple(value.shape)}.")
        self.probe("load_params", f"loading parameters into {what}", target=target, params=params)

    def load_buffers(self, target, buffers, what):
        """Copy ``buffers`` (name -> tensor, e.g. known-good masks) into the model's buffers."""
        from . import checks

        names = self.state(target, what)["buffers"]
        for name, value in buffers.items():
            got = names.get(name)
            if got is None or not hasattr(got, "shape"):
                checks.fail(f"{what} has no buffer named '{name}' (its buffers: {sorted(names)}). Keep the "
                            "provided register_buffer('mask', ...) and copy new masks into it.")
            if tuple(got.shape) != tuple(value.shape):
                checks.fail(f"{what}: buffer {name} has shape {tuple(got.shape)}, expected {tuple(value.shape)}.")
        self.probe("load_buffers", f"loading masks into {what}", target=target, buffers=buffers)

    def convert(self, target, what, device=None, dtype=None, mode=None):
        """A copy of a model moved to ``device`` / ``dtype`` (a handle)."""
        return self.probe("convert", what, target=target, device=device, dtype=dtype, mode=mode)

    def in_use(self, target, what, train=(), evaluate=()):
        """Outputs of ``target`` called as training and sampling call it (see the probe
        ``op_in_use``): ``{"train": [...], "evaluate": [...]}``."""
        return self.probe("in_use", what, target=target, train=list(train), evaluate=list(evaluate))

    def jacobian(self, target, inputs, what):
        """``{"out": outputs, "jacobian": max over the batch of |∂ out / ∂ in|}``."""
        return self.probe("jacobian", what, target=target, inputs=inputs)

    def double(self, kind, *args, **kwargs):
        """A test double built in the worker (see :mod:`tests.probes.doubles`)."""
        return self.request("double", kind=kind, args=list(args), kwargs=kwargs)

    def fit_steps(self, model, optimizer, scheduler, batches, what):
        """Train a test model for one pass in the worker (so that its optimizer has state)."""
        return self.probe("fit_steps", what, model=model, optimizer=optimizer, scheduler=scheduler, batches=batches)

    def substitute_likelihood(self, standin=None):
        """From now on ``training.py`` imports the stand-in likelihood (a squared error with the
        test's ``standin`` constants: scale, shift, base; see tests/probes/doubles.py)."""
        self.request("substitute", module="likelihood", **(standin or {}))

    def tempdir(self):
        """A fresh folder in the worker's scratch space, for files the student's code writes."""
        return self.request("tempdir")

    def restart(self):
        """End this test's process and go on in a fresh one (e.g. to load a checkpoint that
        another process saved): every handle so far is gone, the student's modules are imported
        again, the files written so far stay."""
        if self.gone:
            fail(self.gone)
        try:
            self.transport = self.transport.restart()
        except WorkerGone as exc:
            self.gone = f"The test process {exc}"
            fail(self.gone)
        self.next_id = 0


class Module:
    """``worker.load("made").made_masks(4, [6], what=...)`` calls ``submission.made.made_masks``."""

    def __init__(self, worker, module):
        self._worker, self._module = worker, module

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        target = f"{self._module}.{name}"
        return Callable(self._worker, target, name)


class Callable:
    def __init__(self, worker, target, name):
        self.worker, self.target, self.__name__ = worker, target, name

    def __call__(self, *args, what, **kwargs):
        return self.worker.call(self.target, *args, what=what, **kwargs)


def import_message(filename, info):
    kind = info.get("kind")
    if kind == "missing":
        return (f"{filename} was not found in your submission, so this test cannot run. Upload {filename} "
                f"(the six graded files are {', '.join(FILES.values())}).")
    if kind == "syntax":
        return (f"{filename} has a syntax error: {info.get('message')} ({filename}, line {info.get('line')}). "
                "Fix it and run the public tests again.")
    if info.get("type") == "ModuleNotFoundError":
        return (f"importing {filename} failed: {describe(info)}. Only torch, numpy and the standard library are "
                "available to your code.")
    return (f"importing {filename} raised {describe(info)}. Code at the top level of a module runs on import; "
            "keep it inside functions.")


def call_message(what, info):
    if not what:
        what = "your code"
    if info.get("kind") == "probe":
        return f"{what} could not be run: {first_line(info.get('message'))}."
    if info.get("not_implemented"):
        return f"{what}: not implemented yet ({describe(info)})."
    return f"{what} raised {describe(info)}"


def open_worker(item):
    """The worker for test ``item`` (the grader's sandboxed process, or in-process)."""
    label = item.nodeid
    if backend is None:
        return Worker(InProcess(), label=label)
    label = getattr(item, "ps1_number", label)
    try:
        return Worker(backend(item), label=label)
    except Exception as exc:  # noqa: BLE001 — the grader's fault, reported as such
        worker = Worker(_Unavailable(), label=label)
        worker.gone = (str(exc) if isinstance(exc, NoWorker) else
                       f"internal grader error: no test process could be started ({type(exc).__name__}: "
                       f"{str(exc)[:200]}); please tell the course staff.")
        worker.fault = f"no worker could be started: {type(exc).__name__}: {str(exc)[:200]}"
        return worker


class NoWorker(Exception):
    """Raised by the session's backend when it knows why no worker can start; the message is
    shown as it is."""


class _Unavailable:
    def request(self, frame, timeout=None):
        raise WorkerGone("could not be started")

    def restart(self):
        return self

    def close(self):
        pass


@pytest.fixture
def worker(request):
    w = open_worker(request.node)
    yield w
    w.transport.close()
