"""Comparisons that produce messages for students.

Every check fails the test with ``pytest.fail(..., pytrace=False)``: the student sees what was
called, what was expected, what came back and a hint, never a harness traceback. The torch
functions used here are captured when this module is imported, before any student code runs,
so a submission that monkeypatches ``torch.allclose`` and friends cannot change a verdict.
"""
import math

import pytest
import torch

from . import student

_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_isfinite = torch.isfinite
_isnan = torch.isnan
_abs = torch.abs
_float64 = torch.float64
_where = torch.where
_argmax = torch.argmax
_as_tensor = torch.as_tensor
_all = torch.all
_equal = torch.equal
_unravel = torch.unravel_index

MAX_MESSAGE = 4000


def fail(message):
    """Fail the current test with ``message`` (capped), without a traceback."""
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "\n… (message shortened)"
    pytest.fail(message, pytrace=False)


def tensor(value, what, shape=None, dtype=None, device=None):
    """``value`` if it is a real ``torch.Tensor`` with the given shape/dtype/device; fails otherwise.

    Subclasses are refused so that an object overriding ``__eq__`` or comparison methods cannot
    pass a check.
    """
    if type(value) not in (_Tensor, _Parameter):
        fail(f"{what} returned {type(value).__module__}.{type(value).__qualname__}, expected a torch.Tensor.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        fail(f"{what} returned a tensor of shape {tuple(value.shape)}, expected shape {tuple(shape)}.")
    if dtype is not None and value.dtype != dtype:
        fail(f"{what} returned dtype {value.dtype}, expected {dtype}.")
    if device is not None and value.device.type != torch.device(device).type:
        fail(f"{what} returned a tensor on device '{value.device}', expected '{torch.device(device)}'.")
    return _Tensor.detach(value)


def _fmt_index(flat_index, shape):
    if not shape:
        return "()"
    index = [int(i) for i in _unravel(_as_tensor(flat_index), shape)]
    return "(" + ", ".join(map(str, index)) + ")"


def close(actual, expected, what, hint="", rtol=1e-5, atol=1e-6, shape=True):
    """``actual`` ≈ ``expected`` elementwise (NaN and ±inf must match exactly)."""
    actual = tensor(actual, what, shape=expected.shape if shape else None)
    a = actual.to(device="cpu", dtype=_float64)
    e = _as_tensor(expected).to(device="cpu", dtype=_float64).expand_as(a)
    same_nonfinite = (_isnan(a) & _isnan(e)) | ((a == e) & ~_isfinite(e))
    err = _where(same_nonfinite, torch.zeros_like(a), _abs(a - e))
    err = _where(_isnan(err), torch.full_like(err, math.inf), err)
    bad = err > atol + rtol * _abs(_where(_isfinite(e), e, torch.zeros_like(e)))
    if not bool(bad.any()):
        return
    worst = int(_argmax(_where(bad, err, torch.full_like(err, -1.0)).reshape(-1)))
    idx = _fmt_index(worst, tuple(a.shape))
    n_bad, n = int(bad.sum()), bad.numel()
    message = (f"{what}: {n_bad} of {n} values are wrong. At index {idx} expected "
               f"{float(e.reshape(-1)[worst]):.6g}, got {float(a.reshape(-1)[worst]):.6g}.")
    if hint:
        message += f"\nHint: {hint}"
    fail(message)


def finite(actual, what, hint=""):
    """Every entry of ``actual`` is finite."""
    a = tensor(actual, what)
    bad = ~_isfinite(a)
    if bool(bad.any()):
        first = int(_argmax(bad.reshape(-1).to(torch.uint8)))
        fail(f"{what}: {int(bad.sum())} values are not finite, e.g. {float(a.reshape(-1)[first])} at index "
             f"{_fmt_index(first, tuple(a.shape))}." + (f"\nHint: {hint}" if hint else ""))


def raises_value_error(fn, *args, what, rule, **kwargs):
    """``fn(*args, **kwargs)`` raises ``ValueError`` (``rule`` says why it should)."""
    try:
        fn(*args, **kwargs)
    except ValueError as exc:
        if str(exc).strip():
            return
        message = f"{what} raised ValueError without a message; say which argument is wrong and why ({rule})."
    except NotImplementedError as exc:
        message = f"{what}: not implemented yet ({student.describe(exc)})."
    except BaseException as exc:  # noqa: B902
        message = f"{what} raised {student.describe(exc)}; expected ValueError because {rule}."
    else:
        message = f"{what} returned without an error; expected ValueError because {rule}."
    fail(message)


def same_mask(actual, expected, what, hint, row_label="out", col_label="in"):
    """Exact equality of binary masks, with a picture of both when they differ."""
    from .pictures import side_by_side

    actual = tensor(actual, what, shape=expected.shape)
    if not bool(((actual == 0) | (actual == 1)).all()):
        fail(f"{what} must contain only 0s and 1s.")
    if _equal(actual.to(device="cpu", dtype=_float64), expected.to(_float64)):
        return
    fail(f"{what} is wrong ({row_label} = rows, {col_label} = columns).\n"
         f"{side_by_side(expected, actual.cpu(), row_label=row_label, col_label=col_label)}\nHint: {hint}")
