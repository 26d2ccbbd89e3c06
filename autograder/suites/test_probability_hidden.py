"""Hidden tests of probability.py (section 1).

Inputs are built here and sent to the worker; expected values come from the grader-only
oracles (autograder/oracles.py) and are compared here, never sent to the worker.
"""
import math

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import HealthCheck, example, given, settings, strategies as st

from autograder import oracles
from tests.support import checks

# One worker serves every example of a hypothesis test (the fixture is function-scoped).
SHARED_WORKER = settings(suppress_health_check=[*settings.default.suppress_health_check,
                                                HealthCheck.function_scoped_fixture])


@weight(1)
@number("1.4")
@visibility("after_published")
@tags("probability", "kl_divergence", "edge cases")
def test_kl_zero_probability_conventions(worker):
    """kl_divergence: 0 log 0 = 0 (also where q = 0), and p > 0 with q = 0 gives +inf"""
    prob = worker.load("probability")
    p = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    q = torch.tensor([[0.25, 0.75, 0.0], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    what = f"kl_divergence(p, q) with p = {p.tolist()} and q = {q.tolist()}"
    out = prob.kl_divergence(p, q, what=what)
    expected = torch.tensor([0.5 * math.log(2) + 0.5 * math.log(2 / 3), math.log(2), math.inf])
    checks.close(out, expected, what,
                 hint="a term with p = 0 contributes 0 even where q = 0 (0 * log 0 must not become NaN); a term "
                      "with p > 0 and q = 0 makes the KL +inf.")


@weight(0.5)
@number("1.5")
@visibility("after_published")
@tags("probability", "kl_divergence", "gradients")
def test_kl_gradient_finite_where_p_is_zero(worker):
    """kl_divergence: gradient with respect to q is finite where p = 0"""
    worker.load("probability")
    p = torch.tensor([0.0, 0.3, 0.7, 0.0])
    q = torch.tensor([0.1, 0.2, 0.3, 0.4])
    what = "kl_divergence(p, q) with p = [0, 0.3, 0.7, 0] (gradient with respect to q)"
    # The worker calls kl_divergence(p, q) with q requiring grad and differentiates the result.
    answer = worker.grad("probability.kl_divergence", p, q, what=what, wrt_args=[1])
    checks.tensor(answer["out"], what, shape=())
    grads = answer["grads"]
    if not grads or grads[0] is None:
        checks.fail(f"backward of {what}: the result does not depend on q through autograd (no gradient reaches "
                    "q). Compute the KL with torch operations on q, without .detach(), .item() or numpy.")
    grad = grads[0]
    checks.finite(grad, f"d {what} / dq",
                  hint="torch.where(p > 0, p * log(p), 0) still differentiates p * log(p) at p = 0 and gets "
                       "0 * inf = NaN; substitute safe values (e.g. p := 1 where p == 0) before taking logs.")
    checks.close(grad, -p.double() / q.double(), f"d {what} / dq")


@weight(0.5)
@number("1.6")
@visibility("after_published")
@tags("probability", "kl_divergence", "broadcasting")
@SHARED_WORKER
@given(batch=st.integers(1, 3), k=st.integers(2, 6), dim=st.sampled_from([0, 1, -1]), seed=st.integers(0, 99))
@example(batch=2, k=3, dim=1, seed=0)  # a dim other than the last, whatever examples are drawn
def test_kl_broadcasts_and_respects_dim(worker, batch, k, dim, seed):
    """kl_divergence: broadcasts p against q and sums along dim, which is removed"""
    prob = worker.load("probability")
    gen = torch.Generator().manual_seed(seed)
    shape = [batch, k, 3]
    norm = dim % 3
    p = torch.softmax(torch.randn(shape, generator=gen), dim=norm)
    q_shape = list(shape)
    q_shape[0] = 1  # broadcast along the batch axis
    q = torch.softmax(torch.randn(q_shape, generator=gen), dim=norm)
    what = f"kl_divergence(p, q, dim={dim}) with p of shape {tuple(shape)}, q of shape {tuple(q_shape)}"
    out = prob.kl_divergence(p, q, dim=dim, what=what)
    checks.close(out, oracles.kl(p, q, dim), what, rtol=1e-4, atol=1e-5,
                 hint="sum along `dim` (not always the last axis) after broadcasting p and q.")


@weight(0.5)
@number("1.7")
@visibility("after_published")
@tags("probability", "kl_divergence_logits", "stability")
def test_kl_logits_stable_for_huge_logits(worker):
    """kl_divergence_logits: finite and accurate for logits up to ±1e4 in float32"""
    prob = worker.load("probability")
    lp = torch.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3], [3.0, -2.0, 0.5]])
    lq = torch.tensor([[0.0, 1e4, -1e4], [-1e4, 1e4 - 2.0, 5e3], [1e4, -1e4, 0.0]])
    expected = oracles.kl_logits(lp, lq)
    what = "kl_divergence_logits(lp, lq) with logits up to ±1e4 (float32)"
    out = prob.kl_divergence_logits(lp, lq, what=what)
    checks.finite(out, what, hint="softmax then log underflows to log(0) = -inf; use log_softmax.")
    checks.close(out, expected, what, rtol=1e-4, atol=1e-3,
                 hint="compute p = exp(log_softmax(lp)) and sum p * (log_softmax(lp) - log_softmax(lq)).")


@weight(0.5)
@number("1.8")
@visibility("after_published")
@tags("probability", "gaussian_kl", "broadcasting")
@SHARED_WORKER
@given(seed=st.integers(0, 999), shape_p=st.sampled_from([(3, 1), (1, 4), (3, 4)]))
def test_gaussian_kl_broadcasts_and_vanishes_at_equality(worker, seed, shape_p):
    """gaussian_kl: broadcasts its four arguments; zero when the Gaussians are equal"""
    prob = worker.load("probability")
    gen = torch.Generator().manual_seed(seed)
    mu_p, lv_p = torch.randn(shape_p, generator=gen), torch.randn(shape_p, generator=gen)
    mu_q, lv_q = torch.randn(3, 4, generator=gen), torch.randn(4, generator=gen)
    expected = oracles.gaussian_kl(mu_p, lv_p, mu_q, lv_q)
    what = f"gaussian_kl(mu_p, logvar_p, mu_q, logvar_q) with shapes {shape_p}, {shape_p}, (3, 4), (4,)"
    out = prob.gaussian_kl(mu_p, lv_p, mu_q, lv_q, what=what)
    checks.close(out, expected, what, rtol=1e-4, atol=1e-5,
                 hint="KL(p || q), not KL(q || p): the variance ratio is exp(logvar_p - logvar_q).")
    same = prob.gaussian_kl(mu_q, lv_q, mu_q, lv_q, what="gaussian_kl(mu, logvar, mu, logvar)")
    checks.close(same, torch.zeros(3, 4), "gaussian_kl(mu, logvar, mu, logvar)", atol=1e-5)
