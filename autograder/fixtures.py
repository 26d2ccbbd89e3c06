"""Recorded reference values, generated from the solution: ``python -m autograder fixtures``.

* NLL fixtures: a model configuration, its parameters (never its mask buffers: a student's
  model loads parameters only, so a wrong mask cannot be overwritten), binary inputs, and the
  solution's logits and per-example NLL;
* ``tests/fixtures/examples.wire``: the inputs and the solution's outputs of every fixed
  example the public tests use, so that the handout needs no reference implementation.

All are :mod:`tests.probes.wire` files (loading them runs no code). ``--check`` (and a
self-test) fails when they drift from what the solution computes.
"""
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ROOT / "tests" / "fixtures"
HIDDEN = ROOT / "autograder" / "fixtures"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.probes import doubles, wire  # noqa: E402
from tests.support import tables  # noqa: E402

NLL_SPECS = {
    PUBLIC / "made_nll.wire": {"model": "made", "input_dim": 16, "hidden_sizes": [24], "order_seed": 1,
                               "input_shape": [8, 16], "seed": 11},
    PUBLIC / "pixelcnn_nll.wire": {"model": "pixelcnn", "in_channels": 1, "hidden_channels": 8, "num_layers": 2,
                                   "kernel_size": 5, "input_shape": [6, 1, 6, 6], "seed": 12},
    HIDDEN / "made_nll.wire": {"model": "made", "input_dim": 20, "hidden_sizes": [32, 24], "order_seed": 2,
                               "input_shape": [10, 4, 5], "seed": 21},
    HIDDEN / "pixelcnn_nll.wire": {"model": "pixelcnn", "in_channels": 2, "hidden_channels": 8, "num_layers": 3,
                                   "kernel_size": 3, "input_shape": [5, 2, 7, 7], "seed": 22},
}
EXAMPLES = PUBLIC / "examples.wire"


def _nll_fixture(spec):
    from .solution.likelihood import bernoulli_nll
    from .solution.made import MADE
    from .solution.pixelcnn import PixelCNN

    gen = torch.Generator().manual_seed(spec["seed"])
    if spec["model"] == "made":
        order = torch.randperm(spec["input_dim"], generator=torch.Generator().manual_seed(spec["order_seed"]))
        model = MADE(spec["input_dim"], spec["hidden_sizes"], order.tolist())
        config = {"input_dim": spec["input_dim"], "hidden_sizes": spec["hidden_sizes"], "order": order.tolist()}
    else:
        config = {k: spec[k] for k in ("in_channels", "hidden_channels", "num_layers", "kernel_size")}
        model = PixelCNN(**config)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / fan_in**0.5 if p.dim() > 1 else 0.3))
    x = (torch.rand(spec["input_shape"], generator=gen) < 0.4).float()
    with torch.no_grad():
        logits = model(x)
    return {"model": spec["model"], "config": config,
            "params": {name: p.detach().clone() for name, p in model.named_parameters()},
            "x": x, "logits": logits, "nll": bernoulli_nll(logits, x)}


