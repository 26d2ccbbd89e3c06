"""Public tests of probability.py (section 1)."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, oracles, student


@weight(1)
@number("1.1")
@visibility("visible")
@tags("probability", "kl_divergence")
def test_kl_divergence_matches_definition():
    """kl_divergence: matches sum p (log p - log q) on random distributions"""
    prob = student.load("probability")
    gen = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(4, 6, generator=gen), -1)
    q = torch.softmax(torch.randn(4, 6, generator=gen), -1)
    out = student.call(prob.kl_divergence, p, q, what="kl_divergence(p, q) with p, q of shape (4, 6)")
    checks.close(out, oracles.kl(p, q), "kl_divergence(p, q)",
                 hint="KL(p || q) = sum over dim of p * (log p - log q); check the order of p and q.")


@weight(1)
@number("1.2")
@visibility("visible")
@tags("probability", "kl_divergence_logits")
def test_kl_divergence_logits_matches_softmax():
    """kl_divergence_logits: equals kl_divergence of the softmaxes for moderate logits"""
    prob = student.load("probability")
    gen = torch.Generator().manual_seed(2)
    lp, lq = torch.randn(3, 5, generator=gen) * 2, torch.randn(3, 5, generator=gen) * 2
    expected = oracles.kl_logits(lp, lq)
    out = student.call(prob.kl_divergence_logits, lp, lq, what="kl_divergence_logits(lp, lq) of shape (3, 5)")
    checks.close(out, expected, "kl_divergence_logits(lp, lq)", rtol=1e-4, atol=1e-5,
                 hint="use log p = log_softmax(lp) and log q = log_softmax(lq) along dim.")


@weight(1)
@number("1.3")
@visibility("visible")
@tags("probability", "gaussian_kl")
def test_gaussian_kl_closed_form():
    """gaussian_kl: matches the closed form elementwise"""
    prob = student.load("probability")
    gen = torch.Generator().manual_seed(3)
    mu_p, mu_q = torch.randn(7, generator=gen), torch.randn(7, generator=gen)
    lv_p, lv_q = torch.randn(7, generator=gen), torch.randn(7, generator=gen)
    expected = oracles.gaussian_kl(mu_p, lv_p, mu_q, lv_q)
    out = student.call(prob.gaussian_kl, mu_p, lv_p, mu_q, lv_q, what="gaussian_kl(mu_p, logvar_p, mu_q, logvar_q)")
    checks.close(out, expected, "gaussian_kl(mu_p, logvar_p, mu_q, logvar_q)", rtol=1e-4, atol=1e-5,
                 hint="0.5 * (logvar_q - logvar_p + (exp(logvar_p) + (mu_p - mu_q)^2) / exp(logvar_q) - 1); "
                      "logvar is log sigma^2, not log sigma.")
