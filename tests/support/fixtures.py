"""Recorded reference values, generated from the reference solution by ``make fixtures``.

They are :mod:`tests.probes.wire` files (JSON and raw tensor bytes: loading runs no code). The
public ones hold the inputs and outputs of the public tests' fixed examples; the NLL fixtures
hold a model configuration, its parameters (never its mask buffers, so a wrong mask cannot be
overwritten), inputs and the reference logits and per-example NLL.
"""
from pathlib import Path

from tests.probes import wire

from . import checks

PUBLIC = Path(__file__).resolve().parent.parent / "fixtures"


def load(path):
    return wire.load_file(Path(path))


def examples():
    """The public tests' recorded examples: ``{name: {...}}``."""
    return load(PUBLIC / "examples.wire")


def build(worker, fixture):
    """The student's model for ``fixture`` (a handle), with the fixture's parameters loaded."""
    cfg = fixture["config"]
    if fixture["model"] == "made":
        what = f"MADE({cfg['input_dim']}, {cfg['hidden_sizes']}, order={cfg['order']})"
        model = worker.call("made.MADE", cfg["input_dim"], cfg["hidden_sizes"], cfg["order"], what=what)
    else:
        what = ("PixelCNN(in_channels={in_channels}, hidden_channels={hidden_channels}, "
                "num_layers={num_layers}, kernel_size={kernel_size})").format(**cfg)
        model = worker.call("pixelcnn.PixelCNN", what=what, **cfg)
    worker.load_params(model, fixture["params"], what)
    return model, what


def check_logits(worker, fixture, hint):
    """The student's model, with the fixture's parameters, gives the fixture's logits; returns
    them (and the call's description) for tests that also check the NLL."""
    model, what = build(worker, fixture)
    x = fixture["x"]
    logits = worker.call(model, x, what=f"{what}(x) with x of shape {tuple(x.shape)}")
    checks.close(logits, fixture["logits"], f"{what}(x) with the reference weights", rtol=1e-4, atol=1e-4,
                 hint=hint)
    return logits, what
