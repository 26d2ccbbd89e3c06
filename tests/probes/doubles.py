"""Test doubles that live in the worker next to the student's code.

The samplers are judged on exact autoregressive models of a few binary variables (small
networks per position, or parities of random subsets of the earlier positions, drawn by the
test), the training loop on a tiny linear model
with a stand-in loss, so that a bug in one graded file costs points only in that file's
section. None of these implements a graded function: the sampling models are no MADE or
PixelCNN (no degrees, no masks: each position has a network of its own), the stand-in
"likelihood" is a scaled, shifted squared error (not a Bernoulli NLL) and its ``bits_per_dim``
divides by another constant than ln 2, both chosen by the test.

The doubles report nothing about how they were called. Where the contract says how a model
must be called (under ``no_grad``, in eval or train mode, without touching torch's global
random number generator), a double can be told to *watch* it: a sampling model then negates its
logits while the rule is broken, a linear model adds a known shift. The test sees the effect
in the samples, losses and outputs, which it computes itself for both cases.
"""
import math
import types

import torch
from torch import nn

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


class NetMADE(Watchful):
    """An exact autoregressive model over D binary variables that is not MADE: the logit of
    position ``order[i]`` is a small network of the positions generated before it,
    ``scale · tanh(v_i · relu(W_i x[order[:i]] + c_i) + b_i)``, with its own weights per
    position (``params[i]``: ``W`` (H, i), ``c`` (H,), ``v`` (1, H), ``b`` (1,)). Has ``input_dim``
    and ``order`` like MADE; its logits come only from a forward pass."""

    def __init__(self, order, params, scale=50.0, watch=()):
        super().__init__(watch)
        self.input_dim = len(order)
        self.order = torch.as_tensor(order, dtype=torch.long)
        self.strength = float(scale)
        for i, layer in enumerate(params):
            if tuple(layer["W"].shape[1:]) != (i,):
                raise ValueError(f"position {i} must see {i} inputs")
            for name in ("W", "c", "v", "b"):
                self.register_buffer(f"{name}{i}", layer[name].double())

    def forward(self, x):
        self._check_input(x)
        sign = -1.0 if self.rule_broken() else 1.0
        out = torch.zeros_like(x)
        for i, d in enumerate(self.order.tolist()):
            w, c, v, b = (getattr(self, f"{name}{i}").to(x.dtype) for name in ("W", "c", "v", "b"))
            hidden = torch.relu(x[:, self.order[:i]] @ w.T + c)
            out[:, d] = self.strength * torch.tanh(hidden @ v.reshape(-1) + b.reshape(())) * self.scale * sign
        return out


