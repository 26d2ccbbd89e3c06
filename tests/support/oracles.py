"""Test-side reference code: masks, dependency patterns and small models.

Nothing here imports the student's package or the reference solution, so a bug in one graded
file fails only the tests of that file: the samplers are judged on table models defined here,
the training loop on a tiny logistic model, the likelihood on ``F.binary_cross_entropy_with_logits``.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


# --- likelihood ------------------------------------------------------------------------------

def nll(logits, x):
    """Per-example Bernoulli NLL in nats, summed over every non-batch dimension."""
    terms = F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")
    return terms.reshape(terms.shape[0], -1).sum(1)


# --- MADE ------------------------------------------------------------------------------------

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


def made_allowed(order):
    """``A[d, j]``: True where output d may depend on input j (j generated before d)."""
    pos = torch.empty(len(order), dtype=torch.long)
    pos[torch.as_tensor(order)] = torch.arange(len(order))
    return pos[:, None] > pos[None, :]


# --- PixelCNN --------------------------------------------------------------------------------

def causal_mask(k, mask_type):
    mask = torch.zeros(k, k)
    for r in range(k):
        for c in range(k):
            before = r < k // 2 or (r == k // 2 and c < k // 2)
            mask[r, c] = float(before or (mask_type == "B" and r == c == k // 2))
    return mask


def pixel_allowed(channels, height, width):
    """``A[out, in]`` over flattened ``(C, H, W)``: True where the input pixel comes strictly
    before the output pixel in raster order (any channels)."""
    pixel = torch.arange(height * width).repeat(channels)  # pixel index of each flattened entry
    return pixel[:, None] > pixel[None, :]


# --- dependency measurement ------------------------------------------------------------------

def rerandomize_(model, generator, std=1.0):
    """Fresh N(0, std²/fan_in) weights and N(0, 0.1²) biases, so that no hidden unit is
    permanently dead and gradients are generically non-zero."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * std / math.sqrt(fan_in))
            else:
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.1)


def dependency(forward, inputs):
    """``max_b |∂ out_b[i] / ∂ in_b[j]|`` as a ``(out numel, in numel)`` matrix.

    ``forward`` maps a batch to a batch of the same leading size; examples do not interact,
    so one backward pass per output position covers the whole batch.
    """
    x = inputs.detach().clone().requires_grad_(True)
    out = forward(x)
    flat_out = out.reshape(out.shape[0], -1)
    rows = []
    for i in range(flat_out.shape[1]):
        (grad,) = torch.autograd.grad(flat_out[:, i].sum(), x, retain_graph=True, allow_unused=True)
        if grad is None:
            grad = torch.zeros_like(x)
        rows.append(grad.reshape(grad.shape[0], -1).abs().amax(0))
    return torch.stack(rows)


# --- table models for the samplers -----------------------------------------------------------

class _Recording(nn.Module):
    """Records, for every forward call, the input's device/dtype, the train/eval mode and
    whether autograd was on; ``scale`` (=1) is the parameter that gives the model a device
    and dtype."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = []

    def _record(self, x):
        self.calls.append({"device": x.device, "dtype": x.dtype, "training": self.training,
                           "grad_enabled": torch.is_grad_enabled()})
        if x.device != self.scale.device or x.dtype != self.scale.dtype:
            raise RuntimeError(f"the model's parameters are {self.scale.dtype} on {self.scale.device}, "
                               f"but it was called on a {x.dtype} tensor on {x.device}")


def _prefix_index(bits):
    """Integer code of the bit columns ``bits`` (B, k): sum_i bits[:, i] * 2^i."""
    weights = 2 ** torch.arange(bits.shape[1], device=bits.device)
    return (bits.long() * weights).sum(1) if bits.shape[1] else torch.zeros(bits.shape[0], dtype=torch.long,
                                                                              device=bits.device)


class TableMADE(_Recording):
    """An exact autoregressive model over D binary variables: position ``order[i]`` has logit
    ``tables[i][code of x at order[:i]]``. Has ``input_dim`` and ``order`` like MADE."""

    def __init__(self, order, tables):
        super().__init__()
        self.input_dim = len(order)
        self.order = torch.as_tensor(order, dtype=torch.long)
        for i, table in enumerate(tables):
            assert table.numel() == 2 ** i
            self.register_buffer(f"table{i}", table.double())

    def forward(self, x):
        self._record(x)
        out = torch.zeros_like(x)
        bits = (x > 0.5)
        for i, d in enumerate(self.order.tolist()):
            code = _prefix_index(bits[:, self.order[:i]])
            out[:, d] = getattr(self, f"table{i}").to(x.dtype)[code] * self.scale
        return out

    def log_prob(self, x):
        """Exact log p(x) for binary ``x`` (B, D)."""
        logits = self.forward(x.to(self.scale.dtype))
        return -nll(logits, x)


class TablePixelCNN(_Recording):
    """An exact autoregressive model over ``(C, H, W)`` binary images in raster order: every
    channel ``ch`` of pixel ``p`` has logit ``tables[p][ch, code of all channels of pixels < p]``
    (channels of one pixel are conditionally independent given the earlier pixels)."""

    def __init__(self, image_shape, tables):
        super().__init__()
        self.image_shape = tuple(image_shape)
        channels, height, width = image_shape
        for p, table in enumerate(tables):
            table = table.reshape(channels, 2 ** (p * channels))
            self.register_buffer(f"table{p}", table.double())

    def forward(self, x):
        self._record(x)
        n, channels, height, width = x.shape
        out = torch.zeros_like(x)
        bits = (x > 0.5).permute(0, 2, 3, 1).reshape(n, height * width * channels)  # raster, channels inner
        for p in range(height * width):
            code = _prefix_index(bits[:, : p * channels])
            table = getattr(self, f"table{p}").to(x.dtype)
            out[:, :, p // width, p % width] = table[:, code].T * self.scale
        return out

    def log_prob(self, x):
        return -nll(self.forward(x.to(self.scale.dtype)), x)


def chain_tables(num_positions, per_position=1, strength=50.0):
    """Tables of a deterministic model: the first position is all ones, each later position is
    the NOT of the previous position's first channel. ``strength`` is the logit magnitude."""
    tables = []
    for p in range(num_positions):
        size = 2 ** (p * per_position)
        if p == 0:
            table = torch.full((per_position, 1), strength)
        else:
            codes = torch.arange(size)
            previous_first_channel = (codes >> ((p - 1) * per_position)) & 1
            table = (1 - 2 * previous_first_channel).double()[None, :].repeat(per_position, 1) * strength
        tables.append(table if per_position > 1 else table[0])
    return tables


