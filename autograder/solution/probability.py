"""Probability: KL divergences between discrete and Gaussian distributions (6 points).

Results keep the floating dtype and the device of the inputs (float64 in, float64 out).
"""
import torch

__all__ = ["kl_divergence", "kl_divergence_logits", "gaussian_kl"]


def _broadcast(name_a, a, name_b, b):
    try:
        return torch.broadcast_tensors(a, b)
    except RuntimeError:
        raise ValueError(
            f"{name_a} has shape {tuple(a.shape)} and {name_b} has shape {tuple(b.shape)}; "
            "they must broadcast against each other"
        ) from None


def _check_dim(dim, ndim):
    if not -ndim <= dim < ndim:
        raise ValueError(f"dim={dim} is out of range for tensors with {ndim} dimensions")


def kl_divergence(p, q, dim=-1):
    r"""KL(p ‖ q) between discrete distributions given as probabilities.

    .. math:: \mathrm{KL}(p \,\|\, q) = \sum_i p_i (\log p_i - \log q_i)

    summed along ``dim`` (which is removed from the result); ``p`` and ``q`` broadcast.
    Conventions: a term with :math:`p_i = 0` contributes 0, also where :math:`q_i = 0`
    (:math:`0 \log 0 = 0`); a term with :math:`p_i > 0` and :math:`q_i = 0` makes the KL
    ``+inf``, however small :math:`p_i` is. The gradient with respect to ``q`` is finite wherever :math:`q > 0`, also
    where :math:`p = 0` (no NaN from :math:`0 \cdot \log 0`).

    Raises ``ValueError`` if the shapes do not broadcast or ``dim`` is out of range.
    """
    # BEGIN SOLUTION: evaluate the log terms only where p > 0 (torch.where on *safe inputs*, not just on the result, keeps NaN out of the gradient)
    p, q = _broadcast("p", p, "q", q)
    _check_dim(dim, p.dim())
    support = p > 0
    # Substitute harmless values outside the support so that neither the forward pass
    # nor the backward pass ever evaluates 0 * log 0.
    p_safe = torch.where(support, p, torch.ones_like(p))
    q_safe = torch.where(support, q, torch.ones_like(q))
    terms = p_safe * (torch.log(p_safe) - torch.log(q_safe))
    return torch.where(support, terms, torch.zeros_like(terms)).sum(dim)
    # END SOLUTION


def kl_divergence_logits(logits_p, logits_q, dim=-1):
    r"""KL(p ‖ q) for :math:`p = \mathrm{softmax}(\ell_p)`, :math:`q = \mathrm{softmax}(\ell_q)`.

    Computed in log space, :math:`\sum_i p_i (\log p_i - \log q_i)` with
    :math:`\log p = \mathrm{log\_softmax}(\ell_p)`, so that it stays finite and accurate for
    logits as large as ±1e4 in float32 (``softmax`` followed by ``log`` would underflow to
    ``log 0``). Broadcasts; ``dim`` is removed from the result.
    """
    # BEGIN SOLUTION: take log_softmax of both arguments; never exponentiate logits directly
    logits_p, logits_q = _broadcast("logits_p", logits_p, "logits_q", logits_q)
    _check_dim(dim, logits_p.dim())
    log_p = torch.log_softmax(logits_p, dim=dim)
    log_q = torch.log_softmax(logits_q, dim=dim)
    return (log_p.exp() * (log_p - log_q)).sum(dim)
    # END SOLUTION


def gaussian_kl(mu_p, logvar_p, mu_q, logvar_q):
    r"""Elementwise KL(N(mu_p, e^logvar_p) ‖ N(mu_q, e^logvar_q)) in closed form.

    .. math::
        \tfrac12\Big(\log\sigma_q^2 - \log\sigma_p^2
        + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{\sigma_q^2} - 1\Big)

    All four arguments broadcast; nothing is summed (the caller sums). Stays accurate for tiny
    and huge variances (``logvar`` far from 0, where ``exp(logvar)`` alone over- or underflows
    although the KL is an ordinary number).
    """
    # BEGIN SOLUTION: write sigma_p^2 / sigma_q^2 as exp(logvar_p - logvar_q)
    try:
        mu_p, logvar_p, mu_q, logvar_q = torch.broadcast_tensors(mu_p, logvar_p, mu_q, logvar_q)
    except RuntimeError:
        shapes = [tuple(t.shape) for t in (mu_p, logvar_p, mu_q, logvar_q)]
        raise ValueError(f"mu_p, logvar_p, mu_q, logvar_q have shapes {shapes}, which do not broadcast") from None
    return 0.5 * (
        logvar_q - logvar_p
        + torch.exp(logvar_p - logvar_q)
        + (mu_p - mu_q) ** 2 * torch.exp(-logvar_q)
        - 1.0
    )
    # END SOLUTION
