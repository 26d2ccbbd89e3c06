"""Measure exported models as the grader will: ``python -m submission.evaluate [FILES]`` (``make evaluate``).

Each ``made.safetensors`` / ``pixelcnn.safetensors`` the trainer wrote (default: those of
``runs/made-mnist`` and ``runs/pixelcnn-mnist``) is loaded into your MADE / PixelCNN and its
test NLL measured on MNIST's test split with your ``bernoulli_nll`` and ``bits_per_dim``: the
figures the test "Your trained models" reports on Gradescope, where the grader's own reference
models measure the same weights on 1000 of these test digits (so expect the same figures to
about ±0.005 bits/dim). Provided, not graded.
"""
import argparse
import json
import math
import sys
from pathlib import Path

import torch

from .data import load_datasets
from .likelihood import bernoulli_nll, bits_per_dim
from .made import MADE
from .pixelcnn import PixelCNN

DEFAULT_FILES = ("runs/made-mnist/made.safetensors", "runs/pixelcnn-mnist/pixelcnn.safetensors")


def load_model(path):
    """The model in ``path`` (its hyperparameters from the file's metadata, masks as your code builds them)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta, state = f.metadata() or {}, {name: f.get_tensor(name) for name in f.keys()}
    if meta.get("model") == "made":
        model = MADE(int(meta["input_dim"]), json.loads(meta["hidden_sizes"]), order=json.loads(meta["order"]))
    elif meta.get("model") == "pixelcnn":
        model = PixelCNN(int(meta["in_channels"]), int(meta["hidden_channels"]), int(meta["num_layers"]),
                         int(meta["kernel_size"]))
    else:
        raise ValueError(f"{path}: not written by the provided trainer (no model in its metadata)")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not name.endswith("mask") for name in missing):
        raise ValueError(f"{path}: its tensors do not fit the model it declares ({(missing + unexpected)[:3]})")
    return model.eval(), meta


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m submission.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="exported models (default: the MNIST runs' files that exist)")
    parser.add_argument("--data-dir", default="data", help="where MNIST's IDX files are (default: data)")
    args = parser.parse_args(argv)
    files = args.files or [f for f in DEFAULT_FILES if Path(f).is_file()]
    if not files:
        print("no exported model: train one on MNIST first (python -m submission.train made --dataset mnist)")
        return 1
    _, test = load_datasets("mnist", args.data_dir)
    for path in files:
        model, meta = load_model(path)
        with torch.no_grad():
            nll = torch.cat([bernoulli_nll(model(x), x) for x in test.split(256)]).mean()
        print(f"{path}: {float(bits_per_dim(nll, math.prod(test.shape[1:]))):.4f} bits/dim, {float(nll):.2f} nats "
              f"per image on {len(test)} MNIST test digits ({meta.get('model')} after epoch {meta.get('epoch', '?')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
