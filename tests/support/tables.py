"""Tables for the samplers' test doubles, random data and statistics: none of it is graded.

:class:`~tests.probes.doubles.TableMADE` and ``TablePixelCNN`` take one logit table per
position; these build tables whose samples a test can predict.
"""
import math

import torch


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