class NetPixelCNN(Watchful):
    """The same for ``(C, H, W)`` images in raster order: the logits of pixel ``p`` (all its
    channels) are ``scale · tanh(V_p relu(W_p x[<p] + c_p) + b_p)`` of every channel of the
    pixels before it (``params[p]``: ``W`` (H, p·C), ``c`` (H,), ``v`` (C, H), ``b`` (C,))."""

    def __init__(self, image_shape, params, scale=50.0, watch=()):
        super().__init__(watch)
        self.image_shape = tuple(image_shape)
        self.strength = float(scale)
        for p, layer in enumerate(params):
            for name in ("W", "c", "v", "b"):
                self.register_buffer(f"{name}{p}", layer[name].double())

    def forward(self, x):
        self._check_input(x)
        sign = -1.0 if self.rule_broken() else 1.0
        n, channels, height, width = x.shape
        out = torch.zeros_like(x)
        flat = x.permute(0, 2, 3, 1).reshape(n, height * width * channels)  # raster, channels inner
        for p in range(height * width):
            w, c, v, b = (getattr(self, f"{name}{p}").to(x.dtype) for name in ("W", "c", "v", "b"))
            hidden = torch.relu(flat[:, : p * channels] @ w.T + c)
            out[:, :, p // width, p % width] = self.strength * torch.tanh(hidden @ v.T + b) * self.scale * sign
        return out


class ParityMADE(Watchful):
    """An autoregressive model over D binary variables that is almost deterministic: position
    ``order[i]`` has logit ``strength · signs[i] · prod_{j in S_i} (1 - 2 x[order[j]])`` (the
    parity of a subset ``S_i`` of the positions generated before it, ``subsets[i, j] = 1``);
    ``signs[i] = 0`` makes it a fair coin. Has ``input_dim`` and ``order`` like MADE."""

    def __init__(self, order, subsets, signs, strength=50.0, watch=()):
        super().__init__(watch)
        self.input_dim = len(order)
        self.order = torch.as_tensor(order, dtype=torch.long)
        self.strength = float(strength)
        self.register_buffer("subsets", torch.as_tensor(subsets).double().tril(-1))
        self.register_buffer("signs", torch.as_tensor(signs).double())

    def forward(self, x):
        self._check_input(x)
        sign = -1.0 if self.rule_broken() else 1.0
        flips = 1 - 2 * x[:, self.order]  # ±1 per position, in generation order
        chosen = self.subsets.to(x.dtype).bool()
        parity = torch.where(chosen[None], flips[:, None, :], torch.ones_like(flips)[:, None, :]).prod(2)
        out = torch.zeros_like(x)
        out[:, self.order] = self.strength * self.signs.to(x.dtype) * parity * self.scale * sign
        return out


class ParityPixelCNN(Watchful):
    """The same for ``(C, H, W)`` images in raster order: entry ``k = pixel · C + channel`` has
    logit ``strength · signs[k] · prod_{j in S_k} (1 - 2 x_j)`` over entries ``j`` of earlier
    pixels (raster order, channels inner)."""

    def __init__(self, image_shape, subsets, signs, strength=50.0, watch=()):
        super().__init__(watch)
        self.image_shape = tuple(image_shape)
        self.strength = float(strength)
        channels = image_shape[0]
        entries = torch.arange(len(signs))
        earlier = (entries[None, :] // channels) < (entries[:, None] // channels)
        self.register_buffer("subsets", torch.as_tensor(subsets).double() * earlier)
        self.register_buffer("signs", torch.as_tensor(signs).double())

    def forward(self, x):
        self._check_input(x)
        sign = -1.0 if self.rule_broken() else 1.0
        n, channels, height, width = x.shape
        flips = 1 - 2 * x.permute(0, 2, 3, 1).reshape(n, height * width * channels)
        chosen = self.subsets.to(x.dtype).bool()
        parity = torch.where(chosen[None], flips[:, None, :], torch.ones_like(flips)[:, None, :]).prod(2)
        out = self.strength * self.signs.to(x.dtype) * parity * self.scale * sign
        return out.reshape(n, height, width, channels).permute(0, 3, 1, 2)


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


def squared_error(logits, x, scale=1.0, shift=0.0):
    """``scale · 0.5 · sum (logits - x - shift)^2`` per example (not a Bernoulli NLL)."""
    diff = logits - x.to(logits.dtype) - shift
    return scale * 0.5 * (diff * diff).reshape(diff.shape[0], -1).sum(1)


def standin_likelihood(scale=1.0, shift=0.0, base=1.5):
    """A module to stand in for ``submission.likelihood`` while ``training.py`` is tested:
    ``bernoulli_nll`` is :func:`squared_error` with the test's ``scale`` and ``shift``,
    ``bits_per_dim`` divides by ``num_dims * base`` (not ln 2: the test sees which ``num_dims``
    was passed). The test draws all three, so no fixed loss passes for this one."""
    module = types.ModuleType("submission.likelihood")
    module.__doc__ = "Stand-in likelihood of the PS1 tests (a squared error, not the graded function)."
    module.bernoulli_nll = lambda logits, x: squared_error(logits, x, scale, shift)
    module.bits_per_dim = lambda nll, num_dims: nll / (num_dims * base)
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
    "NetMADE": NetMADE, "NetPixelCNN": NetPixelCNN, "ParityMADE": ParityMADE, "ParityPixelCNN": ParityPixelCNN,
    "Linear": Linear,
    "SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "StepLR": torch.optim.lr_scheduler.StepLR,
}
