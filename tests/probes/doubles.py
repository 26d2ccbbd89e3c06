"""Test doubles that live in the worker next to the student's code.

The samplers are judged on exact table models, the training loop on a tiny linear model with
a stand-in loss, so that a bug in one graded file costs points only in that file's section.
None of these implements a graded function: the table models compute logits by table
look-up, the stand-in "likelihood" is a squared error (not a Bernoulli NLL) and its
``bits_per_dim`` divides by another constant than ln 2.

The doubles report nothing about how they were called. Where the contract says how a model
must be called (under ``no_grad``, in eval or train mode, without touching torch's global
random number generator), a double can be told to *watch* it: a table model then negates its
logits while the rule is broken, a linear model adds a known shift. The test sees the effect
in the samples, losses and outputs, which it computes itself for both cases.
"""
import math
import types

import torch
from torch import nn

# The stand-in bits_per_dim divides by num_dims times this (ln 2 would be the real one).
STANDIN_BITS_BASE = 1.5
WATCHABLE = ("grad", "train", "rng")


class TestModel(nn.Module):
    """Base of the model doubles: ``scale`` (= 1) is the parameter that gives the model a
    device and dtype; a forward call on an input of another device or dtype raises."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def _check_input(self, x):
        if x.device != self.scale.device or x.dtype != self.scale.dtype:
            raise RuntimeError(f"the model's parameters are {self.scale.dtype} on {self.scale.device}, "
                               f"but it was called on a {x.dtype} tensor on {x.device}")


class Watchful(TestModel):
    """A model double that can watch how it is called (see the module's docstring)."""

    def __init__(self, watch=()):
        super().__init__()
        unknown = set(watch) - set(WATCHABLE)
        if unknown:
            raise ValueError(f"cannot watch {sorted(unknown)}")
        self.watch = tuple(watch)
        self._rng_state = None

    def arm(self, seed):
        """Seed torch's global generator; from now on (if watching ``rng``) any draw from it
        before a forward call breaks the rule."""
        torch.manual_seed(int(seed))
        self._rng_state = torch.get_rng_state()

    def rule_broken(self):
        if "grad" in self.watch and torch.is_grad_enabled():
            return True
        if "train" in self.watch and self.training:
            return True
        return ("rng" in self.watch and self._rng_state is not None
                and not torch.equal(torch.get_rng_state(), self._rng_state))


def prefix_code(bits):
    """Integer code of the bit columns ``bits`` (B, k): sum_i bits[:, i] * 2^i."""
    if not bits.shape[1]:
        return torch.zeros(bits.shape[0], dtype=torch.long, device=bits.device)
    weights = 2 ** torch.arange(bits.shape[1], device=bits.device)
    return (bits.long() * weights).sum(1)


class TableMADE(Watchful):
    """An exact autoregressive model over D binary variables: position ``order[i]`` has logit
    ``tables[i][code of x at order[:i]]``. Has ``input_dim`` and ``order`` like MADE."""

    def __init__(self, order, tables, watch=()):
        super().__init__(watch)
        self.input_dim = len(order)
        self.order = torch.as_tensor(order, dtype=torch.long)
        for i, table in enumerate(tables):
            if table.numel() != 2 ** i:
                raise ValueError(f"table {i} must have {2 ** i} entries")
            self.register_buffer(f"table{i}", table.double())

    def forward(self, x):
        self._check_input(x)
        sign = -1.0 if self.rule_broken() else 1.0
        out = torch.zeros_like(x)
        bits = x > 0.5
        for i, d in enumerate(self.order.tolist()):
            code = prefix_code(bits[:, self.order[:i]])
            out[:, d] = getattr(self, f"table{i}").to(x.dtype)[code] * self.scale * sign
        return out


class TablePixelCNN(Watchful):
    """An exact autoregressive model over ``(C, H, W)`` binary images in raster order: channel
    ``ch`` of pixel ``p`` has logit ``tables[p][ch, code of all channels of pixels < p]``."""

    def __init__(self, image_shape, tables, watch=()):
        super().__init__(watch)
        self.image_shape = tuple(image_shape)
        channels = image_shape[0]
        for p, table in enumerate(tables):
            self.register_buffer(f"table{p}", table.reshape(channels, 2 ** (p * channels)).double())

    def forward(self, x):
        self._check_input(x)
        sign = -1.0 if self.rule_broken() else 1.0
        n, channels, height, width = x.shape
        out = torch.zeros_like(x)
        bits = (x > 0.5).permute(0, 2, 3, 1).reshape(n, height * width * channels)  # raster, channels inner
        for p in range(height * width):
            code = prefix_code(bits[:, : p * channels])
            table = getattr(self, f"table{p}").to(x.dtype)
            out[:, :, p // width, p % width] = table[:, code].T * self.scale * sign
        return out


class Linear(TestModel):
    """Logits = x·W + b over flattened inputs, with weights drawn from ``seed`` (a training loop
    needs no autoregressive structure), plus ``train_shift`` while in train mode and
    ``grad_shift`` while autograd is on."""

    def __init__(self, num_dims, seed, train_shift=0.0, grad_shift=0.0):
        super().__init__()
        self.linear = nn.Linear(num_dims, num_dims)
        self.train_shift, self.grad_shift = float(train_shift), float(grad_shift)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(num_dims, num_dims, generator=gen) * 0.5 / math.sqrt(num_dims))
            self.linear.bias.copy_(torch.randn(num_dims, generator=gen) * 0.1)

    def forward(self, x):
        self._check_input(x)
        out = self.linear(x.reshape(x.shape[0], -1)).reshape(x.shape) * self.scale
        shift = self.train_shift * self.training + self.grad_shift * torch.is_grad_enabled()
        return out + shift if shift else out


def squared_error(logits, x):
    """The stand-in loss: ``0.5 * sum (logits - x)^2`` per example (not a Bernoulli NLL)."""
    diff = logits - x.to(logits.dtype)
    return 0.5 * (diff * diff).reshape(diff.shape[0], -1).sum(1)


def standin_likelihood():
    """A module to stand in for ``submission.likelihood`` while ``training.py`` is tested:
    ``bernoulli_nll`` is :func:`squared_error`, ``bits_per_dim`` divides by
    ``num_dims * STANDIN_BITS_BASE`` (so the test sees which ``num_dims`` was passed)."""
    module = types.ModuleType("submission.likelihood")
    module.__doc__ = "Stand-in likelihood of the PS1 tests (a squared error, not the graded function)."
    module.bernoulli_nll = squared_error
    module.bits_per_dim = lambda nll, num_dims: nll / (num_dims * STANDIN_BITS_BASE)
    return module


def fit_steps(model, optimizer, scheduler, batches):
    """Advance ``model``'s optimizer and scheduler by one pass of :func:`squared_error` steps,
    so that they hold state worth saving."""
    for x in batches:
        loss = squared_error(model(x), x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if scheduler is not None:
        scheduler.step()


# What the session may build in a worker (name -> constructor).
KINDS = {
    "TableMADE": TableMADE, "TablePixelCNN": TablePixelCNN, "Linear": Linear,
    "SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "StepLR": torch.optim.lr_scheduler.StepLR,
}
