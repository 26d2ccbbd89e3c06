"""Hidden tests of likelihood.py (section 2).

Inputs are drawn here from generators seeded for this upload and sent to the worker; expected
values come from the grader-only oracles (autograder/oracles.py) and are compared here, never
sent to the worker. Results keep the input's dtype (float32 and float64).
"""
import math

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import example, given, strategies as st

from autograder import oracles
from tests.support import checks

NAME = {torch.float32: "float32", torch.float64: "float64"}


@weight(1)
@number("2.3")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll", "stability")
def test_bernoulli_nll_huge_logits(worker, ex):
    """bernoulli_nll: finite and exact for |logits| up to 1e4, in float32 and float64"""
    lik = worker.load("likelihood")
    gen = ex.generator("values")
    big = torch.tensor([[1e4, -1e4, 50.0, -50.0], [1e4, -1e4, 0.0, 20.0], [-1e4, 1e4, -20.0, 3.0]])
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]])
    for dtype in (torch.float32, torch.float64):
        logits = (big * (0.5 + torch.rand(big.shape, generator=gen))).to(dtype)
        what = f"bernoulli_nll(logits, x) with logits up to ±{float(logits.abs().max()):.4g} in {NAME[dtype]}"
        out = lik.bernoulli_nll(logits, x.to(dtype), what=what)
        checks.finite(out, what, hint="sigmoid(1e4) == 1 in float32, so log(1 - sigmoid) = -inf; work with "
                                      "log-sigmoid / softplus or F.binary_cross_entropy_with_logits.")
        checks.close(out, oracles.nll(logits, x), what, rtol=1e-5, atol=1e-3, dtype=dtype,
                     inputs={"logits": logits, "x": x})


@weight(1)
@number("2.4")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll")
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 999), double=st.booleans())
# Derandomized examples depend on this function's source; these always include logits near ±10,
# where a float32 log(1 - sigmoid) is off by more than the tolerance, a batch of one and an
# image batch (B, 1, H, W).
@example(shape=[2, 3, 4], seed=1, double=False)
@example(shape=[1, 1, 4, 4], seed=2, double=True)
def test_bernoulli_nll_any_shape(worker, ex, shape, seed, double):
    """bernoulli_nll: shape (B,), the summed NLL and the dtype for inputs of any shape"""
    lik = worker.load("likelihood")
    gen = ex.generator(seed)
    dtype = torch.float64 if double else torch.float32
    logits = torch.randn(shape, generator=gen, dtype=dtype) * 4
    x = (torch.rand(shape, generator=gen) < 0.5).to(dtype)
    # One logit far on the other side of its x, where a float32 log(1 - sigmoid) is -inf.
    logits.view(-1)[0] = (20.0 + 10.0 * float(torch.rand((), generator=gen))) * (1.0 - 2.0 * float(x.view(-1)[0]))
    what = f"bernoulli_nll(logits, x) with shape {tuple(shape)} in {NAME[dtype]}"
    out = lik.bernoulli_nll(logits, x, what=what)
    checks.close(out, oracles.nll(logits, x), what, rtol=1e-5, atol=1e-4, dtype=dtype,
                 hint="sum over every dimension but the first; the result has shape (B,) and the logits' dtype.")
    on_meta = lik.bernoulli_nll(logits.to("meta"), x.to("meta"), what=f"{what} on the 'meta' device")
    checks.tensor(on_meta, f"{what} on the 'meta' device", shape=(shape[0],), dtype=dtype, device="meta")


@weight(0.5)
@number("2.5")
@visibility("after_published")
@tags("likelihood", "bernoulli_nll", "bits_per_dim", "errors")
def test_invalid_arguments_raise_value_error(worker, ex):
    """bernoulli_nll and bits_per_dim: ValueError on invalid arguments, correct values on valid ones"""
    lik = worker.load("likelihood")
    gen = ex.generator("values")
    checks.raises_value_error(worker, "likelihood.bernoulli_nll", torch.zeros(4, 6), torch.zeros(4, 1),
                              what="bernoulli_nll(logits of shape (4, 6), x of shape (4, 1))",
                              rule="the shapes differ (broadcasting would silently give a wrong NLL)")
    checks.raises_value_error(worker, "likelihood.bernoulli_nll", torch.zeros(3, 2), torch.zeros(2, 3),
                              what="bernoulli_nll(logits of shape (3, 2), x of shape (2, 3))",
                              rule="the shapes differ")
    checks.raises_value_error(worker, "likelihood.bernoulli_nll", torch.tensor(0.5), torch.tensor(1.0),
                              what="bernoulli_nll(logits, x) with 0-d tensors", rule="there is no batch dimension")
    checks.raises_value_error(worker, "likelihood.bits_per_dim", torch.tensor([10.0]), 0,
                              what="bits_per_dim(tensor([10.]), 0)", rule="num_dims must be at least 1")
    # The same functions on valid arguments: validating alone is not the job.
    logits = torch.randn(3, 5, generator=gen) * 3
    x = (torch.rand(3, 5, generator=gen) < 0.5).float()
    what = "bernoulli_nll(logits, x) with shape (3, 5)"
    checks.close(lik.bernoulli_nll(logits, x, what=what), oracles.nll(logits, x), what, rtol=1e-5, atol=1e-4,
                 dtype=torch.float32)
    nll = round(float(torch.rand((), generator=gen)) * 900 + 50, 3)
    num_dims = int(torch.randint(2, 2000, (1,), generator=gen))
    num_dims += num_dims == 784  # the size of an MNIST image must not be the one a hard-coded constant passes
    what = f"bits_per_dim({nll}, {num_dims}) (a Python float)"
    got = checks.number(lik.bits_per_dim(nll, num_dims, what=what), what)
    if not math.isclose(got, oracles.bits_per_dim(nll, num_dims), rel_tol=1e-9):
        checks.fail(f"{what} returned {got!r}, expected {oracles.bits_per_dim(nll, num_dims)!r}.")
    nll64 = torch.rand(3, generator=gen, dtype=torch.float64) * 500
    what = f"bits_per_dim(nll, {num_dims}) with a float64 tensor nll"
    checks.close(lik.bits_per_dim(nll64, num_dims, what=what), oracles.bits_per_dim(nll64, num_dims), what,
                 rtol=1e-12, dtype=torch.float64)
