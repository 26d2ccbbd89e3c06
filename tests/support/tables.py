"""Tables for the samplers' test doubles, random data and statistics: none of it is graded.

:class:`~tests.probes.doubles.TableMADE` and ``TablePixelCNN`` take one logit table per
position; these build tables whose samples a test can predict (drawn from the test's
generator, so fresh for every upload on the grader).
"""
import math

import torch


def deterministic_tables(num_positions, per_position, generator, strength=50.0, coin=0.0):
    """Tables of a model that is deterministic given the prefix: every logit is ±``strength``
    with a random sign (so the one sequence it generates depends on the draw). With ``coin``,
    the first position and that fraction of the other entries are 0 instead (fair coins):
    samples vary, and every sample must still agree with the model wherever it is deterministic."""
    tables = []
    for p in range(num_positions):
        size = 2 ** (p * per_position)
        sign = torch.where(torch.rand(per_position, size, generator=generator) < 0.5, -1.0, 1.0).double()
        fair = torch.rand(per_position, size, generator=generator) < (coin if p else float(coin > 0))
        table = torch.where(fair, torch.zeros_like(sign), sign * strength)
        tables.append(table if per_position > 1 else table[0])
    return tables


def walk(tables, per_position=1):
    """The sequence a deterministic table model generates, position by position in generation
    order (``per_position`` channels each): a walk through the tables, not a sampler."""
    bits = []
    for table in tables:
        code = sum(int(b) << i for i, b in enumerate(bits))
        entries = table.reshape(per_position, -1)[:, code]
        bits.extend(int(v > 0) for v in entries)
    return torch.tensor(bits, dtype=torch.float64)


def made_sequence(tables, order):
    """The one sample ``(D,)`` of a deterministic :class:`~tests.probes.doubles.TableMADE`."""
    seq = walk(tables)
    out = torch.zeros(len(order), dtype=torch.float64)
    out[torch.as_tensor(order)] = seq
    return out


def pixel_sequence(tables, image_shape):
    """The one sample ``(C, H, W)`` of a deterministic :class:`~tests.probes.doubles.TablePixelCNN`."""
    channels, height, width = image_shape
    return walk(tables, channels).reshape(height, width, channels).permute(2, 0, 1)


def disagreements(model, samples, strength=50.0):
    """How many samples contradict ``model`` (a table double built in this process) at a
    position where it is deterministic (|logit| = strength)."""
    with torch.no_grad():
        logits = model(samples.to(model.scale.dtype)).double()
    sure = logits.abs() > strength / 2
    wrong = sure & ((logits > 0) != (samples.double() > 0.5))
    return int(wrong.reshape(len(samples), -1).any(1).sum())


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


def binary_batches(sizes, shape, seed):
    """Random binary batches of the given sizes and per-example shape."""
    gen = torch.Generator().manual_seed(seed)
    return [(torch.rand(n, *shape, generator=gen) < 0.5).float() for n in sizes]


def random_params(shapes, generator, dtype=torch.float64, std=1.0):
    """Fresh N(0, std²/fan_in) weights and N(0, 0.1²) biases for parameters of ``shapes``
    (name -> shape), so that no hidden unit is permanently dead and gradients are generically
    non-zero."""
    params = {}
    for name, shape in shapes.items():
        shape = tuple(shape)
        if len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            params[name] = torch.randn(shape, generator=generator, dtype=dtype) * std / math.sqrt(fan_in)
        else:
            params[name] = torch.randn(shape, generator=generator, dtype=dtype) * 0.1
    return params
