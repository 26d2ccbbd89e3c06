"""Reference computations of the grader: grader-only.

They run in the grading session (never in a worker, never in the handout): tests compare the
data a worker sends back with these, and the fresh examples of :mod:`autograder.examples` take
their expected values from them. Each is written independently of the reference solution
(other formulas, other libraries) so that both agreeing means something. Models are pure
functions of a configuration and a ``{name: tensor}`` of parameters named as the student's
modules name them (``net.0.weight``, ...), with masks built here, never read from a worker.
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
    """Elementwise KL between Gaussians in float64, as 0.5 (r - 1 - log r) + 0.5 d^2 / var_q with
    the variance ratio r = exp(logvar_p - logvar_q) (an independent arrangement of the terms)."""
    mu_p, logvar_p, mu_q, logvar_q = (t.double() for t in (mu_p, logvar_p, mu_q, logvar_q))
    log_ratio = logvar_p - logvar_q
    return 0.5 * (torch.expm1(log_ratio) - log_ratio) + 0.5 * (mu_p - mu_q) ** 2 * torch.exp(-logvar_q)


# --- likelihood --------------------------------------------------------------------------------

def nll(logits, x):
    """Per-example Bernoulli NLL in nats, summed over every non-batch dimension (float64)."""
    terms = F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="none")
    return terms.reshape(terms.shape[0], -1).sum(1)


def bits_per_dim(nll_value, num_dims):
    return nll_value / (num_dims * math.log(2))


# --- MADE --------------------------------------------------------------------------------------

def made_degrees(input_dim, hidden_sizes, order=None):
    order = list(range(input_dim)) if order is None else [int(o) for o in order]
    m0 = [0] * input_dim
    for i, d in enumerate(order):
        m0[d] = i + 1
    return [torch.tensor(m0)] + [torch.tensor([1 + k % (input_dim - 1) for k in range(h)]) for h in hidden_sizes]


def made_masks(input_dim, hidden_sizes, order=None):
    deg = made_degrees(input_dim, hidden_sizes, order)
    masks = [(deg[l + 1][:, None] >= deg[l][None, :]).float() for l in range(len(hidden_sizes))]
    masks.append((deg[0][:, None] > deg[-1][None, :]).float())
    return masks


def connectivity(masks):
    """``C[out, in]``: True where some path through the masked layers links input to output."""
    path = masks[0].double()
    for mask in masks[1:]:
        path = mask.double() @ path
    return path > 0


def made_mask_buffers(input_dim, hidden_sizes, order=None):
    """``{"net.0.mask": ..., "net.2.mask": ...}``: the masks of MADE's layers, by buffer name."""
    return {f"net.{2 * i}.mask": mask for i, mask in enumerate(made_masks(input_dim, hidden_sizes, order))}


def masked_linear(params, mask, x):
    """``x (W ⊙ M)^T + b`` in float64 (``params``: ``weight`` and optionally ``bias``)."""
    out = x.double() @ (params["weight"].double() * mask.double()).T
    return out + params["bias"].double() if "bias" in params else out


def made_forward(input_dim, hidden_sizes, order, params, x):
    """MADE's logits for ``x`` of shape ``(B, *shape)``, float64, from the parameters alone."""
    h = x.double().reshape(x.shape[0], -1)
    masks = made_masks(input_dim, hidden_sizes, order)
    for i, mask in enumerate(masks):
        h = masked_linear({"weight": params[f"net.{2 * i}.weight"], "bias": params[f"net.{2 * i}.bias"]}, mask, h)
        if i < len(masks) - 1:
            h = h.clamp_min(0.0)
    return h.reshape(x.shape)


def made_param_shapes(input_dim, hidden_sizes):
    sizes = [input_dim, *hidden_sizes, input_dim]
    shapes = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"net.{2 * i}.weight"], shapes[f"net.{2 * i}.bias"] = (fan_out, fan_in), (fan_out,)
    return shapes


# --- PixelCNN ----------------------------------------------------------------------------------

