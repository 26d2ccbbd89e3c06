"""Comparisons that produce messages for students.

Every check fails the test with ``pytest.fail(..., pytrace=False)``: the student sees what was
called, what was expected, what came back and a hint, never a harness traceback. The values
judged here are plain data that a worker sent back (:mod:`tests.probes.wire`): no student
object ever reaches this module.

Tensors are checked as the contract states them, in this order, each with its own message:
a plain ``torch.Tensor``, then its shape, dtype and device, then its values (floats within a
tolerance, NaN and ±inf exactly; integers and masks exactly, in their own dtype).
"""
import contextlib
import math

import pytest
import torch

from tests.probes import wire

from . import client

MAX_MESSAGE = 4000
_prefaces = []


def fail(message):
    """Fail the current test with ``message`` (capped, after any :func:`preface`), without a
    traceback."""
    message = "\n".join([*_prefaces, message])
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "\n… (message shortened)"
    pytest.fail(message, pytrace=False)


@contextlib.contextmanager
def preface(note):
    """Put ``note`` (if any) before every failure message inside the block: e.g. "this test
    uses your causal_mask, which test 4.1 finds wrong: fix that first"."""
    if not note:
        yield
        return
    _prefaces.append(note)
    try:
        yield
    finally:
        _prefaces.remove(note)


def prefaced():
    """True inside a :func:`preface` (e.g. the student's masks are known to be wrong)."""
    return bool(_prefaces)


def kind_of(value):
    """What a returned value is, in words: 'a torch.Tensor', 'made.Liar', 'float', …"""
    if isinstance(value, (wire.Ref, wire.Unsent)):
        return value.type.replace("submission.", "")
    if isinstance(value, torch.Tensor):
        claimed = getattr(value, "wire", {}).get("type", "Tensor")
        return "a torch.Tensor" if claimed in ("Tensor", "Parameter") else f"a tensor subclass {claimed}"
    if isinstance(value, wire.TensorInfo):
        return "a torch.Tensor"
    return type(value).__name__


def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def tensor(value, what, shape=None, dtype=None, device=None):
    """``value`` if the worker sent a real ``torch.Tensor`` with the given shape/dtype/device
    (a :class:`~tests.probes.wire.TensorInfo` for tensors without data, e.g. on ``meta``);
    fails otherwise. Subclasses are refused: their methods are the student's code."""
    if isinstance(value, torch.Tensor):
        meta = getattr(value, "wire", {"type": "Tensor", "device": "cpu"})
    elif isinstance(value, wire.TensorInfo):
        meta = {"type": value.type, "device": value.device}
    else:
        fail(f"{what} returned {kind_of(value)}, expected a torch.Tensor.")
    if meta["type"] not in ("Tensor", "Parameter"):
        fail(f"{what} returned a tensor subclass ({meta['type']}), expected a plain torch.Tensor.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        fail(f"{what} returned a tensor of shape {tuple(value.shape)}, expected shape {tuple(shape)}.")
    if dtype is not None and value.dtype != dtype:
        fail(f"{what} returned dtype {dtype_name(value.dtype)}, expected {dtype_name(dtype)}: results keep the "
             "floating dtype of their inputs (float64 in, float64 out); create new tensors with the input's dtype."
             if dtype.is_floating_point else
             f"{what} returned dtype {dtype_name(value.dtype)}, expected {dtype_name(dtype)}.")
    if device is not None and torch.device(meta["device"]).type != torch.device(device).type:
        fail(f"{what} returned a tensor on device '{meta['device']}', expected '{torch.device(device)}'.")
    return value


def with_data(value, what, shape=None, dtype=None):
    """:func:`tensor`, and the tensor must hold values (not a meta tensor's shape only)."""
    value = tensor(value, what, shape=shape, dtype=dtype)
    if isinstance(value, wire.TensorInfo):
        fail(f"{what} returned a tensor without data (on '{value.device}'), expected values.")
    return value


def samples(value, what, shape=None):
    """:func:`with_data` for a sampler's result: every entry is 0. or 1. (a Bernoulli draw)."""
    value = with_data(value, what, shape=shape)
    flat = value.detach().reshape(-1).double()
    bad = (flat != 0) & (flat != 1)
    if bool(bad.any()):
        fail(f"{what}: samples must be 0. or 1. (Bernoulli draws), got values like {flat[bad][:3].tolist()}.")
    return value


def number(value, what):
    """``value`` as a float if the worker sent a Python number (not a bool or a tensor)."""
    if type(value) not in (int, float):
        fail(f"{what} returned {kind_of(value)} {str(value)[:60] if type(value) in (str, bool) else ''}".rstrip()
             + "; expected a Python float (use .item()).")
    return float(value)


def brief(value, limit=8):
    """A short text of a value for a message: a tensor's first ``limit`` values and its shape."""
    if not isinstance(value, torch.Tensor):
        return repr(value)
    flat = value.detach().reshape(-1).tolist()
    shown = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in flat[:limit])
    more = ", …" if len(flat) > limit else ""
    return f"[{shown}{more}] (shape {tuple(value.shape)})" if value.dim() != 1 or more else f"[{shown}]"


