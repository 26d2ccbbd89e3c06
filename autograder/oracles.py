"""Reference computations of the hidden tests: grader-only.

They run in the grading session (never in a worker, never in the handout): the hidden tests
compare the data a worker sends back with these. Each is written independently of the
reference solution (other formulas, other libraries) so that both agreeing means something.
"""
import math

import torch
import torch.nn.functional as F

from tests.probes import doubles


# --- probability -------------------------------------------------------------------------------

def kl(p, q, dim=-1):
    """KL(p || q) in float64 with the 0 log 0 = 0 convention (+inf where p > 0 = q)."""
    p, q = torch.broadcast_tensors(p.double(), q.double())
    return torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p)).sum(dim)


def kl_logits(logits_p, logits_q, dim=-1):
    log_p = torch.log_softmax(logits_p.double(), dim)
    return (log_p.exp() * (log_p - torch.log_softmax(logits_q.double(), dim))).sum(dim)


def gaussian_kl(mu_p, logvar_p, mu_q, logvar_q):
    """Elementwise KL between Gaussians, from torch.distributions (an independent derivation)."""
    normal = torch.distributions.Normal
    return torch.distributions.kl_divergence(normal(mu_p.double(), (0.5 * logvar_p.double()).exp()),
                                             normal(mu_q.double(), (0.5 * logvar_q.double()).exp()))


# --- likelihood --------------------------------------------------------------------------------

def nll(logits, x):
    """Per-example Bernoulli NLL in nats, summed over every non-batch dimension."""
    terms = F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="none")
    return terms.reshape(terms.shape[0], -1).sum(1)


# --- MADE --------------------------------------------------------------------------------------

def made_degrees(input_dim, hidden_sizes, order=None):
    order = list(range(input_dim)) if order is None else [int(o) for o in order]
    m0 = [0] * input_dim
    for i, d in enumerate(order):
        m0[d] = i + 1
    return [torch.tensor(m0)] + [torch.tensor([1 + k % (input_dim - 1) for k in range(h)]) for h in hidden_sizes]


def made_masks(input_dim, hidden_sizes, order=None):
    deg = made_degrees(input_dim, hidden_sizes, order)
    masks = [(deg[l + 1][:, None] >= deg[l][None, :]).double() for l in range(len(hidden_sizes))]
    masks.append((deg[0][:, None] > deg[-1][None, :]).double())
    return masks


def connectivity(masks):
    """``C[out, in]``: True where some path through the masked layers links input to output."""
    path = masks[0].double()
    for mask in masks[1:]:
        path = mask.double() @ path
    return path > 0


# --- PixelCNN ----------------------------------------------------------------------------------

def causal_mask(k, mask_type):
    mask = torch.zeros(k, k)
    for r in range(k):
        for c in range(k):
            before = r < k // 2 or (r == k // 2 and c < k // 2)
            mask[r, c] = float(before or (mask_type == "B" and r == c == k // 2))
    return mask


# --- sampling: exact distributions of the table models -----------------------------------------

def table_log_prob(model, x):
    """Exact log p(x) of a table double (:mod:`tests.probes.doubles`) built in this process."""
    with torch.no_grad():
        return -nll(model(x.to(model.scale.dtype)), x)


# --- training ----------------------------------------------------------------------------------

def train_epoch(model, batches, optimizer):
    """The reference loop with the stand-in loss: mean per batch, zero_grad/backward/step;
    returns the example-weighted mean of the batch losses."""
    total = count = 0
    for x in batches:
        loss = doubles.squared_error(model(x), x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def evaluate(model, batches):
    """Example-weighted mean stand-in loss over ``batches``."""
    with torch.no_grad():
        return torch.cat([doubles.squared_error(model(x), x) for x in batches]).mean().item()


def bits_factor(num_dims):
    return 1.0 / (num_dims * math.log(2))
