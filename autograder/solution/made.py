"""MADE: Masked Autoencoder for Distribution Estimation (Germain et al., 2015) — 10 points.

Notation. ``D = input_dim``. ``order`` is a permutation of ``range(D)``: ``order[i]`` is the
input dimension generated ``i``-th. Degrees are 1-based:

* input/output degrees ``m0[order[i]] = i + 1`` (output ``d`` models ``x_d`` given every
  input whose degree is smaller than ``m0[d]``);
* hidden layer ``l``, unit ``k``: ``m_l[k] = 1 + (k mod (D - 1))`` (degrees ``1 … D-1``; a
  hidden unit of degree ``D`` could only feed outputs nobody may see).

Masks, one per linear layer, shaped like that layer's ``weight`` ``(out_features, in_features)``:

* hidden layer ``l``: ``M[k, j] = 1  iff  m_l[k] >= m_{l-1}[j]``;
* output layer:        ``M[d, k] = 1  iff  m0[d]  >  m_L[k]``   (strict, so no output sees
  its own input);
* no hidden layers:    ``M[d, j] = 1  iff  m0[d]  >  m0[j]``.
"""
import math

import torch
from torch import nn

__all__ = ["made_degrees", "made_masks", "MaskedLinear", "MADE"]


def _check_order(order, input_dim):
    """Return ``order`` as a LongTensor, or raise ``ValueError`` if it is not a permutation."""
    if order is None:
        return torch.arange(input_dim)
    order = torch.as_tensor(order)
    if (
        order.dim() != 1
        or order.numel() != input_dim
        or order.is_floating_point()
        or not torch.equal(torch.sort(order.long()).values, torch.arange(input_dim))
    ):
        raise ValueError(f"order must be a permutation of range({input_dim}), got {order.tolist()}")
    return order.long().cpu()


def _check_sizes(input_dim, hidden_sizes):
    if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim < 2:
        raise ValueError(f"input_dim must be an integer >= 2, got {input_dim!r}")
    hidden_sizes = list(hidden_sizes)
    for h in hidden_sizes:
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            raise ValueError(f"every hidden size must be an integer >= 1, got hidden_sizes={hidden_sizes}")
    return hidden_sizes


def made_degrees(input_dim, hidden_sizes, order=None):
    """Degrees ``[m0, m1, …, mL]`` of the input layer and each hidden layer (LongTensors).

    ``m0[order[i]] = i + 1``; hidden layer ``l``, unit ``k``: ``m_l[k] = 1 + (k mod (D - 1))``.
    Raises ``ValueError`` if ``input_dim < 2``, a hidden size is < 1, or ``order`` is not a
    permutation of ``range(input_dim)``.
    """
    # BEGIN SOLUTION: m0 is the inverse permutation of order, shifted to start at 1
    hidden_sizes = _check_sizes(input_dim, hidden_sizes)
    order = _check_order(order, input_dim)
    m0 = torch.empty(input_dim, dtype=torch.long)
    m0[order] = torch.arange(1, input_dim + 1)
    return [m0] + [1 + torch.arange(h) % (input_dim - 1) for h in hidden_sizes]
    # END SOLUTION


def made_masks(input_dim, hidden_sizes, order=None):
    """One float mask (a floating tensor of 0s and 1s, not bool) per linear layer, shaped
    ``(out_features, in_features)``.

    Hidden layer ``l``: ``M[k, j] = 1 iff m_l[k] >= m_{l-1}[j]``. Output layer:
    ``M[d, k] = 1 iff m0[d] > m_L[k]``. No hidden layers: ``M[d, j] = 1 iff m0[d] > m0[j]``.
    Raises the ``ValueError`` s of :func:`made_degrees`.
    """
    # BEGIN SOLUTION: compare degrees with broadcasting, m_out[:, None] against m_in[None, :]
    degrees = made_degrees(input_dim, hidden_sizes, order)
    masks = [(m_out[:, None] >= m_in[None, :]).float() for m_in, m_out in zip(degrees[:-1], degrees[1:])]
    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())
    return masks
    # END SOLUTION


class MaskedLinear(nn.Linear):
    r"""A linear layer whose weight is multiplied elementwise by a fixed binary mask.

    .. math:: y = x (W \odot M)^\top + b

    ``mask`` is a buffer (it follows ``.to()`` and is saved, but is not a parameter).
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def set_mask(self, mask):
        """Copy ``mask`` (shape ``(out_features, in_features)``, float or bool 0s and 1s) into
        the ``mask`` buffer, in place (so that the buffer keeps following ``.to()``).

        Raises ``ValueError`` if the shape is wrong.
        """
        # BEGIN SOLUTION: copy in place (self.mask.copy_) so the buffer keeps its device and dtype
        mask = torch.as_tensor(mask)
        if mask.shape != self.mask.shape:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}, but this layer's weight has shape "
                f"{tuple(self.mask.shape)} (out_features, in_features)"
            )
        with torch.no_grad():
            self.mask.copy_(mask)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION: mask the weight, not the output, and leave the bias alone
        return nn.functional.linear(x, self.weight * self.mask, self.bias)
        # END SOLUTION


class MADE(nn.Module):
    """MADE over ``input_dim`` binary variables: returns one Bernoulli logit per input.

    ``self.net`` is ``MaskedLinear → ReLU → … → MaskedLinear`` with masks from
    :func:`made_masks`; output ``d`` depends only on the inputs generated before ``d`` in
    ``order``. Attributes: ``input_dim``, ``hidden_sizes`` (a list) and ``order`` (a
    LongTensor, ``range(input_dim)`` by default). Outputs follow the parameters' dtype and
    device (``model.double()`` gives float64 logits), and they are the same function of ``x``
    for every batch (binary or real-valued, of any size), in train and eval mode, with or
    without autograd.
    """

    def __init__(self, input_dim, hidden_sizes=(512,), order=None):
        super().__init__()
        self.input_dim = input_dim
        self.hidden_sizes = _check_sizes(input_dim, hidden_sizes)
        self.order = _check_order(order, input_dim)
        sizes = [input_dim] + self.hidden_sizes + [input_dim]
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [MaskedLinear(fan_in, fan_out), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])
        masked = [layer for layer in self.net if isinstance(layer, MaskedLinear)]
        for layer, mask in zip(masked, made_masks(input_dim, self.hidden_sizes, self.order)):
            layer.set_mask(mask)

    def forward(self, x):
        """Logits for ``x`` of shape ``(B, D)`` or ``(B, *shape)`` with ``prod(shape) == D``;
        the result has the shape of ``x``. Raises ``ValueError`` on any other shape."""
        # BEGIN SOLUTION: flatten to (B, D), run self.net, reshape back
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.input_dim:
            raise ValueError(
                f"MADE(input_dim={self.input_dim}) expects x of shape (B, {self.input_dim}) or "
                f"(B, *shape) with prod(shape) == {self.input_dim}, got {tuple(x.shape)}"
            )
        return self.net(x.reshape(x.shape[0], self.input_dim)).reshape(x.shape)
        # END SOLUTION