def _examples():
    """Inputs and reference outputs of the public tests' fixed examples."""
    from .solution import likelihood, made, pixelcnn, probability, training

    gen = torch.Generator().manual_seed(2026)
    torch.manual_seed(2026)  # the layers' default initialisation
    ex = {}
    p = torch.softmax(torch.randn(4, 6, generator=gen), -1)
    q = torch.softmax(torch.randn(4, 6, generator=gen), -1)
    ex["kl_divergence"] = {"p": p, "q": q, "out": probability.kl_divergence(p, q)}
    lp, lq = torch.randn(3, 5, generator=gen) * 2, torch.randn(3, 5, generator=gen) * 2
    ex["kl_divergence_logits"] = {"lp": lp, "lq": lq, "out": probability.kl_divergence_logits(lp, lq)}
    g = [torch.randn(7, generator=gen) for _ in range(4)]
    ex["gaussian_kl"] = {"mu_p": g[0], "logvar_p": g[1], "mu_q": g[2], "logvar_q": g[3],
                         "out": probability.gaussian_kl(*g)}
    logits = torch.randn(5, 1, 3, 4, generator=gen) * 3
    x = (torch.rand(5, 1, 3, 4, generator=gen) < 0.5).float()
    ex["bernoulli_nll"] = {"logits": logits, "x": x, "out": likelihood.bernoulli_nll(logits, x)}
    nll = torch.tensor([100.0, 543.21])
    ex["bits_per_dim"] = {"nll": nll, "num_dims": 784, "out": likelihood.bits_per_dim(nll, 784)}
    ex["made_degrees"] = {"args": [4, [5, 3], [2, 0, 3, 1]], "out": made.made_degrees(4, [5, 3], [2, 0, 3, 1])}
    ex["made_masks"] = {"args": [4, [6], [1, 3, 0, 2]], "out": made.made_masks(4, [6], [1, 3, 0, 2])}
    layer = made.MaskedLinear(5, 3)
    mask = (torch.rand(3, 5, generator=gen) < 0.5).float()
    layer.set_mask(mask)
    xl = torch.randn(4, 5, generator=gen)
    with torch.no_grad():
        ex["masked_linear"] = {"params": {"weight": layer.weight.detach().clone(), "bias": layer.bias.detach().clone()},
                               "mask": mask, "x": xl, "out": layer(xl)}
    ex["causal_mask"] = [{"k": k, "type": t, "out": pixelcnn.causal_mask(k, t)} for k in (3, 5) for t in "AB"]
    conv = pixelcnn.MaskedConv2d("A", 2, 3, 5)
    xc = torch.randn(2, 2, 6, 7, generator=gen)
    with torch.no_grad():
        ex["masked_conv"] = {"params": {"weight": conv.weight.detach().clone(), "bias": conv.bias.detach().clone()},
                             "x": xc, "out": conv(xc)}
    ex["train_epoch"] = _training_example(training, "train_epoch", [4, 4, 3], (6,), seed=9, model_seed=10)
    ex["evaluate"] = _training_example(training, "evaluate", [4, 4, 2], (6,), seed=11, model_seed=12)
    return ex


def _training_example(training, name, sizes, shape, seed, model_seed):
    """The solution's ``train_epoch`` / ``evaluate`` with the stand-in likelihood."""
    batches = tables.binary_batches(sizes, shape, seed)
    num_dims = math.prod(shape)
    standin = doubles.standin_likelihood(1.0 / (num_dims * math.log(2)))
    saved = training.bernoulli_nll, training.bits_per_dim
    training.bernoulli_nll, training.bits_per_dim = standin.bernoulli_nll, standin.bits_per_dim
    try:
        model = doubles.Linear(num_dims, model_seed)
        if name == "train_epoch":
            loss = training.train_epoch(model, [(x,) for x in batches], torch.optim.SGD(model.parameters(), lr=0.1))
            return {"sizes": sizes, "shape": list(shape), "seed": seed, "model_seed": model_seed, "lr": 0.1,
                    "loss": loss, "params": {n: p.detach().clone() for n, p in model.named_parameters()}}
        result = training.evaluate(model, batches)
        return {"sizes": sizes, "shape": list(shape), "seed": seed, "model_seed": model_seed, **result}
    finally:
        training.bernoulli_nll, training.bits_per_dim = saved


def render():
    torch.set_num_threads(1)
    out = {path: _nll_fixture(spec) for path, spec in NLL_SPECS.items()}
    out[EXAMPLES] = _examples()
    return out


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
    """Paths of fixtures that are missing or differ from a fresh render."""
    stale = []
    for path, fresh in render().items():
        if not path.is_file() or not _same(wire.decode(wire.encode(fresh)), wire.load_file(path)):
            stale.append(str(path.relative_to(ROOT)))
    return stale


def write():
    written = []
    for path, fixture in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        wire.dump_file(fixture, path)
        written.append(str(path.relative_to(ROOT)))
    return written
