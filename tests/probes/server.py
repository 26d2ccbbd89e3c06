"""The probes: generic operations a test asks a worker to perform on the student's code.

A :class:`Server` answers one request frame with one answer frame (see :mod:`.wire`). It
imports the student's modules, calls functions, builds objects and keeps them under handles,
reads and loads parameters, measures gradients and builds test doubles. It judges nothing:
an answer is evidence, and the verdict is computed by the test in the grading session (or,
for ``pytest tests/`` on a student's machine, by the same test in the same process).

Requests are ``{"id": n, "op": name, "args": {...}}``; answers are ``{"id": n, "ok": value}``
or ``{"id": n, "error": {...}}`` where the error names the exception, its message and the
innermost line of the student's files that raised it.
"""
import copy
import importlib
import os
import sys
import traceback
import warnings
from pathlib import Path

import torch

from . import doubles, wire

PACKAGE = "submission"
FILES = {
    "probability": "probability.py", "likelihood": "likelihood.py", "made": "made.py",
    "pixelcnn": "pixelcnn.py", "sampling": "sampling.py", "training": "training.py",
}
MESSAGE_CAP = 2000


class ProbeError(Exception):
    """A request that cannot be carried out (bad handle, unknown name): not the student's fault."""


def is_student_file(filename):
    path = Path(filename or "")
    return path.parent.name == PACKAGE and path.name in FILES.values()


def where(exc):
    """' (made.py, line 42, in forward)' for the innermost frame in a student file, or ''."""
    if isinstance(exc, SyntaxError) and exc.filename and is_student_file(exc.filename):
        return f" ({Path(exc.filename).name}, line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if is_student_file(f.filename)]
    if not frames:
        return ""
    f = frames[-1]
    return f" ({Path(f.filename).name}, line {f.lineno}, in {f.name})"


