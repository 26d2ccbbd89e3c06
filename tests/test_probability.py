"""Public tests of probability.py (section 1). Locally the examples are recorded from the
reference solution (tests/fixtures/examples.wire); on the grader they are drawn fresh for your
upload (tests/support/examples.py), with the same checks and messages."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks


@weight(1)
@number("1.1")
@visibility("visible")
@tags("probability", "kl_divergence")
def test_kl_divergence_matches_definition(worker, ex):
    """kl_divergence: matches sum p (log p - log q) on random distributions"""
    prob = worker.load("probability")
    e = ex.get("kl_divergence")
    p, q = e["p"], e["q"]
    what = f"kl_divergence(p, q) with p, q of shape {tuple(p.shape)}"
    out = prob.kl_divergence(p, q, what=what)
    checks.close(out, e["out"], what, inputs={"p": p, "q": q},
                 hint="KL(p || q) = sum over dim of p * (log p - log q); check the order of p and q.")
    same = prob.kl_divergence(p, p, what="kl_divergence(p, p)")
    checks.close(same, torch.zeros(p.shape[0]), "kl_divergence(p, p) (a distribution against itself)", atol=1e-6,
                 hint="KL(p || p) = 0.")


@weight(1)
@number("1.2")
@visibility("visible")
@tags("probability", "kl_divergence_logits")
def test_kl_divergence_logits_matches_softmax(worker, ex):
    """kl_divergence_logits: equals kl_divergence of the softmaxes for moderate logits"""
    prob = worker.load("probability")
    e = ex.get("kl_divergence_logits")
    lp, lq, shift = e["lp"], e["lq"], e["shift"]
    what = f"kl_divergence_logits(lp, lq) with lp, lq of shape {tuple(lp.shape)}"
    out = prob.kl_divergence_logits(lp, lq, what=what)
    checks.close(out, e["out"], what, rtol=1e-4, atol=1e-5, inputs={"lp": lp, "lq": lq},
                 hint="use log p = log_softmax(lp) and log q = log_softmax(lq) along dim.")
    shifted = prob.kl_divergence_logits(lp, lp + shift, what=f"kl_divergence_logits(lp, lp + {shift})")
    checks.close(shifted, torch.zeros(lp.shape[0]), f"kl_divergence_logits(lp, lp + {shift}) (the same distribution: "
                 "softmax ignores a constant shift)", atol=1e-5, hint="normalise both logits with log_softmax.")


@weight(1)
@number("1.3")
@visibility("visible")
@tags("probability", "gaussian_kl")
def test_gaussian_kl_closed_form(worker, ex):
    """gaussian_kl: matches the closed form elementwise"""
    prob = worker.load("probability")
    e = ex.get("gaussian_kl")
    args = {name: e[name] for name in ("mu_p", "logvar_p", "mu_q", "logvar_q")}
    what = f"gaussian_kl(mu_p, logvar_p, mu_q, logvar_q) with arguments of shape {tuple(e['mu_p'].shape)}"
    out = prob.gaussian_kl(*args.values(), what=what)
    checks.close(out, e["out"], what, rtol=1e-4, atol=1e-5, inputs=args,
                 hint="0.5 * (logvar_q - logvar_p + (exp(logvar_p) + (mu_p - mu_q)^2) / exp(logvar_q) - 1); "
                      "logvar is log sigma^2, not log sigma.")
