"""The public tests' examples, drawn from a generator: recorded ones and fresh ones. Grader-only.

Each public test asks for its examples by name (:mod:`tests.support.examples`). One draw
function per name builds the inputs from a generator and the expected values from a
*reference*, so the two sources differ only in where the generator and the reference come
from:

* ``make fixtures`` (:mod:`autograder.fixtures`): a fixed generator per name and the
  reference solution (:class:`SolutionReference`); written to ``tests/fixtures/examples.wire``,
  which ships in the handout for local runs;
* grading (:class:`Fresh`): a generator seeded from the grading key (an HMAC of the staff-only
  secret and the staged upload's hash, see :mod:`autograder.harness.secret`) and the test's
  number, and the grader-only :mod:`autograder.oracles`. An upload cannot predict its examples;
  the same upload always gets the same ones.

Inputs stay within the docstrings' contract (valid shapes, dtypes and magnitudes).
"""
import hashlib
import hmac
import math

import torch

from tests.support import tables

from . import oracles


def _randint(gen, low, high):
    """An integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _distribution(gen, shape, scale=2.0, dtype=torch.float32):
    return torch.softmax(torch.randn(shape, generator=gen, dtype=torch.float64) * scale, -1).to(dtype)


def perturbed_batch(gen, base_rows, shape, positions):
    """Random rows and copies of them with every entry from a random cut on redrawn (the cut
    counted in generation order: ``positions[j]`` is entry j's step), shuffled together: the
    rows that agree before the cut must agree at the outputs before it, and every row is judged
    against the reference, so no row's layout tells a model it is being measured."""
    n = math.prod(shape)
    positions = torch.as_tensor(positions).reshape(n)
    rows = [torch.randn(base_rows, n, generator=gen, dtype=torch.float64)]
    for _ in range(2):
        cut = torch.randint(0, int(positions.max()) + 1, (base_rows, 1), generator=gen)
        noise = torch.randn(base_rows, n, generator=gen, dtype=torch.float64)
        rows.append(torch.where(positions[None, :] >= cut, noise, rows[0]))
    batch = torch.cat(rows)
    return batch[torch.randperm(len(batch), generator=gen)].reshape(len(batch), *shape)


def jacobian(fn, x):
    """``J[i, j] = max_b |∂ fn(x)_b[i] / ∂ x_b[j]|`` by autograd, as the worker measures it."""
    x = x.detach().clone().requires_grad_(True)
    flat = fn(x).reshape(x.shape[0], -1)
    n = flat.shape[1]
    rows = []
    # One batched backward per 64 outputs (the gradients of flat[:, i].sum() for each i at once),
    # not one backward each: the same numbers at less than half the session's time.
    for start in range(0, n, 64):
        picked = torch.eye(n, dtype=flat.dtype)[start:start + 64]
        cotangents = picked[:, None, :].expand(len(picked), *flat.shape)
        grads = torch.autograd.grad(flat, x, cotangents, retain_graph=True, is_grads_batched=True)[0]
        rows.append(grads.reshape(len(picked), x.shape[0], -1).abs().amax(1))
    return torch.cat(rows).detach()


def _sparse(gen, n, example_shape):
    """``n`` binary examples like binarized digits: 5–30 % ones per example and, for images of
    8 × 8 and more, an empty border."""
    x = (torch.rand(n, *example_shape, generator=gen) < torch.rand(n, *[1] * len(example_shape), generator=gen)
         * 0.25 + 0.05).float()
    if len(example_shape) == 3 and min(example_shape[1:]) >= 8:
        border = max(1, min(example_shape[1:]) // 7)
        inside = torch.zeros(example_shape[1:], dtype=torch.bool)
        inside[border:-border, border:-border] = True
        x = x * inside
    return x


def _steps(example_shape, order):
    """The generation step of each entry of an example: raster order over pixels (all channels
    of a pixel at once) for images, ``order`` (default: natural) otherwise."""
    if len(example_shape) == 3:
        c, h, w = example_shape
        return torch.arange(h * w).reshape(1, h, w).expand(c, h, w)
    steps = torch.empty(math.prod(example_shape), dtype=torch.long)
    steps[torch.as_tensor(order if order is not None else range(len(steps)))] = torch.arange(len(steps))
    return steps.reshape(example_shape)


def _chunked(forward, x, rows=16):
    """``forward(x)`` in float64 without autograd, a few rows at a time: the grading session's
    peak memory is the container's, and a float64 convolution of 64 images of 28 × 28 unfolds
    to ~80 MB at once."""
    with torch.no_grad():
        return torch.cat([forward(part.double()) for part in x.split(rows)])


def in_use(gen, forward, example_shape, order=None, rows=32, train_rows=128, eval_rows=128):
    """Batches like those a model meets outside the tests, with ``forward``'s outputs for them.

    ``train``: sparse binary batches like digits, of ``train_rows`` and an uneven last batch,
    given to the model in train mode with autograd on and followed by an optimizer step;
    ``evaluate``: under ``no_grad`` in eval mode, through one input tensor written in place,
    ``rows`` dense binary and real-valued examples, ``eval_rows`` sparse ones, and the samples
    of a sampler at its first step (zeros) and at three random later steps (binary values at
    the positions drawn so far, zeros after). All float32. A model cannot get these right by
    waiting for a sign that it is measured (autograd, float64, train mode, a batch size, values
    that are or are not 0/1, density, parameters never updated, an input never written)."""
    steps = _steps(example_shape, order)
    last = int(steps.max())
    labelled = {
        "train": [(f"a training batch of {train_rows} sparse binary examples", _sparse(gen, train_rows, example_shape)),
                  (f"an uneven last training batch of {train_rows // 3 + 1} examples",
                   _sparse(gen, train_rows // 3 + 1, example_shape))],
        "evaluate": [(f"{rows} dense binary examples", (torch.rand(rows, *example_shape, generator=gen) < 0.5).float()),
                     (f"{rows} real-valued examples", torch.rand(rows, *example_shape, generator=gen)),
                     (f"an evaluation batch of {eval_rows} sparse binary examples",
                      _sparse(gen, eval_rows, example_shape)),
                     (f"a sampler's {rows} samples at its first step (all zero)", torch.zeros(rows, *example_shape))],
    }
    for step in sorted(torch.randint(1, last + 1, (3,), generator=gen).tolist()):
        drawn = (torch.rand(rows, *example_shape, generator=gen) < 0.4).float() * (steps < step)
        labelled["evaluate"].append((f"a sampler's {rows} samples after {step} of {last + 1} steps", drawn))
    return {phase: [{"label": label, "x": x,
                     "out": _chunked(forward, x)}
                    for label, x in batches] for phase, batches in labelled.items()}


# --- cases shared by public and hidden tests ---------------------------------------------------

def made_case(gen, ref, input_dim, hidden_sizes, order, draws=3, base_rows=8):
    """A MADE configuration with ``draws`` sets of float64 weights and inputs, the reference's
    logits and Jacobian for each, and the reference masks."""
    shapes = oracles.made_param_shapes(input_dim, hidden_sizes)
    steps = _steps((input_dim,), order)
    cases = []
    for _ in range(draws):
        params = tables.random_params(shapes, gen)
        x = perturbed_batch(gen, base_rows, (input_dim,), steps)
        forward = lambda inputs: ref.made_forward(input_dim, hidden_sizes, order, params, inputs)  # noqa: E731
        cases.append({"params": params, "x": x, "out": forward(x).detach(), "jacobian": jacobian(forward, x)})
    # with the last draw's weights, which the model holds after the draws
    return {"config": {"input_dim": input_dim, "hidden_sizes": list(hidden_sizes), "order": list(order)},
            "draws": cases, "masks": ref.made_masks(input_dim, hidden_sizes, order),
            "in_use": in_use(gen, forward, (input_dim,), order)}


def pixelcnn_case(gen, ref, image_shape, hidden, layers, kernel, draws=3, base_rows=2):
    """The same for PixelCNN on images of ``image_shape``, with the reference causal masks."""
    channels = image_shape[0]
    config = {"in_channels": channels, "hidden_channels": hidden, "num_layers": layers, "kernel_size": kernel}
    shapes = oracles.pixelcnn_param_shapes(**config)
    raster = _steps(tuple(image_shape), None)
    cases = []
    for _ in range(draws):
        params = tables.random_params(shapes, gen)
        x = perturbed_batch(gen, base_rows, tuple(image_shape), raster)
        forward = lambda inputs: ref.pixelcnn_forward(config, params, inputs)  # noqa: E731
        cases.append({"params": params, "x": x, "out": forward(x).detach(), "jacobian": jacobian(forward, x)})
    return {"config": config, "image_shape": list(image_shape), "draws": cases, "masks": pixelcnn_masks(ref, kernel),
            "in_use": in_use(gen, forward, tuple(image_shape))}


def pixelcnn_masks(ref, kernel):
    """``[{k, type, mask}]``: the causal masks a PixelCNN with ``kernel`` uses."""
    return [{"k": k, "type": t, "mask": ref.causal_mask(k, t)} for k, t in ((kernel, "A"), (kernel, "B"), (1, "B"))]


def nll_case(gen, ref, model, config, input_shape, scale=1.5):
    """Float32 weights of the default-initialisation scale, binary inputs, the reference's
    logits and per-example NLL (``model``: ``"made"`` or ``"pixelcnn"``)."""
    if model == "made":
        shapes = oracles.made_param_shapes(config["input_dim"], config["hidden_sizes"])
    else:
        shapes = oracles.pixelcnn_param_shapes(**config)
    params = {name: p.float() for name, p in tables.random_params(shapes, gen, std=scale).items()}
    x = (torch.rand(input_shape, generator=gen) < 0.4).float()
    if model == "made":
        forward = lambda inputs: ref.made_forward(config["input_dim"], config["hidden_sizes"],  # noqa: E731
                                                  config["order"], params, inputs)
    else:
        forward = lambda inputs: ref.pixelcnn_forward(config, params, inputs)  # noqa: E731
    logits = forward(x)
    return {"model": model, "config": config, "params": params, "x": x, "logits": logits.double(),
            "nll": ref.nll(logits, x).double(),
            "in_use": in_use(gen, forward, tuple(input_shape[1:]), config.get("order") if model == "made" else None)}


# --- models for the samplers: parities that show every wrong sampler ----------------------------
#
# A parity model's entries are fair coins or XORs of earlier entries (flipped by the sign), so every
# value a sampler can produce for it is an affine function over GF(2) of the coins it has drawn:
# an int bitmask, bit 0 the constant 1 and bit i the i-th coin. Two such functions that differ
# disagree on at least half of the coin outcomes, so one symbolic run tells whether 64 samples
# catch a sampler except with probability below 2^-64, and how many bits a sampler that never
# conditions on its samples would have to guess.

GUESS_BITS = 32  # a sampler that learns only the model's logits at one fixed input passes with p < 2^-28


def _parity_params(gen, entries, earlier, coin=1 / 3):
    """Random subsets (each earlier entry with probability 1/2, the entry just before always)
    and signs, a third of them fair coins (the first always), for :class:`ParityMADE` /
    ``ParityPixelCNN``; ``earlier[k]`` lists the entries entry k may depend on."""
    subsets = torch.zeros(entries, entries)
    for k in range(entries):
        if earlier[k]:
            subsets[k, earlier[k]] = (torch.rand(len(earlier[k]), generator=gen) < 0.5).float()
            subsets[k, earlier[k][-1]] = 1.0
    signs = torch.where(torch.rand(entries, generator=gen) < 0.5, -1.0, 1.0)
    coins = torch.rand(entries, generator=gen) < coin
    coins[0] = True
    return subsets, torch.where(coins, torch.zeros_like(signs), signs)


def _decide(subsets, signs, values, k):
    """Entry k's value (an affine bitmask, or a plain 0/1) given the values of the entries before
    it; None for a fair coin. The logit ``s · prod(1 - 2 x_j)`` is positive iff
    ``[s > 0] XOR (XOR of the x_j)``."""
    if signs[k] == 0:
        return None
    value = int(signs[k] > 0)
    for j in subsets[k].nonzero().flatten().tolist():
        value ^= values[j]
    return value


def _coin_masks():
    bit = 1
    while True:
        bit <<= 1
        yield bit


def _caught(subsets, signs, sampler):
    """True if ``sampler`` (``fn(coins) -> values`` in generation order, ``coins`` an iterator it
    takes its fair coins from) makes an impossible sample for at least half of its coin outcomes:
    some non-coin entry's value is not the model's function of the entries before it."""
    values = sampler(_coin_masks())
    return any(signs[k] != 0 and _decide(subsets, signs, values, k) != values[k] for k in range(len(signs)))


def _rank(vectors):
    """Rank over GF(2) of int bitmasks."""
    basis = []
    for v in vectors:
        for b in basis:
            v = min(v, v ^ b)
        if v:
            basis.append(v)
    return len(basis)


def guess_bits(subsets, signs, earlier):
    """How many bits a sampler must guess that knows the model's logits at one fixed input (which
    entries are coins, and each sign) but not the subsets: given the earlier entries' functions,
    entry k's is uniform over a coset of the span of those it may depend on other than the one it
    always depends on (each is in the subset with probability 1/2), so the guess at k is right with
    probability 2^-rank. The sum over the entries is -log2 of the chance to guess them all."""
    values, coins, total = [], _coin_masks(), 0
    for k in range(len(signs)):
        value = _decide(subsets, signs, values, k)
        if value is None:
            value = next(coins)
        else:
            total += _rank([values[j] for j in earlier[k][:-1]])
        values.append(value)
    return total


def _draws(what):
    """Tries for a parity model; a shape too small for ``GUESS_BITS`` is a bug in the test."""
    for _ in range(1000):
        yield
    raise ValueError(f"no {what} in 1000 draws leaves {GUESS_BITS} bits to guess: use a larger one")


def _acceptable(subsets, signs, earlier, wrong):
    return guess_bits(subsets, signs, earlier) >= GUESS_BITS and all(_caught(subsets, signs, w) for w in wrong)


def parity_made(gen, size):
    """``{"order", "subsets", "signs"}`` of a :class:`~tests.probes.doubles.ParityMADE` that
    catches a sampler ignoring ``order``, using its inverse, or ignoring the earlier samples, and
    leaves a sampler that does not condition on its samples at least ``GUESS_BITS`` to guess."""
    earlier = [list(range(i)) for i in range(size)]
    for _ in _draws(f"ParityMADE of {size} variables"):
        order = random_order(gen, size)
        subsets, signs = _parity_params(gen, size, earlier)
        step = {d: i for i, d in enumerate(order)}

        def in_sequence(sequence, zeros=False):
            def run(coins):
                by_variable = [0] * size
                for d in sequence:
                    values = [0] * size if zeros else [by_variable[order[j]] for j in range(size)]
                    bit = _decide(subsets, signs, values, step[d])
                    by_variable[d] = next(coins) if bit is None else bit
                return [by_variable[order[j]] for j in range(size)]  # in generation order
            return run

        inverse = sorted(range(size), key=lambda d: order[d])
        wrong = [in_sequence(range(size)), in_sequence(inverse), in_sequence(order, zeros=True)]
        if _acceptable(subsets, signs, earlier, wrong):
            return {"order": order, "subsets": subsets, "signs": signs}


def parity_pixelcnn(gen, image_shape):
    """The same for a :class:`~tests.probes.doubles.ParityPixelCNN`: catches column-major
    order, ignoring the earlier pixels, and drawing the first channel only."""
    channels, height, width = image_shape
    entries = channels * height * width
    earlier = [list(range((k // channels) * channels)) for k in range(entries)]
    for _ in _draws(f"ParityPixelCNN of shape {tuple(image_shape)}"):
        subsets, signs = _parity_params(gen, entries, earlier)

        def in_pixels(pixels, zeros=False, first_only=False):
            def run(coins):
                values = [0] * entries
                for p in pixels:
                    seen = [0] * entries if zeros else list(values)
                    for ch in range(1 if first_only else channels):
                        k = p * channels + ch
                        bit = _decide(subsets, signs, seen, k)
                        values[k] = next(coins) if bit is None else bit
                return values
            return run

        raster = range(height * width)
        column_major = [r * width + c for c in range(width) for r in range(height)]
        wrong = [in_pixels(raster, zeros=True)]
        if height > 1 and width > 1:
            wrong.append(in_pixels(column_major))
        if channels > 1:
            wrong.append(in_pixels(raster, first_only=True))
        if _acceptable(subsets, signs, earlier, wrong):
            return {"image_shape": list(image_shape), "subsets": subsets, "signs": signs}


def sample_made(gen, ref):
    return parity_made(gen, _randint(gen, 14, 16))


def sample_pixelcnn(gen, ref):
    return parity_pixelcnn(gen, (2, 3, _randint(gen, 3, 4)))


def random_order(gen, n):
    """A random order that is not its own inverse (so not the identity either): reading
    ``order`` as the degrees, or ignoring it, gives other masks."""
    while True:
        order = torch.randperm(n, generator=gen)
        if not torch.equal(order[order], torch.arange(n)):
            return order.tolist()


# --- one draw function per public example --------------------------------------------------------

def kl_divergence(gen, ref):
    shape = (_randint(gen, 2, 5), _randint(gen, 3, 8))
    p, q = _distribution(gen, shape), _distribution(gen, shape)
    return {"p": p, "q": q, "out": ref.kl(p, q).float()}


def kl_divergence_logits(gen, ref):
    shape = (_randint(gen, 2, 5), _randint(gen, 3, 8))
    lp, lq = (torch.randn(shape, generator=gen) * 2 for _ in range(2))
    return {"lp": lp, "lq": lq, "shift": round(float(torch.rand((), generator=gen)) * 8 - 4, 3),
            "out": ref.kl_logits(lp, lq).float()}


def gaussian_kl(gen, ref):
    n = _randint(gen, 4, 9)
    mu_p, logvar_p, mu_q, logvar_q = (torch.randn(n, generator=gen) for _ in range(4))
    return {"mu_p": mu_p, "logvar_p": logvar_p, "mu_q": mu_q, "logvar_q": logvar_q,
            "out": ref.gaussian_kl(mu_p, logvar_p, mu_q, logvar_q).float()}


def bernoulli_nll(gen, ref):
    shape = (_randint(gen, 2, 6), 1, _randint(gen, 2, 4), _randint(gen, 2, 5))
    # Moderate logits: a naive log(sigmoid) is accurate to float32 here, so it loses points only
    # where stability is what the test asks for (2.3, 2.4), whatever the grading key draws.
    logits = torch.rand(shape, generator=gen) * 10 - 5
    x = (torch.rand(shape, generator=gen) < 0.5).float()
    return {"logits": logits, "x": x, "out": ref.nll(logits, x).float()}


def bits_per_dim(gen, ref):
    nll = (torch.rand(_randint(gen, 2, 4), generator=gen) * 600 + 20).round(decimals=2)
    num_dims = _randint(gen, 10, 1000)
    num_dims += num_dims == 784  # not MNIST's: a hard-coded 784 must not pass
    return {"nll": nll, "num_dims": num_dims, "out": ref.bits_per_dim(nll.double(), num_dims).float()}


def made_degrees(gen, ref):
    input_dim = _randint(gen, 3, 6)
    hidden = [_randint(gen, input_dim, 2 * input_dim + 1) for _ in range(2)]  # k mod (D - 1) wraps
    args = [input_dim, hidden, random_order(gen, input_dim)]
    return {"args": args, "out": [d.long() for d in ref.made_degrees(*args)]}


def made_masks(gen, ref):
    input_dim = _randint(gen, 3, 6)
    args = [input_dim, [_randint(gen, input_dim, 2 * input_dim)], random_order(gen, input_dim)]
    return {"args": args, "out": [m.float() for m in ref.made_masks(*args)]}


def masked_linear(gen, ref):
    fan_in, fan_out = _randint(gen, 3, 7), _randint(gen, 2, 6)
    params = {"weight": torch.randn(fan_out, fan_in, generator=gen) / math.sqrt(fan_in),
              "bias": torch.randn(fan_out, generator=gen) * 0.5}
    mask = (torch.rand(fan_out, fan_in, generator=gen) < 0.5).float()
    mask[_randint(gen, 0, fan_out - 1)] = 0.0  # an output that sees no input: it must equal its bias
    x = torch.randn(_randint(gen, 2, 5), fan_in, generator=gen)
    return {"in_features": fan_in, "out_features": fan_out, "params": params, "mask": mask, "x": x,
            "out": ref.masked_linear(params, mask, x).float()}


def made_autoregressive(gen, ref):
    """A MADE with one hidden layer in natural order and one with two in a random order."""
    d1, d2 = _randint(gen, 4, 6), _randint(gen, 4, 6)
    return [made_case(gen, ref, d1, [2 * d1 + 2], list(range(d1))),
            made_case(gen, ref, d2, [2 * d2, 2 * d2 - 1], random_order(gen, d2))]


def causal_mask(gen, ref):
    """Types A and B for two odd kernel sizes: 3 and 5 in the recorded examples, two from 7 to
    17 on the grader (a causal mask holds every smaller one at its centre, so the grader asks
    only for sizes larger than any the handout records)."""
    sizes = sorted(7 + 2 * s for s in torch.randperm(6, generator=gen)[:2].tolist()) if ref.fresh else [3, 5]
    return [{"k": k, "type": t, "out": ref.causal_mask(k, t)} for k in sizes for t in "AB"]


def masked_conv(gen, ref):
    mask_type = "AB"[_randint(gen, 0, 1)]
    # Beyond 3 (padding 1 is wrong there), and recorded at 5 only: no recorded mask is larger
    # than the recorded causal masks (a larger one holds every smaller one at its centre).
    c_in, c_out, k = _randint(gen, 1, 3), _randint(gen, 1, 4), (5, 7)[_randint(gen, 0, 1)] if ref.fresh else 5
    params = {"weight": torch.randn(c_out, c_in, k, k, generator=gen) / k,
              "bias": torch.randn(c_out, generator=gen) * 0.5}
    x = torch.randn(_randint(gen, 1, 3), c_in, _randint(gen, k, 7), _randint(gen, k, 7), generator=gen)
    mask = oracles.causal_mask(k, mask_type)
    return {"type": mask_type, "in_channels": c_in, "out_channels": c_out, "kernel_size": k, "params": params,
            "mask": mask, "x": x, "out": ref.masked_conv(params, mask, x).float()}


def pixelcnn_autoregressive(gen, ref):
    size = _randint(gen, 4, 6)
    return pixelcnn_case(gen, ref, (1, size, size), hidden=6, layers=2, kernel=3)


def pixelcnn_nll(gen, ref):
    config = {"in_channels": 1, "hidden_channels": 8, "num_layers": 2, "kernel_size": 5}
    return {**nll_case(gen, ref, "pixelcnn", config, [_randint(gen, 3, 6), 1, 6, 6]), "masks": pixelcnn_masks(ref, 5)}


def standin(gen):
    """Constants of the stand-in likelihood for one test: no fixed loss passes for it."""
    return {"scale": round(0.5 + 1.5 * float(torch.rand((), generator=gen)), 4),
            "shift": round(float(torch.rand((), generator=gen)) - 0.5, 4),
            "base": round(1.2 + 0.8 * float(torch.rand((), generator=gen)), 4)}


def _training(gen, ref, name, sizes, shape):
    example = {"sizes": sizes, "shape": list(shape), "seed": _randint(gen, 0, 2**30),
               "model_seed": _randint(gen, 0, 2**30), "lr": 0.1, "standin": standin(gen)}
    batches = tables.binary_batches(sizes, shape, example["seed"])
    example["variants"] = {variant: getattr(ref, name)(variant, example["standin"], math.prod(shape),
                                                       example["model_seed"], batches, example["lr"])
                           for variant in oracles.VARIANTS}
    return example


def train_epoch(gen, ref):
    sizes = [_randint(gen, 3, 5), _randint(gen, 3, 5), _randint(gen, 1, 2)]
    return _training(gen, ref, "train_epoch", sizes, (_randint(gen, 4, 7),))


def evaluate(gen, ref):
    sizes = [_randint(gen, 3, 5), _randint(gen, 3, 5), _randint(gen, 1, 2)]
    return _training(gen, ref, "evaluate", sizes, (1, _randint(gen, 2, 3), _randint(gen, 2, 3)))


DRAWS = {fn.__name__: fn for fn in (
    kl_divergence, kl_divergence_logits, gaussian_kl, bernoulli_nll, bits_per_dim, made_degrees, made_masks,
    masked_linear, made_autoregressive, causal_mask, masked_conv, pixelcnn_autoregressive, pixelcnn_nll,
    sample_made, sample_pixelcnn, train_epoch, evaluate)}


# --- the two references ----------------------------------------------------------------------------

def oracle_train_epoch(variant, standin, num_dims, model_seed, batches, lr):
    from tests.probes import doubles

    model = doubles.Linear(num_dims, model_seed)
    loss = oracles.train_epoch(model, batches, torch.optim.SGD(model.parameters(), lr=lr),
                               oracles.losses(standin)[variant])
    return {"loss": loss, "params": {n: p.detach().clone() for n, p in model.named_parameters()}}


def oracle_evaluate(variant, standin, num_dims, model_seed, batches, lr=None):
    from tests.probes import doubles

    nll = oracles.evaluate(doubles.Linear(num_dims, model_seed), batches, oracles.losses(standin)[variant])
    return {"nll": nll, "bits_per_dim": oracles.bits(variant, nll, num_dims, standin)}



class OracleReference:
    """The grader-only oracles under the names the draw functions use."""

    fresh = True  # the grader's draws: never an input whose output the handout records

    kl, kl_logits, gaussian_kl = staticmethod(oracles.kl), staticmethod(oracles.kl_logits), \
        staticmethod(oracles.gaussian_kl)
    nll, bits_per_dim = staticmethod(oracles.nll), staticmethod(oracles.bits_per_dim)
    made_degrees, made_masks = staticmethod(oracles.made_degrees), staticmethod(oracles.made_masks)
    masked_linear, made_forward = staticmethod(oracles.masked_linear), staticmethod(oracles.made_forward)
    causal_mask, masked_conv = staticmethod(oracles.causal_mask), staticmethod(oracles.masked_conv)
    pixelcnn_forward = staticmethod(oracles.pixelcnn_forward)
    train_epoch, evaluate = staticmethod(oracle_train_epoch), staticmethod(oracle_evaluate)


class Fresh:
    """The grader's source of examples and generators (see :mod:`tests.support.examples`)."""

    fresh = True

    def __init__(self, key):
        self.key = bytes(key)

    def seed(self, test, *labels):
        message = repr((str(test), *(str(label) for label in labels))).encode()
        return int.from_bytes(hmac.new(self.key, message, hashlib.sha256).digest()[:8], "big") >> 1

    def generator(self, test, *labels):
        return torch.Generator().manual_seed(self.seed(test, *labels))

    def example(self, test, name):
        """A fresh example; never one whose inputs the handout records with their outputs
        (for the examples with discrete inputs, which a draw could hit)."""
        if name not in DRAWS:
            raise LookupError(f"no example named {name!r}")
        recorded = _recorded().get(name) if name in DISCRETE else None
        for attempt in range(100):
            drawn = DRAWS[name](self.generator(test, "example", name, attempt), OracleReference)
            if recorded is None or drawn[DISCRETE[name]] != recorded[DISCRETE[name]]:
                return drawn
        raise RuntimeError(f"could not draw a fresh {name} example")


# Examples whose inputs are discrete: the key under which they live.
DISCRETE = {"made_degrees": "args", "made_masks": "args"}


def _recorded():
    from tests.support import examples as public

    return public.Recorded().all()
