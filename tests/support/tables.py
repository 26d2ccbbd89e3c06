"""Tables for the samplers' test doubles, random data and statistics: none of it is graded.

:class:`~tests.probes.doubles.TableMADE` and ``TablePixelCNN`` take one logit table per
position; these build tables whose samples a test can predict (drawn from the test's
generator, so fresh for every upload on the grader).
"""
import math

import torch


def chain_tables(num_positions, per_position, generator, strength=50.0):
    """Tables of a random chain: the first position's first channel is a fair coin (logit 0),
    and every other entry copies or flips (chosen at random, logit ±``strength``) the first
    channel of the position before, so the model generates exactly two sequences, one per
    value of the coin. A sampler that misses the order, or conditions on anything but the
    samples drawn so far, produces other sequences (given both coin values among its samples)."""
    flips = torch.rand(num_positions, per_position, generator=generator) < 0.5
    tables = []
    for p in range(num_positions):
        size = 2 ** (p * per_position)
        if p == 0:
            table = torch.where(flips[0], -strength, strength).double()[:, None].clone()
            table[0] = 0.0
        else:
            codes = torch.arange(size)
            previous = ((codes >> ((p - 1) * per_position)) & 1).bool()
            bit = previous[None, :] ^ flips[p][:, None]
            table = torch.where(bit, strength, -strength).double()
        tables.append(table if per_position > 1 else table[0])
    return tables


def walk(tables, per_position=1, coin=0):
    """The sequence a table model generates, position by position in generation order
    (``per_position`` channels each), where every entry is deterministic (logit ±50) but the
    fair coins, which come out as ``coin``: a walk through the tables, not a sampler."""
    bits = []
    for table in tables:
        code = sum(int(b) << i for i, b in enumerate(bits))
        entries = table.reshape(per_position, -1)[:, code]
        bits.extend(int(coin) if v == 0 else int(v > 0) for v in entries)
    return torch.tensor(bits, dtype=torch.float64)


def made_sequences(tables, order):
    """The samples ``(2, D)`` a chain :class:`~tests.probes.doubles.TableMADE` can generate."""
    out = torch.zeros(2, len(order), dtype=torch.float64)
    for coin in (0, 1):
        out[coin, torch.as_tensor(order)] = walk(tables, coin=coin)
    return out


def pixel_sequences(tables, image_shape):
    """The samples ``(2, C, H, W)`` a chain :class:`~tests.probes.doubles.TablePixelCNN` can generate."""
    channels, height, width = image_shape
    return torch.stack([walk(tables, channels, coin).reshape(height, width, channels).permute(2, 0, 1)
                        for coin in (0, 1)])


def outside(samples, allowed):
    """Indices of the samples that are none of the ``allowed`` ones."""
    flat, ok = samples.double().reshape(len(samples), 1, -1), allowed.double().reshape(1, len(allowed), -1)
    return (~(flat == ok).all(2).any(1)).nonzero().flatten().tolist()


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
