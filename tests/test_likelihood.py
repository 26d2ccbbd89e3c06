"""Public tests of likelihood.py (section 2). Locally the examples are recorded from the
reference solution (tests/fixtures/examples.wire); on the grader they are drawn fresh for your
upload, with the same checks and messages."""
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks


@weight(1)
@number("2.1")
@visibility("visible")
@tags("likelihood", "bernoulli_nll")
def test_bernoulli_nll_sums_over_dimensions(worker, ex):
    """bernoulli_nll: per-example NLL summed over all non-batch dimensions, shape (B,)"""
    lik = worker.load("likelihood")
    e = ex.get("bernoulli_nll")
    logits, x = e["logits"], e["x"]
    what = f"bernoulli_nll(logits, x) with shape {tuple(x.shape)}"
    out = lik.bernoulli_nll(logits, x, what=what)
    checks.close(out, e["out"], what, rtol=1e-5, atol=1e-4, inputs={"logits": logits, "x": x},
                 hint="-log p(x) = sum over every non-batch entry of BCE(logit, x); sum, do not average.")


@weight(0.5)
@number("2.2")
@visibility("visible")
@tags("likelihood", "bits_per_dim")
def test_bits_per_dim_formula(worker, ex):
    """bits_per_dim: nll / (num_dims * ln 2)"""
    lik = worker.load("likelihood")
    e = ex.get("bits_per_dim")
    what = f"bits_per_dim(tensor({[round(v, 2) for v in e['nll'].tolist()]}), {e['num_dims']})"
    out = lik.bits_per_dim(e["nll"], e["num_dims"], what=what)
    checks.close(out, e["out"], what, hint="divide by num_dims and by ln 2 (nats to bits), not by log2.")
