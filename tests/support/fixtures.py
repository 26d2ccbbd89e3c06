"""Load reference fixtures at import time.

The grader collects the tests, and so loads every fixture, before any student code runs and
before it drops privileges: tests never read fixture files while student code is running.
"""
from pathlib import Path

import torch

from . import checks, student

PUBLIC = Path(__file__).resolve().parent.parent / "fixtures"


def load(path):
    return torch.load(Path(path), weights_only=True)


def load_params(model, params, what):
    """Copy the fixture's parameters into ``model``'s parameters (never its buffers)."""
    names = dict(model.named_parameters())
    if set(names) != set(params):
        checks.fail(f"{what} has parameters {sorted(names)}, expected {sorted(params)}. "
                    "Keep the provided __init__ unchanged: the graders load weights by these names.")
    with torch.no_grad():
        for name, value in params.items():
            if names[name].shape != value.shape:
                checks.fail(f"{what}: parameter {name} has shape {tuple(names[name].shape)}, "
                            f"expected {tuple(value.shape)}.")
            names[name].copy_(value)


def build(fixture):
    """The student's model for ``fixture``, with the fixture's parameters loaded."""
    cfg = fixture["config"]
    if fixture["model"] == "made":
        made = student.load("made")
        what = f"MADE({cfg['input_dim']}, {cfg['hidden_sizes']}, order={cfg['order']})"
        model = student.call(made.MADE, cfg["input_dim"], cfg["hidden_sizes"], cfg["order"], what=what)
    else:
        pixelcnn = student.load("pixelcnn")
        what = ("PixelCNN(in_channels={in_channels}, hidden_channels={hidden_channels}, "
                "num_layers={num_layers}, kernel_size={kernel_size})").format(**cfg)
        model = student.call(pixelcnn.PixelCNN, what=what, **cfg)
    load_params(model, fixture["params"], what)
    return model, what



def check_nll(fixture, hint):
    """The student's model, with the fixture's parameters, gives the fixture's logits and NLL."""
    from . import oracles

    model, what = build(fixture)
    x = fixture["x"]
    logits = student.call(model, x, what=f"{what}(x) with x of shape {tuple(x.shape)}")
    checks.close(logits, fixture["logits"], f"{what}(x) with the reference weights", rtol=1e-4, atol=1e-4,
                 hint=hint)
    checks.close(oracles.nll(checks.tensor(logits, what), x), fixture["nll"],
                 f"NLL of {what} on the reference inputs", rtol=1e-4, atol=1e-3)
