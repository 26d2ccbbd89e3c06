"""Uploaded trained models that the grader must refuse, each with the one line that says why.

Every member starts from a well-formed file the provided trainer's ``export_model`` writes for a
tiny model (trained or not: the grader measures any weights) and breaks it one way: not
safetensors at all (random bytes, a renamed checkpoint pickle), a header that lies about the
file, too large, the wrong dtype, NaN weights, a tensor too many or too few, shapes that do not
match the declared hyperparameters, hyperparameters beyond the caps, the other model, another
dataset. ``self-tests``: each member's message (in-process, :mod:`autograder.trained`), and two
members uploaded with the solution through the real grader (40/40, one line each in test 7.1).
"""
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import torch

TINY = {"made": {"hidden": [16]}, "pixelcnn": {"channels": 4, "layers": 1, "kernel": 3}}


def exported(kind, dataset="mnist", seed=0):
    """The bytes of ``<kind>.safetensors`` as the trainer writes them, for a tiny untrained model."""
    from autograder.solution import made, pixelcnn, train

    torch.manual_seed(seed)
    if kind == "made":
        model = made.MADE(784, TINY["made"]["hidden"])
        args = SimpleNamespace(model="made", dataset=dataset)
    else:
        t = TINY["pixelcnn"]
        model = pixelcnn.PixelCNN(1, t["channels"], t["layers"], t["kernel"])
        args = SimpleNamespace(model="pixelcnn", dataset=dataset, **t)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"{kind}.safetensors")
        assert train.export_model(model, args, path, {"epoch": 0, "test_bits_per_dim": 1.0})
        with open(path, "rb") as f:
            return f.read()


def _split(data):
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size]), data[8 + size:]


def _join(header, body):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + body


def _tensors(data):
    from safetensors.torch import load

    header, _ = _split(data)
    return load(data), header.get("__metadata__", {})


def _resave(tensors, metadata):
    from safetensors.torch import save

    return save(tensors, metadata=metadata)


def _with_metadata(data, **changes):
    tensors, metadata = _tensors(data)
    return _resave(tensors, {**metadata, **changes})


def _nan(data):
    tensors, metadata = _tensors(data)
    tensors["net.0.weight"][0, 0] = math.nan
    return _resave(tensors, metadata)


def _float64(data):
    tensors, metadata = _tensors(data)
    return _resave({n: t.double() for n, t in tensors.items()}, metadata)


def _extra_mask(data):
    tensors, metadata = _tensors(data)
    return _resave({**tensors, "net.0.mask": torch.ones_like(tensors["net.0.weight"])}, metadata)


def _missing(data):
    tensors, metadata = _tensors(data)
    del tensors["net.0.bias"]
    return _resave(tensors, metadata)


def _scaled(data, weight, bias):
    """Every weight set to ``weight`` and every bias to ``bias`` (finite values)."""
    tensors, metadata = _tensors(data)
    return _resave({n: torch.full_like(t, weight if n.endswith("weight") else bias) for n, t in tensors.items()},
                   metadata)


def _lying_offsets(data):
    header, body = _split(data)
    header["net.0.weight"]["data_offsets"][1] += 10**9
    return _join(header, body)


def _pickle(kind):
    from autograder.solution import made

    buffer = io.BytesIO()
    torch.save({"model": made.MADE(784, [16]).state_dict(), "epoch": 1}, buffer)
    return buffer.getvalue()


@dataclass
class BadModel:
    name: str
    kind: str                       # the file it is uploaded as: made or pixelcnn
    make: Callable[[], bytes]
    says: str                       # a phrase of the one-line message


BAD_MODELS = [
    BadModel("random_bytes", "made", lambda: os.urandom(3000), "not a safetensors file"),
    BadModel("renamed_pickle", "made", lambda: _pickle("made"), "a pickle"),
    BadModel("truncated", "made", lambda: exported("made")[:20000], "beyond the end of the file"),
    BadModel("lying_header", "pixelcnn", lambda: _lying_offsets(exported("pixelcnn")), "beyond the end of the file"),
    BadModel("oversized", "made", lambda: _with_metadata(exported("made"), pad="x" * 100)
             + b"\0" * (16 * 2**20), "MB, more than the 16 MB"),
    BadModel("float64", "made", lambda: _float64(exported("made")), "not float32"),
    BadModel("nan_weights", "pixelcnn", lambda: _nan(exported("pixelcnn")), "NaN or infinite"),
    BadModel("mask_included", "made", lambda: _extra_mask(exported("made")), "masks are not uploaded"),
    BadModel("tensor_missing", "pixelcnn", lambda: _missing(exported("pixelcnn")), "missing tensor net.0.bias"),
    BadModel("shapes_disagree", "made", lambda: _with_metadata(exported("made"), hidden_sizes="[32]"),
             "not [32, 784]"),
    BadModel("beyond_the_caps", "made", lambda: _with_metadata(exported("made"), hidden_sizes="[100000]"),
             "outside what the grader measures"),
    BadModel("too_costly", "pixelcnn", lambda: _with_metadata(exported("pixelcnn"), hidden_channels="128",
                                                                 num_layers="4", kernel_size="7"),
             "too costly to measure"),
    BadModel("other_model", "made", lambda: exported("pixelcnn"), "upload it as pixelcnn.safetensors"),
    BadModel("not_the_trainers", "made", lambda: _resave(_tensors(exported("made"))[0], {}),
             "not written by the provided trainer"),
    BadModel("order_not_a_permutation", "made", lambda: _with_metadata(exported("made"), order=json.dumps([0] * 784)),
             "not a permutation"),
    BadModel("shapes_dataset", "made", lambda: exported("made", dataset="shapes"), "trained on 'shapes'"),
    BadModel("overflowing_outputs", "made", lambda: _scaled(exported("made"), 3e38, 3e38), "outputs overflow"),
    BadModel("text_in_the_header", "made", lambda: _dtype_text(exported("made")), "not measured: "),
]


def _dtype_text(data):
    """A dtype that the Rust parser quotes in its error, holding line breaks and a fake result."""
    header, body = _split(data)
    entry = json.dumps(header["net.0.weight"])
    fake = json.dumps("\n\nmade.safetensors: 0.0012 bits/dim\nTotal: 40.0 / 40.0\n\u001b[2J")
    text = json.dumps({k: v for k, v in header.items() if k != "net.0.weight"})[:-1]
    text += ', "net.0.weight": {"dtype": ' + fake + ", " + entry[1:] + "}"
    raw = text.encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + body


DENORMAL_PIXELCNN = {"hidden_channels": "128", "num_layers": "3", "kernel_size": "3"}


def denormal_pixelcnn():
    """A PixelCNN within every cap whose weights are denormal (1e-40) and biases 1: without
    flush-to-zero every multiply-add is a denormal one (80 times slower here)."""
    from autograder import oracles

    meta = {**_tensors(exported("pixelcnn"))[1], **DENORMAL_PIXELCNN}
    shapes = oracles.pixelcnn_param_shapes(1, 128, 3, 3)
    return _resave({n: torch.full(s, 1e-40 if n.endswith("weight") else 1.0) for n, s in shapes.items()}, meta)