def causal_mask(k, mask_type):
    # raster index below the centre's; type B also keeps the centre. Vectorised: the oracles'
    # forward passes build it 2,500 times per grading.
    raster = torch.arange(k * k).reshape(k, k)
    centre = (k // 2) * k + k // 2
    return ((raster < centre) | ((raster == centre) & (mask_type == "B"))).float()


def pixelcnn_layers(in_channels, hidden_channels, num_layers, kernel_size):
    """``[(index in net, mask type, in, out, kernel)]`` of PixelCNN's masked convolutions."""
    h, k = hidden_channels, kernel_size
    layers = [(0, "A", in_channels, h, k)]
    layers += [(2 + 2 * i, "B", h, h, k) for i in range(num_layers)]
    last = 2 + 2 * num_layers
    return layers + [(last, "B", h, h, 1), (last + 2, "B", h, in_channels, 1)]


def pixelcnn_mask_buffers(in_channels, hidden_channels, num_layers, kernel_size):
    return {f"net.{i}.mask": causal_mask(k, t)
            for i, t, _, _, k in pixelcnn_layers(in_channels, hidden_channels, num_layers, kernel_size)}


def pixelcnn_param_shapes(in_channels, hidden_channels, num_layers, kernel_size):
    shapes = {}
    for i, _, c_in, c_out, k in pixelcnn_layers(in_channels, hidden_channels, num_layers, kernel_size):
        shapes[f"net.{i}.weight"], shapes[f"net.{i}.bias"] = (c_out, c_in, k, k), (c_out,)
    return shapes


def masked_conv(params, mask, x):
    """``(W ⊙ M) ⋆ x + b`` with padding ``k // 2``, float64."""
    weight = params["weight"].double() * mask.double()
    bias = params["bias"].double() if "bias" in params else None
    k = weight.shape[-1]
    rows, cols = mask.nonzero(as_tuple=True)
    if len(rows) == 0:
        return F.conv2d(x.double(), weight, bias, padding=k // 2)
    # Only the taps' bounding box: a causal mask zeroes every row below the centre, and float64
    # convolutions are the grading session's largest cost (they have no fast CPU kernel). The
    # taps left out multiply by exact zeros; the padding keeps each output where it was.
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
    p = k // 2
    x = F.pad(x.double(), (p - c0, c1 - p, p - r0, r1 - p))
    return F.conv2d(x, weight[..., r0:r1 + 1, c0:c1 + 1], bias)


def pixelcnn_forward(config, params, x):
    """PixelCNN's logits for ``x`` ``(B, C, H, W)``, float64; ``config`` holds the four
    constructor arguments."""
    layers = pixelcnn_layers(config["in_channels"], config["hidden_channels"], config["num_layers"],
                             config["kernel_size"])
    h = x.double()
    for n, (i, mask_type, _, _, k) in enumerate(layers):
        h = masked_conv({"weight": params[f"net.{i}.weight"], "bias": params[f"net.{i}.bias"]},
                        causal_mask(k, mask_type), h)
        if n < len(layers) - 1:
            h = h.clamp_min(0.0)
    return h


# --- sampling: exact distributions of the test models -----------------------------------------

def double_log_prob(model, x):
    """Exact log p(x) of a sampling double (:mod:`tests.probes.doubles`) built in this process."""
    with torch.no_grad():
        return -nll(model(x.to(model.scale.dtype)), x)


# --- training ----------------------------------------------------------------------------------
# Two losses a correct training.py may use: the stand-in likelihood the tests substitute for
# likelihood.py (when training.py imports it; its constants are the test's) or the Bernoulli
# NLL itself (computed inline).

def bernoulli_loss(logits, x):
    """The Bernoulli NLL per example in the logits' dtype (as a training.py computing it inline would)."""
    terms = F.softplus(logits) - x.to(logits.dtype) * logits
    return terms.reshape(terms.shape[0], -1).sum(1)


def losses(standin):
    """``{variant: loss(logits, x)}`` for the stand-in with constants ``standin`` (scale, shift,
    base) and for the Bernoulli NLL."""
    return {"stand-in": lambda logits, x: doubles.squared_error(logits, x, standin["scale"], standin["shift"]),
            "bernoulli": bernoulli_loss}


VARIANTS = ("stand-in", "bernoulli")


def bits(variant, nll_value, num_dims, standin):
    """bits/dim as that variant's ``bits_per_dim`` gives it."""
    return nll_value / (num_dims * (standin["base"] if variant == "stand-in" else math.log(2)))


def train_epoch(model, batches, optimizer, loss=doubles.squared_error):
    """The reference loop: mean loss per batch, zero_grad/backward/step; returns the
    example-weighted mean of the batch losses."""
    total = count = 0
    model.train()
    for x in batches:
        value = loss(model(x), x).mean()
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        total += value.item() * len(x)
        count += len(x)
    return total / count


def evaluate(model, batches, loss=doubles.squared_error):
    """Example-weighted mean loss over ``batches``, in eval mode without gradients."""
    model.eval()
    with torch.no_grad():
        return torch.cat([loss(model(x), x) for x in batches]).mean().item()
