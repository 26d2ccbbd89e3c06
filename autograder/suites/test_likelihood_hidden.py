"""Hidden tests of likelihood.py (section 2)."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, strategies as st

from tests.support import checks, oracles, student


@weight(1)
@number("2.3")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll", "stability")
def test_bernoulli_nll_huge_logits():
    """bernoulli_nll: finite and exact for |logits| up to 1e4"""
    lik = student.load("likelihood")
    logits = torch.tensor([[1e4, -1e4, 50.0, -50.0], [1e4, -1e4, 0.0, 20.0]])
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    what = "bernoulli_nll(logits, x) with logits ±1e4"
    out = student.call(lik.bernoulli_nll, logits, x, what=what)
    checks.finite(out, what, hint="sigmoid(1e4) == 1 in float32, so log(1 - sigmoid) = -inf; work with "
                                  "log-sigmoid / softplus or F.binary_cross_entropy_with_logits.")
    checks.close(out, oracles.nll(logits.double(), x), what, rtol=1e-5, atol=1e-3)


@weight(1)
@number("2.4")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll")
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 999))
def test_bernoulli_nll_any_shape(shape, seed):
    """bernoulli_nll: shape (B,) and the summed NLL for inputs of any shape"""
    lik = student.load("likelihood")
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=gen) * 4
    x = (torch.rand(shape, generator=gen) < 0.5).float()
    what = f"bernoulli_nll(logits, x) with shape {tuple(shape)}"
    out = student.call(lik.bernoulli_nll, logits, x, what=what)
    checks.close(out, oracles.nll(logits.double(), x), what, rtol=1e-5, atol=1e-4,
                 hint="sum over every dimension but the first; the result has shape (B,).")


@weight(0.5)
@number("2.5")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll", "errors")
def test_bernoulli_nll_rejects_mismatched_shapes():
    """bernoulli_nll: ValueError when logits and x have different shapes"""
    lik = student.load("likelihood")
    checks.raises_value_error(lik.bernoulli_nll, torch.zeros(4, 6), torch.zeros(4, 1),
                              what="bernoulli_nll(logits of shape (4, 6), x of shape (4, 1))",
                              rule="the shapes differ (broadcasting would silently give a wrong NLL)")
    checks.raises_value_error(lik.bernoulli_nll, torch.zeros(3, 2), torch.zeros(2, 3),
                              what="bernoulli_nll(logits of shape (3, 2), x of shape (2, 3))",
                              rule="the shapes differ")