def describe_error(exc, kind="raised"):
    """Plain data about an exception, for the session to phrase."""
    try:
        message = str(exc)
    except BaseException:  # noqa: B902 — a student's __str__ may raise too
        message = "<message could not be read>"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if is_student_file(f.filename)]
    lines = [f"{Path(f.filename).name}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames]
    return {"kind": kind, "type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__][:12],
            "message": message[:MESSAGE_CAP], "where": where(exc),
            "not_implemented": isinstance(exc, NotImplementedError), "trace": lines[-8:]}


class Server:
    """Answers probe requests about the student package under ``root`` (the folder that holds
    ``submission/``)."""

    def __init__(self, root):
        self.root = str(root)
        self.objects = {}
        self.tempdirs = []

    # -- transport ----------------------------------------------------------------------------

    def handle(self, frame):
        """One answer frame for one request frame; never raises.

        Only a request this side cannot read is a ``protocol`` error (the grader's fault); what
        happens while the op runs student code, including a ``WireError`` the student's code
        raises itself, is the student's; a result that cannot be sent is a ``probe`` error."""
        rid = None
        try:
            request = wire.decode(frame, resolve=self._resolve)
            if not isinstance(request, dict) or not isinstance(request.get("op"), str):
                raise ProbeError("a request must name an op")
            rid = request.get("id")
            method = getattr(self, "op_" + request["op"], None)
            if method is None:
                raise ProbeError(f"unknown op {request['op']!r}")
        except wire.WireError as exc:
            return self._error(rid, {"kind": "protocol", "type": "WireError", "message": str(exc)})
        except ProbeError as exc:
            return self._error(rid, {"kind": "probe", "type": "ProbeError", "message": str(exc)})
        try:
            value = method(**(request.get("args") or {}))
        except ProbeError as exc:
            return self._error(rid, {"kind": "probe", "type": "ProbeError", "message": str(exc)})
        except ImportProblem as exc:
            return self._error(rid, exc.info)
        except BaseException as exc:  # noqa: B902 — SystemExit and KeyboardInterrupt from student code too
            return self._error(rid, describe_error(exc))
        try:
            return wire.encode({"id": rid, "ok": value}, keep=lambda obj: {"$ref": self._keep(obj).id,
                                                                         "type": wire.type_name(obj)})
        except wire.WireError as exc:
            return self._error(rid, {"kind": "probe", "type": "WireError",
                                     "message": f"its result cannot be sent to the grader ({exc})"})
        except BaseException as exc:  # noqa: B902 — e.g. a student object whose methods raise while encoded
            return self._error(rid, describe_error(exc))

    def _error(self, rid, info):
        try:
            return wire.encode({"id": rid, "error": info})
        except BaseException as exc:  # noqa: B902 — e.g. an unreadable message
            return wire.encode({"id": rid, "error": {"kind": "probe", "type": type(exc).__name__,
                                                     "message": "the error could not be sent"}})

    def _keep(self, obj):
        """Store ``obj`` under a new handle; the session gets a :class:`~.wire.Ref` to it."""
        handle = len(self.objects) + 1
        self.objects[handle] = obj
        return wire.Ref(handle, wire.type_name(obj))

    def _resolve(self, tagged):
        if "$ref" in tagged:
            return self._object(tagged["$ref"])
        if "$generator" in tagged:
            seed, device = tagged["$generator"], tagged.get("device", "cpu")
            if type(seed) is not int or device not in ("cpu", "cuda"):
                raise wire.WireError("a malformed $generator")
            return torch.Generator(device=device).manual_seed(seed)
        if "$params" in tagged:
            return list(self._object(tagged["$params"]).parameters())
        raise wire.WireError(f"unknown tag in {sorted(tagged)}")

    def _object(self, handle):
        if handle not in self.objects:
            raise ProbeError(f"no object with handle {handle}")
        return self.objects[handle]

    def _target(self, target):
        """A callable or object named by ``"module.attr[.attr]"`` or given directly (a handle)."""
        if not isinstance(target, str):
            return target
        module, _, rest = target.partition(".")
        if module not in FILES or not rest:
            raise ProbeError(f"unknown target {target!r}")
        obj = self._import(module)
        for part in rest.split("."):
            obj = getattr(obj, part)
        return obj

    # -- importing the student's modules ------------------------------------------------------

    def _search_first(self):
        if sys.path[:1] != [self.root]:
            sys.path[:] = [self.root] + [p for p in sys.path if p != self.root]

    def _import(self, module):
        name = f"{PACKAGE}.{module}"
        if name in sys.modules:
            return sys.modules[name]
        self._search_first()
        filename = FILES[module]
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in (name, PACKAGE):
                raise ImportProblem({"kind": "missing", "type": "ModuleNotFoundError", "file": filename,
                                     "message": f"{filename} was not found"}) from None
            raise ImportProblem({**describe_error(exc, "import"), "file": filename}) from None
        except SyntaxError as exc:
            raise ImportProblem({**describe_error(exc, "syntax"), "file": filename, "message": str(exc.msg),
                                 "line": exc.lineno}) from None
        except BaseException as exc:  # noqa: B902 — SystemExit at import must not end the worker silently
            raise ImportProblem({**describe_error(exc, "import"), "file": filename}) from None

    # -- ops ------------------------------------------------------------------------------------

    def op_hello(self):
        return {"pid": os.getpid(), "python": sys.version.split()[0], "torch": torch.__version__}

    def op_import(self, module):
        if module not in FILES:
            raise ProbeError(f"unknown module {module!r}")
        self._import(module)
        return True

    def op_substitute(self, module, scale=1.0, shift=0.0, base=1.5):
        """Put the stand-in likelihood (with the test's constants) where ``training.py`` will
        import ``likelihood`` from."""
        if module != "likelihood":
            raise ProbeError("only likelihood.py has a stand-in")
        self._search_first()
        package = importlib.import_module(PACKAGE)
        standin = doubles.standin_likelihood(float(scale), float(shift), float(base))
        sys.modules[f"{PACKAGE}.likelihood"] = standin
        setattr(package, "likelihood", standin)
        return True

    def op_call(self, target, method=None, args=(), kwargs=None, keep=False, no_grad=False):
        """``target(*args, **kwargs)`` (or ``target.method(...)``), under ``torch.no_grad()``
        with ``no_grad``; ``keep`` stores the result under a handle even if it is plain data."""
        fn = self._target(target)
        if method is not None:
            fn = getattr(fn, method)
        with torch.set_grad_enabled(not no_grad):
            result = fn(*args, **(kwargs or {}))
        return self._keep(result) if keep else result

    def op_getattr(self, target, name):
        return getattr(self._target(target), name)

    def op_grad(self, target, method=None, args=(), kwargs=None, wrt_args=(), wrt_params=(), cotangent=None):
        """Call like :meth:`op_call`, then differentiate ``sum(result * cotangent)`` (the plain
        sum without one) with respect to the float arguments at ``wrt_args`` and the parameters
        named ``wrt_params`` of ``target``; ``None`` where the result does not depend on one."""
        args = list(args)
        for i in wrt_args:
            args[i] = args[i].detach().clone().requires_grad_(True)
        obj = self._target(target)
        fn = getattr(obj, method) if method is not None else obj
        out = fn(*args, **(kwargs or {}))
        if type(out) is not torch.Tensor:
            return {"out": out, "grads": None}
        params = dict(obj.named_parameters()) if wrt_params else {}
        inputs = [args[i] for i in wrt_args] + [params[name] for name in wrt_params]
        if not out.requires_grad:
            return {"out": out, "grads": [None] * len(inputs)}
        total = out.sum() if cotangent is None else (out * cotangent.to(out.dtype)).sum()
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
        return {"out": out.detach(), "grads": list(grads)}

    def op_state(self, target, grads=False):
        """Names, values (and gradients) of a module's parameters and buffers, its mode and
        the class of each submodule."""
        model = self._target(target)
        state = {"params": {n: p.detach() for n, p in model.named_parameters()},
                 "buffers": {n: b for n, b in model.named_buffers()},
                 "training": bool(model.training),
                 "modules": {n: wire.type_name(m) for n, m in model.named_modules()}}
        if grads:
            state["grads"] = {n: (None if p.grad is None else p.grad.detach()) for n, p in model.named_parameters()}
        return state

    def op_load_params(self, target, params):
        """Copy ``params`` into the module's parameters (never its buffers)."""
        self._copy_into(dict(self._target(target).named_parameters()), params, "parameter")
        return True

    def op_load_buffers(self, target, buffers):
        """Copy ``buffers`` (e.g. known-good masks) into some of the module's buffers."""
        self._copy_into(dict(self._target(target).named_buffers()), buffers, "buffer", every=False)
        return True

    @staticmethod
    def _copy_into(own, values, kind, every=True):
        missing = sorted(set(values) - set(own))
        if missing or (every and set(own) != set(values)):
            raise ProbeError(f"{kind} names {sorted(own)} differ from {sorted(values)}")
        for name, value in values.items():
            if tuple(own[name].shape) != tuple(value.shape):
                raise ProbeError(f"{kind} {name} has shape {tuple(own[name].shape)}, not {tuple(value.shape)}")
        with torch.no_grad():
            for name, value in values.items():
                own[name].copy_(value)

    def op_convert(self, target, device=None, dtype=None, mode=None):
        """A copy of the module moved to ``device`` / converted to ``dtype``, in ``mode``."""
        model = copy.deepcopy(self._target(target))
        if device is not None or dtype is not None:
            model = model.to(**{k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None})
        if mode is not None:
            model.train(mode == "train")
        return self._keep(model)

    def op_jacobian(self, target, inputs):
        """``{"out": model(inputs), "jacobian": J}`` with ``J[i, j] = max_b |∂ out_b[i] / ∂ in_b[j]|``
        an ``(out numel, in numel)`` matrix: the gradient of each output position summed over
        the batch (examples of a batch do not interact), 64 positions per batched backward pass,
        or one position per pass where the model's backward cannot be batched."""
        model = self._target(target)
        x = inputs.detach().clone().requires_grad_(True)
        out = model(x)
        if type(out) is not torch.Tensor:
            return {"out": out, "jacobian": None}
        flat = out.reshape(out.shape[0], -1)
        if not flat.requires_grad:
            jacobian = torch.zeros(flat.shape[1], x[0].numel(), dtype=x.dtype, device=x.device)
        else:
            try:
                jacobian = _jacobian_batched(flat, x)
            except Exception:  # noqa: BLE001 — e.g. an op without a batching rule: the same, one row at a time
                jacobian = _jacobian_by_rows(flat, x)
        return {"out": out.detach(), "jacobian": jacobian.detach()}

    def op_double(self, kind, args=(), kwargs=None):
        if kind not in doubles.KINDS:
            raise ProbeError(f"unknown test double {kind!r}")
        return self._keep(doubles.KINDS[kind](*args, **(kwargs or {})))

    def op_in_use(self, target, train=(), evaluate=()):
        """The model called as training and sampling call it, on the session's inputs:
        ``{"train": [...], "evaluate": [...]}`` of detached outputs. Each batch of ``train`` in
        train mode with autograd on (the input needs no gradient), then a backward pass and an
        SGD step of learning rate 0 (the parameters change in place, not in value); then each
        batch of ``evaluate`` in eval mode under ``no_grad``, copied in place into one input
        tensor as a sampler writes its samples. The model's mode is restored."""
        model = self._target(target)
        restore_training = model.training
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        outputs = {"train": [], "evaluate": []}
        try:
            model.train()
            for x in train:
                optimizer.zero_grad()
                out = model(x)
                out.square().mean().backward()
                optimizer.step()
                outputs["train"].append(out.detach())
            model.eval()
            buffer = None
            with torch.no_grad():
                for x in evaluate:
                    if buffer is None or buffer.shape != x.shape:
                        buffer = torch.zeros_like(x)
                    buffer.copy_(x)
                    outputs["evaluate"].append(model(buffer).detach().clone())
        finally:
            model.train(restore_training)
        return outputs

    def op_fit_steps(self, model, optimizer, scheduler, batches):
        doubles.fit_steps(model, optimizer, scheduler, batches)
        return True

    def op_tempdir(self):
        """A fresh empty folder the student's code may write to (checkpoints). In the grader's
        worker (its own fresh folder is both its TMPDIR and its working directory) the folder is
        named ps1-1, ps1-2, ... in that folder: a name that is the same at every grading, so the
        student's messages that quote the path are too (the session writes the folder itself as
        $TMPDIR)."""
        import tempfile

        scratch = os.environ.get("TMPDIR")
        if scratch and os.path.realpath(scratch) == os.path.realpath(os.getcwd()):
            number = len(self.tempdirs)
            while True:
                number += 1
                path = os.path.join(scratch, f"ps1-{number}")
                try:
                    os.mkdir(path, 0o700)
                    break
                except FileExistsError:  # the first worker's, after a restart
                    continue
        else:
            path = tempfile.mkdtemp(prefix="ps1-", dir=scratch)
        self.tempdirs.append(path)
        return path

    def close(self):
        import shutil

        for path in self.tempdirs:
            shutil.rmtree(path, ignore_errors=True)


class ImportProblem(Exception):
    """Importing a student module failed; ``info`` says how, as plain data."""

    def __init__(self, info):
        super().__init__(info.get("message", ""))
        self.info = info


def _row_maxima(grads, rows, x):
    """``max_b |grads|`` per row; a gradient autograd reports as unused is zero."""
    if grads is None:
        return torch.zeros(rows, x[0].numel(), dtype=x.dtype, device=x.device)
    return grads.reshape(rows, x.shape[0], -1).abs().amax(1)


def _jacobian_batched(flat, x, rows_per_pass=64):
    n, parts = flat.shape[1], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vmap's "no batching rule: a slower fallback" is no concern of the test
        for start in range(0, n, rows_per_pass):
            picked = torch.eye(n, dtype=flat.dtype, device=flat.device)[start:start + rows_per_pass]
            cotangents = picked[:, None, :].expand(len(picked), *flat.shape)
            (grads,) = torch.autograd.grad(flat, x, cotangents, retain_graph=True, allow_unused=True,
                                           is_grads_batched=True)
            parts.append(_row_maxima(grads, len(picked), x))
    return torch.cat(parts)


def _jacobian_by_rows(flat, x):
    rows = []
    for i in range(flat.shape[1]):
        (grads,) = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True, allow_unused=True)
        rows.append(_row_maxima(None if grads is None else grads[None], 1, x)[0])
    return torch.stack(rows)
