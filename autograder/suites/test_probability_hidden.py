"""Hidden tests of probability.py (section 1).

Inputs are drawn here from generators seeded for this upload (the ``ex`` fixture) and sent to
the worker; expected values come from the grader-only oracles (autograder/oracles.py) and are
compared here, never sent to the worker. Results keep the input's dtype: every test runs in
float32 and float64.
"""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import example, given, strategies as st

from autograder import oracles
from tests.support import checks

DTYPES = (torch.float32, torch.float64)
NAME = {torch.float32: "float32", torch.float64: "float64"}
DEVICE_HINT = "create every new tensor on the inputs' device (torch.zeros_like(p), not torch.zeros(p.shape))."


def on_meta(result, what, shape, dtype):
    """A call on tensors of the ``meta`` device (shapes only): the result stays there."""
    checks.tensor(result, f"{what} on the 'meta' device", shape=shape, dtype=dtype, device="meta")


def _uniform(gen, low, high):
    return low + (high - low) * float(torch.rand((), generator=gen, dtype=torch.float64))


@weight(1)
@number("1.4")
@visibility("after_published")
@tags("probability", "kl_divergence", "edge cases")
def test_kl_zero_probability_conventions(worker, ex):
    """kl_divergence: 0 log 0 = 0 (also where q = 0), p > 0 with q = 0 gives +inf (also for tiny p)"""
    prob = worker.load("probability")
    gen = ex.generator("values")
    a, b, c = (_uniform(gen, 0.1, 0.9) for _ in range(3))
    tiny = 10.0 ** -round(_uniform(gen, 20, 30))
    rows_p = [[a, 1 - a, 0.0], [0.0, 1.0, 0.0], [a, 1 - a, 0.0], [tiny, 1 - tiny, 0.0]]
    rows_q = [[b, 1 - b, 0.0], [c, 1 - c, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    for dtype in DTYPES:
        p, q = torch.tensor(rows_p, dtype=dtype), torch.tensor(rows_q, dtype=dtype)
        what = f"kl_divergence(p, q) in {NAME[dtype]} with p = {p.tolist()} and q = {q.tolist()}"
        out = prob.kl_divergence(p, q, what=what)
        checks.close(out, oracles.kl(p, q), what, dtype=dtype, rtol=1e-5, atol=1e-6,
                     hint="a term with p = 0 contributes 0 even where q = 0 (0 * log 0 must not become NaN); a term "
                          "with p > 0 and q = 0 makes the KL +inf, however small p is (rows 3 and 4).")
    p, q = torch.tensor(rows_p), torch.tensor(rows_q)
    checks.raises_value_error(worker, "probability.kl_divergence", p, q[:2, :2],
                              what="kl_divergence(p of shape (4, 3), q of shape (2, 2))", rule="the shapes do not broadcast")
    checks.raises_value_error(worker, "probability.kl_divergence", p, q, dim=2,
                              what="kl_divergence(p, q, dim=2) with p, q of shape (4, 3)", rule="dim 2 is out of range")


@weight(0.5)
@number("1.5")
@visibility("after_published")
@tags("probability", "kl_divergence", "gradients")
def test_kl_gradient_finite_where_p_is_zero(worker, ex):
    """kl_divergence: correct value, and the gradient with respect to q is finite (-p/q) where p = 0"""
    worker.load("probability")
    gen = ex.generator("values")
    k = int(torch.randint(4, 8, (1,), generator=gen))
    support = torch.rand(k, generator=gen) < 0.5
    support[0], support[-1] = True, False  # some p > 0 and some p = 0, wherever the rest fall
    p = torch.where(support, torch.rand(k, generator=gen, dtype=torch.float64) + 0.1, torch.zeros(k, dtype=torch.float64))
    p = p / p.sum()
    q = torch.softmax(torch.randn(k, generator=gen, dtype=torch.float64), 0)
    for dtype in DTYPES:
        pd, qd = p.to(dtype), q.to(dtype)
        what = f"kl_divergence(p, q) in {NAME[dtype]} with p = {[round(v, 4) for v in pd.tolist()]}"
        # The worker calls kl_divergence(p, q) with q requiring grad and differentiates the result.
        answer = worker.grad("probability.kl_divergence", pd, qd, what=what, wrt_args=[1])
        checks.close(answer["out"], oracles.kl(pd, qd), what, dtype=dtype, rtol=1e-5, atol=1e-6,
                     inputs={"p": pd, "q": qd})
        grads = answer["grads"]
        if not grads or grads[0] is None:
            checks.fail(f"backward of {what}: the result does not depend on q through autograd (no gradient "
                        "reaches q). Compute the KL with torch operations on q, without .detach(), .item() or numpy.")
        checks.finite(grads[0], f"d {what} / dq",
                      hint="torch.where(p > 0, p * log(p), 0) still differentiates p * log(p) at p = 0 and gets "
                           "0 * inf = NaN; substitute safe values (e.g. p := 1 where p == 0) before taking logs.")
        checks.close(grads[0], -pd.double() / qd.double(), f"d {what} / dq", dtype=dtype, rtol=1e-5, atol=1e-6)


@weight(0.5)
@number("1.6")
@visibility("after_published")
@tags("probability", "kl_divergence", "broadcasting")
@given(batch=st.integers(1, 3), k=st.integers(2, 6), dim=st.sampled_from([0, 1, -1, -2]), seed=st.integers(0, 99),
       double=st.booleans())
@example(batch=2, k=3, dim=1, seed=0, double=True)  # a dim other than the last, whatever examples are drawn
def test_kl_broadcasts_and_respects_dim(worker, ex, batch, k, dim, seed, double):
    """kl_divergence: broadcasts p against q, sums along dim (removed from the result), keeps the dtype"""
    prob = worker.load("probability")
    gen = ex.generator(seed)
    dtype = torch.float64 if double else torch.float32
    shape = [batch, k, 3]
    norm = dim % 3
    p = torch.softmax(torch.randn(shape, generator=gen, dtype=dtype), dim=norm)
    q_shape = list(shape)
    q_shape[0] = 1  # broadcast along the batch axis
    q = torch.softmax(torch.randn(q_shape, generator=gen, dtype=dtype), dim=norm)
    what = (f"kl_divergence(p, q, dim={dim}) with p of shape {tuple(shape)}, q of shape {tuple(q_shape)}, "
            f"{NAME[dtype]}")
    out = prob.kl_divergence(p, q, dim=dim, what=what)
    checks.close(out, oracles.kl(p, q, dim), what, rtol=1e-4, atol=1e-5, dtype=dtype,
                 hint="sum along `dim` (not always the last axis) after broadcasting p and q.")
    on_meta(prob.kl_divergence(p.to("meta"), q.to("meta"), dim=dim, what=f"{what} on 'meta'"), what,
            oracles.kl(p, q, dim).shape, dtype)


@weight(0.5)
@number("1.7")
@visibility("after_published")
@tags("probability", "kl_divergence_logits", "stability")
def test_kl_logits_stable_for_huge_logits(worker, ex):
    """kl_divergence_logits: finite and accurate for logits up to ±1e4 in float32; dim; float64"""
    prob = worker.load("probability")
    gen = ex.generator("values")
    noise = lambda: torch.rand(3, 3, generator=gen) * 2 - 1  # noqa: E731
    lp = torch.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3], [3.0, -2.0, 0.5]]) + noise()
    lq = torch.tensor([[0.0, 1e4, -1e4], [-1e4, 1e4 - 2.0, 5e3], [1e4, -1e4, 0.0]]) + noise()
    what = "kl_divergence_logits(lp, lq) with logits up to ±1e4 (float32)"
    out = prob.kl_divergence_logits(lp, lq, what=what)
    checks.finite(out, what, hint="softmax then log underflows to log(0) = -inf; use log_softmax.")
    checks.close(out, oracles.kl_logits(lp, lq), what, rtol=1e-4, atol=1e-3, dtype=torch.float32,
                 inputs={"lp": lp, "lq": lq},
                 hint="compute p = exp(log_softmax(lp)) and sum p * (log_softmax(lp) - log_softmax(lq)).")
    what = "kl_divergence_logits(lp.T, lq.T, dim=0) (the same distributions as columns)"
    out = prob.kl_divergence_logits(lp.T.contiguous(), lq.T.contiguous(), dim=0, what=what)
    checks.close(out, oracles.kl_logits(lp, lq), what, rtol=1e-4, atol=1e-3, dtype=torch.float32,
                 hint="take log_softmax and the sum along `dim`, not always along the last axis.")
    lp64, lq64 = (torch.randn(4, 5, generator=gen, dtype=torch.float64) * 30 for _ in range(2))
    what = "kl_divergence_logits(lp, lq[:1]) in float64 (lq broadcast against lp)"
    out = prob.kl_divergence_logits(lp64, lq64[:1], what=what)
    checks.close(out, oracles.kl_logits(lp64, lq64[:1]), what, rtol=1e-9, atol=1e-9, dtype=torch.float64,
                 hint="log_softmax each argument, then broadcast; results keep the inputs' dtype.")
    on_meta(prob.kl_divergence_logits(lp64.to("meta"), lq64.to("meta"), what=f"{what} on 'meta'"), what, (4,),
            torch.float64)


