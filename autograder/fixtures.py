"""Recorded examples of the public tests, generated from the solution: ``python -m autograder fixtures``.

``tests/fixtures/examples.wire`` holds, for every example a public test asks for by name, the
inputs drawn by :mod:`autograder.examples` from a fixed generator and the reference solution's
outputs (NLL examples: parameters only, never mask buffers, so a wrong mask cannot be
overwritten). It ships in the handout, so that local runs need no reference implementation; on
the grader the same draw functions run with fresh generators and the oracles instead.

A :mod:`tests.probes.wire` file (loading it runs no code). ``--check`` (and a self-test) fails
when it drifts from what the solution computes.
"""
import math
import sys
import zlib
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ROOT / "tests" / "fixtures"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.probes import doubles, wire  # noqa: E402

from . import examples  # noqa: E402

EXAMPLES = PUBLIC / "examples.wire"


class SolutionReference:
    """The reference solution under the names the draw functions use (see
    :class:`autograder.examples.OracleReference`)."""

    fresh = False  # the recorded examples

    def __init__(self):
        from .solution import likelihood, made, pixelcnn, probability, training

        self.likelihood, self.made, self.pixelcnn = likelihood, made, pixelcnn
        self.probability, self.training = probability, training

    def kl(self, p, q, dim=-1):
        return self.probability.kl_divergence(p, q, dim)

    def kl_logits(self, lp, lq, dim=-1):
        return self.probability.kl_divergence_logits(lp, lq, dim)

    def gaussian_kl(self, *args):
        return self.probability.gaussian_kl(*args)

    def nll(self, logits, x):
        return self.likelihood.bernoulli_nll(logits, x.to(logits.dtype))

    def bits_per_dim(self, nll, num_dims):
        return self.likelihood.bits_per_dim(nll, num_dims)

    def made_degrees(self, *args):
        return self.made.made_degrees(*args)

    def made_masks(self, *args):
        return self.made.made_masks(*args)

    def causal_mask(self, k, mask_type):
        return self.pixelcnn.causal_mask(k, mask_type)

    @staticmethod
    def _run(model, params, x, buffers=None):
        with torch.no_grad():
            for name, value in params.items():
                dict(model.named_parameters())[name].copy_(value)
            for name, value in (buffers or {}).items():
                dict(model.named_buffers())[name].copy_(value)
        return model(x)  # with autograd, for the examples' Jacobians

    def masked_linear(self, params, mask, x):
        layer = self.made.MaskedLinear(params["weight"].shape[1], params["weight"].shape[0]).to(x.dtype)
        layer.set_mask(mask)
        return self._run(layer, params, x)

    def masked_conv(self, params, mask, x):
        c_out, c_in, k, _ = params["weight"].shape
        conv = self.pixelcnn.MaskedConv2d("A", c_in, c_out, k).to(x.dtype)
        return self._run(conv, params, x, {"mask": mask})

    def made_forward(self, input_dim, hidden_sizes, order, params, x):
        model = self.made.MADE(input_dim, hidden_sizes, order).to(next(iter(params.values())).dtype)
        return self._run(model, params, x.to(model.net[0].weight.dtype))

    def pixelcnn_forward(self, config, params, x):
        model = self.pixelcnn.PixelCNN(**config).to(next(iter(params.values())).dtype)
        return self._run(model, params, x.to(model.net[0].weight.dtype))

    def _with_likelihood(self, variant, standin):
        """The solution's training module, with the tests' stand-in likelihood for ``stand-in``."""
        if variant == "stand-in":
            module = doubles.standin_likelihood(**standin)
            return module.bernoulli_nll, module.bits_per_dim
        return self.likelihood.bernoulli_nll, self.likelihood.bits_per_dim

    def train_epoch(self, variant, standin, num_dims, model_seed, batches, lr):
        saved = self.training.bernoulli_nll, self.training.bits_per_dim
        self.training.bernoulli_nll, self.training.bits_per_dim = self._with_likelihood(variant, standin)
        try:
            model = doubles.Linear(num_dims, model_seed)
            loss = self.training.train_epoch(model, [(x,) for x in batches],
                                             torch.optim.SGD(model.parameters(), lr=lr))
            return {"loss": loss, "params": {n: p.detach().clone() for n, p in model.named_parameters()}}
        finally:
            self.training.bernoulli_nll, self.training.bits_per_dim = saved

    def evaluate(self, variant, standin, num_dims, model_seed, batches, lr=None):
        saved = self.training.bernoulli_nll, self.training.bits_per_dim
        self.training.bernoulli_nll, self.training.bits_per_dim = self._with_likelihood(variant, standin)
        try:
            return self.training.evaluate(doubles.Linear(num_dims, model_seed), batches)
        finally:
            self.training.bernoulli_nll, self.training.bits_per_dim = saved


def render():
    """``{path: content}`` of every recorded file."""
    torch.set_num_threads(1)
    reference = SolutionReference()
    recorded = {}
    for name, draw in examples.DRAWS.items():
        torch.manual_seed(2026)  # any default initialisation a draw might touch
        recorded[name] = draw(torch.Generator().manual_seed(zlib.crc32(name.encode())), reference)
    return {EXAMPLES: recorded}


def _same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype
                and torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-6, equal_nan=True))
    if isinstance(a, float):
        return isinstance(b, float) and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def differences():
    """Paths of recorded files that are missing or differ from a fresh render."""
    stale = []
    for path, fresh in render().items():
        if not path.is_file() or not _same(wire.decode(wire.encode(fresh)), wire.load_file(path)):
            stale.append(str(path.relative_to(ROOT)))
    return stale


def write():
    written = []
    for path, content in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        wire.dump_file(content, path)
        written.append(str(path.relative_to(ROOT)))
    for stale in (PUBLIC / "made_nll.wire", PUBLIC / "pixelcnn_nll.wire"):  # merged into examples.wire
        if stale.exists():
            stale.unlink()
    return written
