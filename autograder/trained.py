"""Uploaded trained models, measured by the grader: grader-only, run in the grading session.

A student may upload ``made.safetensors`` and ``pixelcnn.safetensors`` (written by the
provided trainer) with the six graded files. Their weights are read as data, never as code:
safetensors is a JSON header and raw little-endian tensors (no pickle), and the header is
checked here before the library reads a byte of the tensors. The weights go into the
*reference* model of :mod:`autograder.oracles` (masks built there, never read from the file)
and are measured on binarized MNIST test digits (``data/``: 1000 that the trainer never trains
on, though students have MNIST's test set) that ship with the grader only. Nothing of this
runs student code.

Every way a file can be wrong (not safetensors, a header that lies about the file, oversized,
wrong dtype, NaN or inf, missing or extra tensors, shapes that do not match the declared
hyperparameters, hyperparameters beyond the caps) raises :class:`ModelError` with one line.
"""
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import oracles

MODEL_FILES = {"made": "made.safetensors", "pixelcnn": "pixelcnn.safetensors"}
FORMAT = "ps1-model-1"
MAX_FILE_BYTES = 16 * 2**20          # the trainer's defaults write 3.2 MB
MAX_HEADER_BYTES = 64 * 1024
IMAGE_SHAPE = (1, 28, 28)
NUM_DIMS = 784
# What a model may declare: its evaluation must fit the grading's budget (SPEC §6).
MAX_HIDDEN = 4096
MAX_HIDDEN_LAYERS = 4
MAX_CHANNELS = 128
MAX_LAYERS = 12
MAX_KERNEL = 11
MAX_PARAMETERS = 4_000_000
NUM_DIGITS = 1000
# Every model of a kind is measured on the same digits: the first DIGITS[kind] of the file.
DIGITS = {"made": 1000, "pixelcnn": 100}
MAX_MACS = 1e11                      # multiply-adds (and activations) of one evaluation: ~2.5 s of one core
MAX_CPU_S = 12.0                     # the measurement stops there whatever the weights do
DATA = Path(__file__).resolve().parent / "data" / "mnist-heldout-1000.bits"
# For scale, in the feedback: the reference solution's models (README, "Training results":
# MNIST 8k/2k on one CPU thread; bits/dim on its 2k test digits).
REFERENCE = {"made": "0.1727 bits/dim (--hidden 1024, 40 epochs)",
             "pixelcnn": "0.1372 bits/dim (--channels 32 --layers 5 --kernel 5, 12 epochs)"}


class ModelError(ValueError):
    """Why an uploaded model cannot be measured, in one line (for the student)."""


@dataclass
class Model:
    kind: str          # "made" or "pixelcnn"
    config: dict       # the reference model's constructor arguments
    params: dict       # name -> float32 tensor, the reference's names and shapes
    dataset: str       # what the trainer says it trained on


