"""Hidden tests of likelihood.py (section 2).

Inputs are built here and sent to the worker; expected values come from the grader-only
oracles (autograder/oracles.py) and are compared here, never sent to the worker.
"""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import HealthCheck, example, given, settings, strategies as st

from autograder import oracles
from tests.support import checks

# One worker serves every example of a hypothesis test (the fixture is function-scoped).
SHARED_WORKER = settings(suppress_health_check=[*settings.default.suppress_health_check,
                                                HealthCheck.function_scoped_fixture])


@weight(1)
@number("2.3")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll", "stability")
def test_bernoulli_nll_huge_logits(worker):
    """bernoulli_nll: finite and exact for |logits| up to 1e4"""
    lik = worker.load("likelihood")
    logits = torch.tensor([[1e4, -1e4, 50.0, -50.0], [1e4, -1e4, 0.0, 20.0]])
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    what = "bernoulli_nll(logits, x) with logits ±1e4"
    out = lik.bernoulli_nll(logits, x, what=what)
    checks.finite(out, what, hint="sigmoid(1e4) == 1 in float32, so log(1 - sigmoid) = -inf; work with "
                                  "log-sigmoid / softplus or F.binary_cross_entropy_with_logits.")
    checks.close(out, oracles.nll(logits.double(), x), what, rtol=1e-5, atol=1e-3)


@weight(1)
@number("2.4")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll")
@SHARED_WORKER
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 999))
# Derandomized examples depend on this function's source; this one always has logits near ±10,
# where a float32 log(1 - sigmoid) is off by more than the tolerance.
@example(shape=[2, 3, 4], seed=1)
def test_bernoulli_nll_any_shape(worker, shape, seed):
    """bernoulli_nll: shape (B,) and the summed NLL for inputs of any shape"""
    lik = worker.load("likelihood")
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=gen) * 4
    x = (torch.rand(shape, generator=gen) < 0.5).float()
    what = f"bernoulli_nll(logits, x) with shape {tuple(shape)}"
    out = lik.bernoulli_nll(logits, x, what=what)
    checks.close(out, oracles.nll(logits.double(), x), what, rtol=1e-5, atol=1e-4,
                 hint="sum over every dimension but the first; the result has shape (B,).")


@weight(0.5)
@number("2.5")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll", "errors")
def test_bernoulli_nll_rejects_mismatched_shapes(worker):
    """bernoulli_nll: ValueError when logits and x have different shapes"""
    worker.load("likelihood")
    checks.raises_value_error(worker, "likelihood.bernoulli_nll", torch.zeros(4, 6), torch.zeros(4, 1),
                              what="bernoulli_nll(logits of shape (4, 6), x of shape (4, 1))",
                              rule="the shapes differ (broadcasting would silently give a wrong NLL)")
    checks.raises_value_error(worker, "likelihood.bernoulli_nll", torch.zeros(3, 2), torch.zeros(2, 3),
                              what="bernoulli_nll(logits of shape (3, 2), x of shape (2, 3))",
                              rule="the shapes differ")
