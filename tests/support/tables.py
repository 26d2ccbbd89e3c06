"""Weights for the samplers' test doubles, random data and statistics: none of it is graded.

:class:`~tests.probes.doubles.NetMADE` and ``NetPixelCNN`` take one small network per
position; these draw their weights from the test's generator (fresh for every upload on the
grader) and judge samples against them.
"""
import math

import torch


def net_params(num_positions, per_position, generator, hidden=6):
    """Random weights of a :class:`~tests.probes.doubles.NetMADE` (``per_position=1``) or
    ``NetPixelCNN`` (``per_position`` channels) whose logits depend strongly on the positions
    before: scaled by 50 most are confident (|logit| > 30) and change with the prefix, so a
    sampler that misses the order or ignores earlier samples draws impossible samples. The first
    position's first channel is a fair coin (logit 0), so samples vary."""
    params = []
    for p in range(num_positions):
        fan_in = p * per_position
        layer = {"W": torch.randn(hidden, fan_in, generator=generator, dtype=torch.float64) * 3 / max(fan_in, 1) ** 0.5,
                 "c": torch.randn(hidden, generator=generator, dtype=torch.float64) * 0.5,
                 "v": torch.randn(per_position, hidden, generator=generator, dtype=torch.float64) * 2 / hidden ** 0.5,
                 "b": torch.randn(per_position, generator=generator, dtype=torch.float64) * 0.3}
        if p == 0:
            layer["v"].zero_()
            layer["b"] = torch.where(torch.rand(per_position, generator=generator) < 0.5, -2.0, 2.0).double()
            layer["b"][0] = 0.0
        params.append(layer)
    return params


def contradictions(model, samples, threshold=30.0):
    """``(sample, position, logit)`` for each sample that contradicts a confident logit of
    ``model`` (a sampling double built in this process): a value the model gives probability
    below e^-threshold, given the sample's own earlier positions."""
    with torch.no_grad():
        logits = model(samples.to(model.scale.dtype)).double().reshape(len(samples), -1)
    values = samples.double().reshape(len(samples), -1)
    wrong = ((logits > threshold) & (values < 0.5)) | ((logits < -threshold) & (values > 0.5))
    found = []
    for index in wrong.any(1).nonzero().flatten().tolist():
        position = int(wrong[index].nonzero()[0])
        found.append((index, position, float(logits[index, position])))
    return found


# A correct sampler compares uniform noise with the probability, and float32 noise is a multiple
# of 2^-24: it is exactly 0 once in 2^24 draws, and 0 < sigmoid(-50) gives the 1 the model calls
# impossible (about one grading in 2,000, by a count of the tests' draws). Twice that rate covers noise compared at
# either end of its range.
NOISE_STEP = 2.0 ** -23


def tolerated_contradictions(num_draws, false_failure=1e-12):
    """The most contradicting samples that a correct sampler making ``num_draws`` draws (samples
    times positions) exceeds with probability below ``false_failure``, through its noise's
    resolution alone (a Poisson tail, which bounds the binomial's)."""
    rate = num_draws * NOISE_STEP
    allowed = 0
    while sum(math.exp(-rate) * rate ** j / math.factorial(j) for j in range(allowed + 1, allowed + 40)) > false_failure:
        allowed += 1
    return allowed


def impossible(model, samples, threshold=30.0):
    """:func:`contradictions` of ``samples``, or ``[]`` where there are no more than a correct
    sampler's float32 noise makes (:func:`tolerated_contradictions`: two of 64 samples of 14
    positions). A sampler that misses the order or ignores its samples contradicts far more often."""
    found = contradictions(model, samples, threshold)
    return found if len(found) > tolerated_contradictions(samples.numel()) else []


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