def _extreme_cases(gen):
    """(dtype, mu_p, logvar_p, mu_q, logvar_q) with variances whose exp over- or underflows
    although the KL itself is an ordinary number: exp(logvar_p) / exp(logvar_q) is inf or 0/0,
    exp(logvar_p - logvar_q) is fine."""
    m = _uniform(gen, -1, 1)
    return [
        (torch.float32, [m, 0.0, m], [90.0, -110.0, -80.0], [m + 1.0, 1e-18, m + 0.5], [85.0, -85.0, 70.0]),
        (torch.float64, [m, 0.0, m], [720.0, -760.0, 300.0], [m + 1.0, 1e-152, m + 2.0], [715.0, -700.0, -300.0]),
    ]


@weight(0.5)
@number("1.8")
@visibility("after_published")
@tags("probability", "gaussian_kl", "broadcasting")
@given(seed=st.integers(0, 999), shape_p=st.sampled_from([(3, 1), (1, 4), (3, 4)]), double=st.booleans())
def test_gaussian_kl_broadcasts_and_extremes(worker, ex, seed, shape_p, double):
    """gaussian_kl: broadcasts its four arguments; zero at equality; tiny and huge variances; float64"""
    prob = worker.load("probability")
    gen = ex.generator(seed)
    dtype = torch.float64 if double else torch.float32
    mu_p, lv_p = torch.randn(shape_p, generator=gen, dtype=dtype), torch.randn(shape_p, generator=gen, dtype=dtype)
    mu_q, lv_q = torch.randn(3, 4, generator=gen, dtype=dtype), torch.randn(4, generator=gen, dtype=dtype)
    what = (f"gaussian_kl(mu_p, logvar_p, mu_q, logvar_q) with shapes {shape_p}, {shape_p}, (3, 4), (4,) in "
            f"{NAME[dtype]}")
    out = prob.gaussian_kl(mu_p, lv_p, mu_q, lv_q, what=what)
    checks.close(out, oracles.gaussian_kl(mu_p, lv_p, mu_q, lv_q), what, rtol=1e-4, atol=1e-5, dtype=dtype,
                 hint="KL(p || q), not KL(q || p): the variance ratio is exp(logvar_p - logvar_q).")
    same = prob.gaussian_kl(mu_q, lv_q, mu_q, lv_q, what="gaussian_kl(mu, logvar, mu, logvar)")
    checks.close(same, torch.zeros(3, 4), "gaussian_kl(mu, logvar, mu, logvar)", atol=1e-5, dtype=dtype)
    on_meta(prob.gaussian_kl(*(t.to("meta") for t in (mu_p, lv_p, mu_q, lv_q)), what=f"{what} on 'meta'"), what,
            (3, 4), dtype)
    for dtype, *values in _extreme_cases(gen):
        args = [torch.tensor(v, dtype=dtype) for v in values]
        what = (f"gaussian_kl(mu_p, logvar_p, mu_q, logvar_q) in {NAME[dtype]} with logvar_p = {values[1]}, "
                f"logvar_q = {values[3]} (variances from e^{min(values[1])} to e^{max(values[1] + values[3])})")
        out = prob.gaussian_kl(*args, what=what)
        checks.close(out, oracles.gaussian_kl(*args), what, rtol=1e-4, atol=1e-5, dtype=dtype,
                     inputs=dict(zip(("mu_p", "logvar_p", "mu_q", "logvar_q"), args)),
                     hint="exp(logvar) alone over- or underflows for such variances although the KL is an ordinary "
                          "number: write sigma_p^2 / sigma_q^2 as exp(logvar_p - logvar_q), 1 / sigma_q^2 as "
                          "exp(-logvar_q), and never take the log of a variance.")