def chain_expected(num_positions):
    """The one sequence the chain model generates: 1, 0, 1, 0, …"""
    return torch.tensor([1.0 - (p % 2) for p in range(num_positions)])


def random_tables(num_positions, per_position, generator, strength=2.5):
    """Tables with strong dependence on the prefix: ±strength by the prefix parity, plus noise."""
    tables = []
    for p in range(num_positions):
        size = 2 ** (p * per_position)
        codes = torch.arange(size)
        parity = torch.zeros(size, dtype=torch.long)
        for bit in range(p * per_position):
            parity ^= (codes >> bit) & 1
        base = (1 - 2 * parity).double()[None, :] * strength
        noise = torch.rand(per_position, size, generator=generator, dtype=torch.float64) - 0.5
        sign = torch.where(torch.arange(per_position) % 2 == 0, 1.0, -1.0).double()[:, None]
        table = base * sign + noise
        tables.append(table if per_position > 1 else table[0])
    return tables


def l1_bound(num_outcomes, num_samples, false_failure=1e-7):
    """λ with P(‖p̂ − p‖₁ ≥ λ) ≤ false_failure (Bretagnolle–Huber–Carol: ≤ 2^K e^{−Nλ²/2})."""
    return math.sqrt(2 * (num_outcomes * math.log(2) + math.log(1 / false_failure)) / num_samples)


def enumerate_binary(num_bits):
    """All ``2^num_bits`` binary vectors as rows (bit i of row r is (r >> i) & 1)."""
    codes = torch.arange(2 ** num_bits)
    return ((codes[:, None] >> torch.arange(num_bits)[None, :]) & 1).double()


# --- a small model for the training loop -----------------------------------------------------

class Logistic(_Recording):
    """Logits = x·W + b over flattened inputs (no autoregressive structure needed to test a
    training loop)."""

    def __init__(self, num_dims, generator):
        super().__init__()
        self.linear = nn.Linear(num_dims, num_dims)
        rerandomize_(self.linear, generator, std=0.5)

    def forward(self, x):
        self._record(x)
        return self.linear(x.reshape(x.shape[0], -1)).reshape(x.shape) * self.scale


class DeviceProbe(_Recording):
    """Constant zero logits (every sample position is a fair coin); complains if called on a
    tensor whose device or dtype differs from its parameter's. Works on the ``meta`` device."""

    def __init__(self, input_dim=4):
        super().__init__()
        self.input_dim = input_dim
        self.order = torch.arange(input_dim)

    def forward(self, x):
        self._record(x)
        return x * 0 + (self.scale - 1)


# --- probability ------------------------------------------------------------------------------

def kl(p, q, dim=-1):
    """KL(p || q) in float64 with the 0 log 0 = 0 convention."""
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


# --- training -----------------------------------------------------------------------------------

def binary_batches(sizes, shape, seed):
    """Random binary batches of the given sizes and per-example shape."""
    gen = torch.Generator().manual_seed(seed)
    return [(torch.rand(n, *shape, generator=gen) < 0.5).float() for n in sizes]


def train_epoch(model, batches, lr):
    """The reference loop: SGD, mean NLL per batch, zero_grad/backward/step; returns the
    example-weighted mean of the batch losses."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    total = count = 0
    for x in batches:
        loss = nll(model(x), x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count
