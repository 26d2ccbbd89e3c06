"""Public tests of probability.py (section 1). Expected values are recorded from the reference
solution (tests/fixtures/examples.wire); properties need no reference."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, fixtures

EXAMPLES = fixtures.examples()


@weight(1)
@number("1.1")
@visibility("visible")
@tags("probability", "kl_divergence")
def test_kl_divergence_matches_definition(worker):
    """kl_divergence: matches sum p (log p - log q) on random distributions"""
    prob = worker.load("probability")
    ex = EXAMPLES["kl_divergence"]
    what = "kl_divergence(p, q) with p, q of shape (4, 6)"
    out = prob.kl_divergence(ex["p"], ex["q"], what=what)
    checks.close(out, ex["out"], "kl_divergence(p, q)",
                 hint="KL(p || q) = sum over dim of p * (log p - log q); check the order of p and q.")
    same = prob.kl_divergence(ex["p"], ex["p"], what="kl_divergence(p, p)")
    checks.close(same, torch.zeros(4), "kl_divergence(p, p) (a distribution against itself)", atol=1e-6,
                 hint="KL(p || p) = 0.")


@weight(1)
@number("1.2")
@visibility("visible")
@tags("probability", "kl_divergence_logits")
def test_kl_divergence_logits_matches_softmax(worker):
    """kl_divergence_logits: equals kl_divergence of the softmaxes for moderate logits"""
    prob = worker.load("probability")
    ex = EXAMPLES["kl_divergence_logits"]
    out = prob.kl_divergence_logits(ex["lp"], ex["lq"], what="kl_divergence_logits(lp, lq) of shape (3, 5)")
    checks.close(out, ex["out"], "kl_divergence_logits(lp, lq)", rtol=1e-4, atol=1e-5,
                 hint="use log p = log_softmax(lp) and log q = log_softmax(lq) along dim.")
    shifted = prob.kl_divergence_logits(ex["lp"], ex["lp"] + 3.0, what="kl_divergence_logits(lp, lp + 3)")
    checks.close(shifted, torch.zeros(3), "kl_divergence_logits(lp, lp + 3) (the same distribution: softmax "
                 "ignores a constant shift)", atol=1e-5, hint="normalise both logits with log_softmax.")


@weight(1)
@number("1.3")
@visibility("visible")
@tags("probability", "gaussian_kl")
def test_gaussian_kl_closed_form(worker):
    """gaussian_kl: matches the closed form elementwise"""
    prob = worker.load("probability")
    ex = EXAMPLES["gaussian_kl"]
    args = (ex["mu_p"], ex["logvar_p"], ex["mu_q"], ex["logvar_q"])
    out = prob.gaussian_kl(*args, what="gaussian_kl(mu_p, logvar_p, mu_q, logvar_q)")
    checks.close(out, ex["out"], "gaussian_kl(mu_p, logvar_p, mu_q, logvar_q)", rtol=1e-4, atol=1e-5,
                 hint="0.5 * (logvar_q - logvar_p + (exp(logvar_p) + (mu_p - mu_q)^2) / exp(logvar_q) - 1); "
                      "logvar is log sigma^2, not log sigma.")
