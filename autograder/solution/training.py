"""Training, evaluation and checkpoints for models of binary data (4 points).

A loader yields either a batch tensor or a tuple/list whose first item is the batch (a
``TensorDataset`` or torchvision dataset with labels). The loss is the mean over the batch of
:func:`~.likelihood.bernoulli_nll` (nats per example).
"""
import math

import torch

from .likelihood import bernoulli_nll, bits_per_dim

__all__ = ["train_epoch", "evaluate", "save_checkpoint", "load_checkpoint"]


def _batch(item):
    return item[0] if isinstance(item, (tuple, list)) else item


def _device_dtype(model, device):
    param = next(model.parameters())
    return torch.device(device) if device is not None else param.device, param.dtype


def train_epoch(model, loader, optimizer, device=None):
    """One pass over ``loader`` with the model in train mode (``model.train()``): for each
    batch, loss = mean ``bernoulli_nll``, then ``zero_grad``, ``backward``, ``step``. Returns the
    example-weighted mean training NLL (nats) as a float. ``device`` defaults to the model's;
    batches are moved there. Raises ``ValueError`` if the loader yields no batch.
    """
    # BEGIN SOLUTION: weight each batch's mean loss by its size when averaging over the epoch
    device, dtype = _device_dtype(model, device)
    was_training = model.training
    model.train()
    total, count = 0.0, 0
    try:
        for item in loader:
            x = _batch(item).to(device=device, dtype=dtype)
            loss = bernoulli_nll(model(x), x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * x.shape[0]
            count += x.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("loader yielded no batches")
    return total / count
    # END SOLUTION


def evaluate(model, loader, device=None):
    """Mean NLL over every example of ``loader`` (a short last batch counts by its size), in
    eval mode and without gradients; restores the model's mode. Returns
    ``{"nll": nats per example, "bits_per_dim": nll / (D ln 2)}`` as floats, ``D`` being the
    number of values in one example. Raises ``ValueError`` if the loader yields no batch.
    """
    # BEGIN SOLUTION: sum per-example NLLs and divide by the number of examples, not the number of batches
    device, dtype = _device_dtype(model, device)
    was_training = model.training
    model.eval()
    total, count, num_dims = 0.0, 0, None
    try:
        with torch.no_grad():
            for item in loader:
                x = _batch(item).to(device=device, dtype=dtype)
                total += bernoulli_nll(model(x), x).sum().item()
                count += x.shape[0]
                num_dims = math.prod(x.shape[1:])
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("loader yielded no batches")
    nll = total / count
    return {"nll": nll, "bits_per_dim": bits_per_dim(nll, num_dims)}
    # END SOLUTION


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch=0):
    """Save the model's, optimizer's and scheduler's ``state_dict`` s and ``epoch`` to ``path``."""
    # BEGIN SOLUTION: one torch.save of a dict of state_dicts
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "epoch": int(epoch),
        },
        path,
    )
    # END SOLUTION


def load_checkpoint(path, model, optimizer=None, scheduler=None):
    """Restore what :func:`save_checkpoint` saved into ``model`` (and ``optimizer``,
    ``scheduler`` when given) and return the saved epoch. Tensors are mapped onto the model's
    device. Raises ``ValueError`` if an optimizer or scheduler is given but the checkpoint
    holds no state for it.
    """
    # BEGIN SOLUTION: torch.load(..., map_location=<model device>, weights_only=True), then load_state_dict each part
    device = next(model.parameters()).device
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if state.get(name) is None:
            raise ValueError(f"checkpoint {path} holds no {name} state, but a {name} was given")
        obj.load_state_dict(state[name])
    return int(state["epoch"])
    # END SOLUTION
