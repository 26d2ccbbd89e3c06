"""Likelihood: Bernoulli negative log-likelihood and bits per dimension (4 points).

Results keep the floating dtype and the device of the inputs (float64 in, float64 out).
"""
import math

import torch
import torch.nn.functional as F

__all__ = ["bernoulli_nll", "bits_per_dim"]


def bernoulli_nll(logits, x):
    r"""Per-example negative log-likelihood (nats) of binary ``x`` under Bernoulli logits.

    Each entry is an independent Bernoulli with :math:`p = \sigma(\text{logit})`:

    .. math:: -\log p(x) = -\sum_d \big[x_d \log \sigma(l_d) + (1 - x_d) \log(1 - \sigma(l_d))\big]

    summed over every dimension but the first (the batch), so the result has shape ``(B,)``.
    Use a log-space formulation (:math:`\log\sigma(l) = -\mathrm{softplus}(-l)`) so that
    logits as large as ±1e4 give finite values.

    Raises ``ValueError`` if ``logits`` and ``x`` have different shapes or no batch dimension.
    """
    # BEGIN SOLUTION: F.binary_cross_entropy_with_logits(..., reduction="none") is stable; then sum per example
    if logits.shape != x.shape:
        raise ValueError(
            f"logits has shape {tuple(logits.shape)} but x has shape {tuple(x.shape)}; they must be equal"
        )
    if logits.dim() < 1:
        raise ValueError("logits and x need a batch dimension (got 0-d tensors)")
    nll = F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")
    return nll.reshape(nll.shape[0], -1).sum(dim=1)
    # END SOLUTION


def bits_per_dim(nll, num_dims):
    r"""Convert a negative log-likelihood in nats to bits per dimension.

    .. math:: \mathrm{bpd} = \frac{\mathrm{nll}}{\mathrm{num\_dims} \cdot \ln 2}

    ``nll`` may be a float or a tensor. Raises ``ValueError`` if ``num_dims < 1``.
    """
    # BEGIN SOLUTION: one nat is 1 / ln 2 bits
    if isinstance(num_dims, bool) or int(num_dims) != num_dims or num_dims < 1:
        raise ValueError(f"num_dims must be a positive integer, got {num_dims!r}")
    return nll / (num_dims * math.log(2))
    # END SOLUTION