def heldout_digits(count=NUM_DIGITS):
    """The first ``count`` held-out digits, ``(count, 1, 28, 28)`` float32 of 0 and 1.

    Made from MNIST's t10k files with::

        digits = data.mnist_dataset(mnist_dir, train=False)
        perm = torch.randperm(10000, generator=torch.Generator().manual_seed(0))
        bits = numpy.packbits(digits[perm[8000:9000]].reshape(1000, 784).numpy().astype("uint8"), axis=1)
    """
    import numpy as np

    packed = np.frombuffer(DATA.read_bytes(), dtype=np.uint8).reshape(NUM_DIGITS, NUM_DIMS // 8)
    bits = np.unpackbits(packed[:count], axis=1)
    return torch.from_numpy(bits.astype(np.float32)).reshape(count, *IMAGE_SHAPE)


# --- reading ---------------------------------------------------------------------------------------

def _header(data):
    if len(data) < 8:
        raise ModelError(f"not a safetensors file ({len(data)} bytes)")
    size = int.from_bytes(data[:8], "little")
    if size > MAX_HEADER_BYTES or size > len(data) - 8:
        raise ModelError("not a safetensors file (its first 8 bytes do not give a header length that fits "
                         "the file: a pickle, e.g. a renamed checkpoint.pt?)")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise ModelError("not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelError("not a safetensors file (its header is not a JSON object)")
    body = len(data) - 8 - size
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= body):
            raise ModelError(f"damaged: tensor {name[:40]!r} claims bytes beyond the end of the file")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelError("damaged: its metadata is not a table of strings")
    return header, metadata


def _integer(metadata, key, low, high):
    try:
        value = int(metadata[key])
    except KeyError:
        raise ModelError(f"its metadata lacks {key!r} (write it with the provided trainer)") from None
    except ValueError:
        raise ModelError(f"its metadata's {key!r} is not an integer: {metadata[key][:40]!r}") from None
    if not low <= value <= high:
        raise ModelError(f"{key} = {value} is outside what the grader measures ({low} to {high})")
    return value


def _json_list(metadata, key):
    try:
        value = json.loads(metadata[key])
    except KeyError:
        raise ModelError(f"its metadata lacks {key!r} (write it with the provided trainer)") from None
    except (ValueError, RecursionError):
        raise ModelError(f"its metadata's {key!r} is not a JSON list") from None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ModelError(f"its metadata's {key!r} is not a list of integers")
    return value


def _config(kind, metadata):
    if kind == "made":
        _integer(metadata, "input_dim", NUM_DIMS, NUM_DIMS)
        hidden = _json_list(metadata, "hidden_sizes")
        if not 1 <= len(hidden) <= MAX_HIDDEN_LAYERS or not all(1 <= h <= MAX_HIDDEN for h in hidden):
            raise ModelError(f"hidden_sizes {str(hidden[:8])[:60]} is outside what the grader measures (1 to "
                             f"{MAX_HIDDEN_LAYERS} layers of 1 to {MAX_HIDDEN} units)")
        order = _json_list(metadata, "order")
        if sorted(order) != list(range(NUM_DIMS)):
            raise ModelError("its order is not a permutation of the 784 pixels")
        return {"input_dim": NUM_DIMS, "hidden_sizes": hidden, "order": order}
    config = {"in_channels": _integer(metadata, "in_channels", 1, 1),
              "hidden_channels": _integer(metadata, "hidden_channels", 1, MAX_CHANNELS),
              "num_layers": _integer(metadata, "num_layers", 0, MAX_LAYERS),
              "kernel_size": _integer(metadata, "kernel_size", 1, MAX_KERNEL)}
    if config["kernel_size"] % 2 == 0:
        raise ModelError(f"kernel_size = {config['kernel_size']} is even (PixelCNN's masks need an odd kernel)")
    return config


def _shapes(kind, config):
    if kind == "made":
        return oracles.made_param_shapes(config["input_dim"], config["hidden_sizes"])
    return oracles.pixelcnn_param_shapes(config["in_channels"], config["hidden_channels"], config["num_layers"],
                                         config["kernel_size"])


def macs_per_image(kind, config):
    """The work of one forward pass on one 28x28 image: multiply-adds, plus the activations each
    layer writes (which dominate for 1x1 kernels)."""
    shapes = _shapes(kind, config)
    weights = sum(math.prod(s) for n, s in shapes.items() if n.endswith("weight"))
    outputs = sum(s[0] for n, s in shapes.items() if n.endswith("bias"))
    return weights + outputs if kind == "made" else (weights + 8 * outputs) * NUM_DIMS


def digits_for(kind, config):
    """How many digits a model of ``kind`` is measured on (the same for every model of a kind)."""
    return DIGITS[kind]


def read(data, kind):
    """The :class:`Model` in ``data`` (the bytes of an uploaded ``<kind>.safetensors``)."""
    if len(data) > MAX_FILE_BYTES:
        raise ModelError(f"{len(data) / 2**20:.1f} MB, more than the {MAX_FILE_BYTES // 2**20} MB the grader reads")
    header, metadata = _header(data)
    declared = metadata.get("model")
    if metadata.get("format") != FORMAT or declared not in MODEL_FILES:
        raise ModelError("not written by the provided trainer (its metadata lacks format "
                         f"{FORMAT!r} and the model's name)")
    if declared != kind:
        raise ModelError(f"it holds a {declared} model, not a {kind}: upload it as {MODEL_FILES[declared]}")
    config = _config(kind, metadata)
    shapes = _shapes(kind, config)
    if sum(math.prod(s) for s in shapes.values()) > MAX_PARAMETERS:
        raise ModelError(f"more than {MAX_PARAMETERS:,} parameters: larger than the grader measures")
    if macs_per_image(kind, config) * DIGITS[kind] > MAX_MACS:
        raise ModelError(f"too costly to measure within the grading's time ({macs_per_image(kind, config) / 1e9:.1f} "
                         f"G multiply-adds per image; at most {MAX_MACS / DIGITS[kind] / 1e9:.1f})")
    names = {n for n in header if n != "__metadata__"}
    missing, extra = sorted(set(shapes) - names), sorted(names - set(shapes))
    if missing:
        raise ModelError(f"missing tensor{'s' if len(missing) > 1 else ''} {', '.join(missing[:4])} for the "
                         "hyperparameters in its metadata")
    if extra:
        raise ModelError(f"tensor{'s' if len(extra) > 1 else ''} {', '.join(repr(n[:40]) for n in extra[:4])} that the model does not "
                         "have (masks are not uploaded: the grader builds them)")
    for name, shape in shapes.items():
        entry = header[name]
        if entry.get("dtype") != "F32":
            raise ModelError(f"tensor {name} is {str(entry.get('dtype'))[:12]}, not float32 (F32)")
        if entry.get("shape") != list(shape):
            raise ModelError(f"tensor {name} has shape {str(entry.get('shape'))[:60]}, not {list(shape)} as the "
                             "metadata's hyperparameters say")
        start, end = entry["data_offsets"]
        if end - start != 4 * math.prod(shape):
            raise ModelError(f"damaged: tensor {name} holds {end - start} bytes for {math.prod(shape)} floats")
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        params = load(bytes(data))
    except SafetensorError as exc:
        raise ModelError(f"damaged: {str(exc)[:200]}") from None
    for name, tensor in params.items():
        if not torch.isfinite(tensor).all():
            raise ModelError(f"tensor {name} holds NaN or infinite values")
    return Model(kind, config, params, metadata.get("dataset", "?"))


# --- measuring -------------------------------------------------------------------------------------

def logits(model, x):
    """The reference model's logits for ``x`` (float32, masks from :mod:`autograder.oracles`)."""
    if model.kind == "made":
        c = model.config
        h = x.reshape(x.shape[0], -1)
        masks = oracles.made_masks(c["input_dim"], c["hidden_sizes"], c["order"])
        for i, mask in enumerate(masks):
            h = F.linear(h, model.params[f"net.{2 * i}.weight"] * mask, model.params[f"net.{2 * i}.bias"])
            if i < len(masks) - 1:
                h = h.clamp_min(0.0)
        return h.reshape(x.shape)
    c = model.config
    layers = oracles.pixelcnn_layers(c["in_channels"], c["hidden_channels"], c["num_layers"], c["kernel_size"])
    h = x
    for n, (i, mask_type, _, _, k) in enumerate(layers):
        weight = model.params[f"net.{i}.weight"] * oracles.causal_mask(k, mask_type)
        h = F.conv2d(h, weight, model.params[f"net.{i}.bias"], padding=k // 2)
        if n < len(layers) - 1:
            h = h.clamp_min(0.0)
    return h


def measure(model, digits=None, batch=10):
    """``{"nll", "bits_per_dim", "digits"}``: mean NLL in nats per image over the first
    ``DIGITS[kind]`` digits, and bits per dimension.

    Denormal floats are flushed to zero meanwhile, on one thread: weights of 1e-40 made every
    multiply-add a denormal one and the measurement 80 times slower (2.5 minutes of the
    session's time). CPU time is checked after every batch all the same (at most ``MAX_CPU_S``)."""
    count = digits_for(model.kind, model.config)
    x = heldout_digits(count) if digits is None else digits[:count]
    total, started = 0.0, time.process_time()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # flush-to-zero is a setting of the calling thread: no other may compute
    flushing = torch.set_flush_denormal(True)
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch):
                xb = x[start:start + batch]
                out = logits(model, xb)
                total += (F.softplus(out) - xb * out).double().reshape(len(xb), -1).sum(1).sum().item()
                if time.process_time() - started > MAX_CPU_S:
                    raise ModelError(f"measuring it took more than {MAX_CPU_S:g} s of CPU time; stopped")
    finally:
        if flushing:
            torch.set_flush_denormal(False)
        torch.set_num_threads(threads)
    nll = total / len(x)
    if not math.isfinite(nll):
        raise ModelError("its outputs overflow (infinite or NaN logits for some digits): weights too large")
    return {"nll": nll, "bits_per_dim": nll / (NUM_DIMS * math.log(2)), "digits": len(x)}


def _read_capped(path, limit):
    """The bytes of ``path`` without following a link, at most ``limit`` + 1 of them."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _one_line(text):
    """A message that quotes the file (the safetensors library's errors do too) as one short
    line: no line breaks or control characters can pose as another line of the feedback."""
    from .harness.results import clean_text

    return clean_text(text, 300, keep_newlines=False)


def report(folder):
    """Feedback on the models uploaded into ``folder``: ``(ok, text, leaderboard)``. ``ok`` is
    False when a file was uploaded but cannot be measured; no model at all is a short note."""
    lines, board, ok = [], [], True
    folder = Path(folder) if folder else None
    for kind, name in MODEL_FILES.items():
        path = folder / name if folder else None
        problem = folder / f"{name}.problem" if folder else None
        if problem is not None and problem.is_file():  # staging could not take it (too large, damaged zip member)
            ok = False
            lines.append(f"{name}: not measured: {_one_line(_read_capped(problem, 400).decode(errors='replace'))}.")
            continue
        if path is None or not path.is_file():
            lines.append(f"{name}: not uploaded (the trainer writes it next to checkpoint.pt; upload it with the "
                         "six graded files to see its test bits/dim here and on the leaderboard)")
            continue
        try:
            model = read(_read_capped(path, MAX_FILE_BYTES), kind)
            if model.dataset != "mnist":
                raise ModelError(f"trained on {model.dataset[:40]!r}: the grader measures MNIST models "
                                 "(train with --dataset mnist)")
            result = measure(model)
        except ModelError as exc:
            ok = False
            lines.append(f"{name}: not measured: {_one_line(str(exc))}.")
            continue
        lines.append(f"{name}: {result['bits_per_dim']:.4f} bits/dim, {result['nll']:.2f} nats per image on "
                     f"{result['digits']} MNIST test digits (the reference solution's {kind}: {REFERENCE[kind]})")
        board.append({"name": f"{'MADE' if kind == 'made' else 'PixelCNN'} bits/dim",
                      "value": round(result["bits_per_dim"], 5), "order": "asc"})
    return ok, "\n".join(lines), board
