"""Public tests of likelihood.py (section 2). Expected values are recorded from the reference
solution (tests/fixtures/examples.wire)."""
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, fixtures

EXAMPLES = fixtures.examples()


@weight(1)
@number("2.1")
@visibility("visible")
@tags("likelihood", "bernoulli_nll")
def test_bernoulli_nll_sums_over_dimensions(worker):
    """bernoulli_nll: per-example NLL summed over all non-batch dimensions, shape (B,)"""
    lik = worker.load("likelihood")
    ex = EXAMPLES["bernoulli_nll"]
    out = lik.bernoulli_nll(ex["logits"], ex["x"], what="bernoulli_nll(logits, x) with shape (5, 1, 3, 4)")
    checks.close(out, ex["out"], "bernoulli_nll(logits, x)", rtol=1e-5, atol=1e-4,
                 hint="-log p(x) = sum over every non-batch entry of BCE(logit, x); sum, do not average.")


@weight(0.5)
@number("2.2")
@visibility("visible")
@tags("likelihood", "bits_per_dim")
def test_bits_per_dim_formula(worker):
    """bits_per_dim: nll / (num_dims * ln 2)"""
    lik = worker.load("likelihood")
    ex = EXAMPLES["bits_per_dim"]
    out = lik.bits_per_dim(ex["nll"], ex["num_dims"], what="bits_per_dim(tensor([100., 543.21]), 784)")
    checks.close(out, ex["out"], "bits_per_dim(nll, 784)",
                 hint="divide by num_dims and by ln 2 (nats to bits), not by log2.")
