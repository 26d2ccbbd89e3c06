"""Reference fixtures for the NLL-against-reference tests, generated from the solution.

Each fixture holds a model configuration, its parameters (never its mask buffers: a student's
model loads parameters only, so a wrong mask cannot be overwritten), binary inputs, and the
solution's logits and per-example NLL. ``python -m autograder fixtures`` rewrites them;
``--check`` (and a self-test) fails when they drift from what the solution computes.
"""
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ROOT / "tests" / "fixtures"
HIDDEN = ROOT / "autograder" / "fixtures"

SPECS = {
    PUBLIC / "made_nll.pt": {"model": "made", "input_dim": 16, "hidden_sizes": [24], "order_seed": 1,
                             "input_shape": [8, 16], "seed": 11},
    PUBLIC / "pixelcnn_nll.pt": {"model": "pixelcnn", "in_channels": 1, "hidden_channels": 8, "num_layers": 2,
                                 "kernel_size": 5, "input_shape": [6, 1, 6, 6], "seed": 12},
    HIDDEN / "made_nll.pt": {"model": "made", "input_dim": 20, "hidden_sizes": [32, 24], "order_seed": 2,
                             "input_shape": [10, 4, 5], "seed": 21},
    HIDDEN / "pixelcnn_nll.pt": {"model": "pixelcnn", "in_channels": 2, "hidden_channels": 8, "num_layers": 3,
                                 "kernel_size": 3, "input_shape": [5, 2, 7, 7], "seed": 22},
}


def _build(spec):
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
    nll = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return {
        "model": spec["model"],
        "config": config,
        "params": {name: p.detach().clone() for name, p in model.named_parameters()},
        "x": x,
        "logits": logits,
        "nll": nll.reshape(x.shape[0], -1).sum(1),
    }


def render():
    torch.set_num_threads(1)
    return {path: _build(spec) for path, spec in SPECS.items()}


def _same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype
                and torch.allclose(a, b, rtol=1e-5, atol=1e-6))
    return a == b


def differences():
    """Paths of fixtures that are missing or differ from a fresh render."""
    stale = []
    for path, fresh in render().items():
        if not path.is_file() or not _same(fresh, torch.load(path, weights_only=True)):
            stale.append(str(path.relative_to(ROOT)))
    return stale


def write():
    written = []
    for path, fixture in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(fixture, path)
        written.append(str(path.relative_to(ROOT)))
    return written
