"""Public tests of likelihood.py (section 2)."""
import math

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, oracles, student


@weight(1)
@number("2.1")
@visibility("visible")
@tags("likelihood", "bernoulli_nll")
def test_bernoulli_nll_sums_over_dimensions():
    """bernoulli_nll: per-example NLL summed over all non-batch dimensions, shape (B,)"""
    lik = student.load("likelihood")
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(5, 1, 3, 4, generator=gen) * 3
    x = (torch.rand(5, 1, 3, 4, generator=gen) < 0.5).float()
    out = student.call(lik.bernoulli_nll, logits, x, what="bernoulli_nll(logits, x) with shape (5, 1, 3, 4)")
    checks.close(out, oracles.nll(logits.double(), x), "bernoulli_nll(logits, x)", rtol=1e-5, atol=1e-4,
                 hint="-log p(x) = sum over every non-batch entry of BCE(logit, x); sum, do not average.")


@weight(0.5)
@number("2.2")
@visibility("visible")
@tags("likelihood", "bits_per_dim")
def test_bits_per_dim_formula():
    """bits_per_dim: nll / (num_dims * ln 2)"""
    lik = student.load("likelihood")
    nll = torch.tensor([100.0, 543.21])
    out = student.call(lik.bits_per_dim, nll, 784, what="bits_per_dim(tensor([100., 543.21]), 784)")
    checks.close(out, nll.double() / (784 * math.log(2)), "bits_per_dim(nll, 784)",
                 hint="divide by num_dims and by ln 2 (nats to bits), not by log2.")
