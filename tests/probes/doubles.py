"""Test doubles that live in the worker next to the student's code.

The samplers are judged on exact table models, the training loop on a tiny linear model with
a stand-in loss, so that a bug in one graded file costs points only in that file's section.
None of these implements a graded function: the table models compute logits by table
look-up, the stand-in "likelihood" is a squared error (not a Bernoulli NLL) and its
``bits_per_dim`` is a canned conversion factor chosen by the test.
"""
import math
import types

import torch
from torch import nn


class Recording(nn.Module):
    """Records, for every forward call, the input's device/dtype, the train/eval mode and
    whether autograd was on; ``scale`` (=1) is the parameter that gives the model a device
    and dtype."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = []

    def _record(self, x):
        self.calls.append({"device": str(x.device), "dtype": str(x.dtype).replace("torch.", ""),
                           "training": self.training, "grad_enabled": torch.is_grad_enabled()})
        if x.device != self.scale.device or x.dtype != self.scale.dtype:
            raise RuntimeError(f"the model's parameters are {self.scale.dtype} on {self.scale.device}, "
                               f"but it was called on a {x.dtype} tensor on {x.device}")


def prefix_code(bits):
    """Integer code of the bit columns ``bits`` (B, k): sum_i bits[:, i] * 2^i."""
    if not bits.shape[1]:
        return torch.zeros(bits.shape[0], dtype=torch.long, device=bits.device)
    weights = 2 ** torch.arange(bits.shape[1], device=bits.device)
    return (bits.long() * weights).sum(1)


class TableMADE(Recording):
    """An exact autoregressive model over D binary variables: position ``order[i]`` has logit
    ``tables[i][code of x at order[:i]]``. Has ``input_dim`` and ``order`` like MADE."""

    def __init__(self, order, tables):
        super().__init__()
        self.input_dim = len(order)
        self.order = torch.as_tensor(order, dtype=torch.long)
        for i, table in enumerate(tables):
            if table.numel() != 2 ** i:
                raise ValueError(f"table {i} must have {2 ** i} entries")
            self.register_buffer(f"table{i}", table.double())

    def forward(self, x):
        self._record(x)
        out = torch.zeros_like(x)
        bits = x > 0.5
        for i, d in enumerate(self.order.tolist()):
            code = prefix_code(bits[:, self.order[:i]])
            out[:, d] = getattr(self, f"table{i}").to(x.dtype)[code] * self.scale
        return out


class TablePixelCNN(Recording):
    """An exact autoregressive model over ``(C, H, W)`` binary images in raster order: channel
    ``ch`` of pixel ``p`` has logit ``tables[p][ch, code of all channels of pixels < p]``."""

    def __init__(self, image_shape, tables):
        super().__init__()
        self.image_shape = tuple(image_shape)
        channels = image_shape[0]
        for p, table in enumerate(tables):
            self.register_buffer(f"table{p}", table.reshape(channels, 2 ** (p * channels)).double())

    def forward(self, x):
        self._record(x)
        n, channels, height, width = x.shape
        out = torch.zeros_like(x)
        bits = (x > 0.5).permute(0, 2, 3, 1).reshape(n, height * width * channels)  # raster, channels inner
        for p in range(height * width):
            code = prefix_code(bits[:, : p * channels])
            table = getattr(self, f"table{p}").to(x.dtype)
            out[:, :, p // width, p % width] = table[:, code].T * self.scale
        return out


class DeviceProbe(Recording):
    """Constant zero logits (every position a fair coin); complains if called on a tensor whose
    device or dtype differs from its parameter's. Works on the ``meta`` device."""

    def __init__(self, input_dim=4):
        super().__init__()
        self.input_dim = input_dim
        self.order = torch.arange(input_dim)

    def forward(self, x):
        self._record(x)
        return x * 0 + (self.scale - 1)


class Linear(Recording):
    """Logits = x·W + b over flattened inputs, with weights drawn from ``seed`` (a training loop
    needs no autoregressive structure)."""

    def __init__(self, num_dims, seed):
        super().__init__()
        self.linear = nn.Linear(num_dims, num_dims)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(num_dims, num_dims, generator=gen) * 0.5 / math.sqrt(num_dims))
            self.linear.bias.copy_(torch.randn(num_dims, generator=gen) * 0.1)

    def forward(self, x):
        self._record(x)
        return self.linear(x.reshape(x.shape[0], -1)).reshape(x.shape) * self.scale


class CountingSGD(torch.optim.SGD):
    """SGD that counts its steps."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def squared_error(logits, x):
    """The stand-in loss: ``0.5 * sum (logits - x)^2`` per example (not a Bernoulli NLL)."""
    diff = logits - x.to(logits.dtype)
    return 0.5 * (diff * diff).reshape(diff.shape[0], -1).sum(1)


def standin_likelihood(bits_factor):
    """A module to stand in for ``submission.likelihood`` while ``training.py`` is tested:
    ``bernoulli_nll`` is :func:`squared_error`, ``bits_per_dim`` multiplies by the factor the
    test chose for its data (so the test knows both answers without a likelihood of its own)."""
    module = types.ModuleType("submission.likelihood")
    module.__doc__ = "Stand-in likelihood of the PS1 tests (a squared error, not the graded function)."
    module.bernoulli_nll = squared_error
    module.bits_per_dim = lambda nll, num_dims: nll * bits_factor
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
    "TableMADE": TableMADE, "TablePixelCNN": TablePixelCNN, "DeviceProbe": DeviceProbe, "Linear": Linear,
    "CountingSGD": CountingSGD, "SGD": torch.optim.SGD, "Adam": torch.optim.Adam,
    "StepLR": torch.optim.lr_scheduler.StepLR,
}