def _inputs_line(inputs):
    if not inputs:
        return ""
    return "\nInputs: " + "; ".join(f"{name} = {brief(value)}" for name, value in inputs.items())


def _fmt_index(flat_index, shape):
    if not shape:
        return "()"
    index = [int(i) for i in torch.unravel_index(torch.as_tensor(flat_index), shape)]
    return "(" + ", ".join(map(str, index)) + ")"


def close(actual, expected, what, hint="", rtol=1e-5, atol=1e-6, dtype=None, device="cpu", inputs=None):
    """``actual`` ≈ ``expected`` elementwise (NaN and ±inf must match exactly), after checking
    that ``actual`` is a plain tensor of ``expected``'s shape, of dtype ``dtype`` (default:
    ``expected``'s) and on ``device``. ``inputs`` (name -> value) are shown, abbreviated, when
    the values are wrong."""
    expected = torch.as_tensor(expected)
    actual = with_data(actual, what, shape=expected.shape, dtype=expected.dtype if dtype is None else dtype)
    tensor(actual, what, device=device)
    a = actual.to(dtype=torch.float64)
    e = expected.to(dtype=torch.float64)
    same_nonfinite = (torch.isnan(a) & torch.isnan(e)) | ((a == e) & ~torch.isfinite(e))
    err = torch.where(same_nonfinite, torch.zeros_like(a), (a - e).abs())
    err = torch.where(torch.isnan(err), torch.full_like(err, math.inf), err)
    bad = err > atol + rtol * torch.where(torch.isfinite(e), e, torch.zeros_like(e)).abs()
    if not bool(bad.any()):
        return
    worst = int(torch.where(bad, err, torch.full_like(err, -1.0)).reshape(-1).argmax())
    idx = _fmt_index(worst, tuple(a.shape))
    n_bad, n = int(bad.sum()), bad.numel()
    message = (f"{what}: {n_bad} of {n} values are wrong. At index {idx} expected "
               f"{float(e.reshape(-1)[worst]):.6g}, got {float(a.reshape(-1)[worst]):.6g}."
               + (f"\nExpected {brief(expected)}, got {brief(actual)}." if n > 1 else "")
               + _inputs_line(inputs))
    if hint:
        message += f"\nHint: {hint}"
    fail(message)


def finite(actual, what, hint=""):
    """Every entry of ``actual`` is finite."""
    a = with_data(actual, what)
    bad = ~torch.isfinite(a)
    if bool(bad.any()):
        first = int(bad.reshape(-1).to(torch.uint8).argmax())
        fail(f"{what}: {int(bad.sum())} values are not finite, e.g. {float(a.reshape(-1)[first])} at index "
             f"{_fmt_index(first, tuple(a.shape))}." + (f"\nHint: {hint}" if hint else ""))


def integers(actual, expected, what, hint=""):
    """Exact equality of integer tensors, in ``expected``'s dtype (no rounding of floats)."""
    actual = with_data(actual, what, shape=expected.shape, dtype=expected.dtype)
    if not torch.equal(actual, expected):
        fail(f"{what} is {actual.tolist()}, expected {expected.tolist()}." + (f"\nHint: {hint}" if hint else ""))


def raises_value_error(worker, target, *args, what, rule, method=None, **kwargs):
    """Calling ``target`` in the worker raises ``ValueError`` (``rule`` says why it should)."""
    _, error = worker.attempt(target, *args, method=method, what=what, **kwargs)
    if error is None:
        message = f"{what} returned without an error; expected ValueError because {rule}."
    elif error.get("kind") == "probe":
        message = f"{what} could not be run: {error.get('message')}."
    elif "ValueError" in error.get("mro", ()):
        if str(error.get("message", "")).strip():
            return
        message = f"{what} raised ValueError without a message; say which argument is wrong and why ({rule})."
    elif error.get("not_implemented"):
        message = f"{what}: not implemented yet ({client.describe(error)})."
    else:
        message = f"{what} raised {client.describe(error)}; expected ValueError because {rule}."
    fail(message)


def same_mask(actual, expected, what, hint, row_label="out", col_label="in"):
    """Exact equality of binary masks: a floating tensor of 0s and 1s (any float dtype, compared
    in its own), with a picture of both when they differ."""
    from .pictures import side_by_side

    actual = with_data(actual, what, shape=expected.shape)
    if not actual.dtype.is_floating_point:
        fail(f"{what} has dtype {dtype_name(actual.dtype)}; a mask is a float tensor of 0s and 1s (use .float()), "
             "so that it can multiply a weight and be copied into a float buffer.")
    if not bool(((actual == 0) | (actual == 1)).all()):
        fail(f"{what} must contain only 0s and 1s.")
    if torch.equal(actual, expected.to(actual.dtype)):
        return
    fail(f"{what} is wrong ({row_label} = rows, {col_label} = columns).\n"
         f"{side_by_side(expected, actual, row_label=row_label, col_label=col_label)}\nHint: {hint}")
