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
    rows = [torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True)[0].reshape(x.shape[0], -1).abs().amax(0)
            for i in range(flat.shape[1])]
    return torch.stack(rows).detach()


# --- cases shared by public and hidden tests ---------------------------------------------------

def made_case(gen, ref, input_dim, hidden_sizes, order, draws=3, base_rows=8):
    """A MADE configuration with ``draws`` sets of float64 weights and inputs, the reference's
    logits and Jacobian for each, and the reference masks."""
    shapes = oracles.made_param_shapes(input_dim, hidden_sizes)
    steps = torch.empty(input_dim, dtype=torch.long)
    steps[torch.as_tensor(order)] = torch.arange(input_dim)
    cases = []
    for _ in range(draws):
        params = tables.random_params(shapes, gen)
        x = perturbed_batch(gen, base_rows, (input_dim,), steps)
        forward = lambda inputs: ref.made_forward(input_dim, hidden_sizes, order, params, inputs)  # noqa: E731
        cases.append({"params": params, "x": x, "out": forward(x).detach(), "jacobian": jacobian(forward, x)})
    return {"config": {"input_dim": input_dim, "hidden_sizes": list(hidden_sizes), "order": list(order)},
            "draws": cases, "masks": ref.made_masks(input_dim, hidden_sizes, order)}


def pixelcnn_case(gen, ref, image_shape, hidden, layers, kernel, draws=3, base_rows=2):
    """The same for PixelCNN on images of ``image_shape``, with the reference causal masks."""
    channels, height, width = image_shape
    config = {"in_channels": channels, "hidden_channels": hidden, "num_layers": layers, "kernel_size": kernel}
    shapes = oracles.pixelcnn_param_shapes(**config)
    raster = torch.arange(height * width).reshape(1, height, width).expand(channels, height, width)
    cases = []
    for _ in range(draws):
        params = tables.random_params(shapes, gen)
        x = perturbed_batch(gen, base_rows, tuple(image_shape), raster)
        forward = lambda inputs: ref.pixelcnn_forward(config, params, inputs)  # noqa: E731
        cases.append({"params": params, "x": x, "out": forward(x).detach(), "jacobian": jacobian(forward, x)})
    return {"config": config, "image_shape": list(image_shape), "draws": cases, "masks": pixelcnn_masks(ref, kernel)}


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
        logits = ref.made_forward(config["input_dim"], config["hidden_sizes"], config["order"], params, x)
    else:
        logits = ref.pixelcnn_forward(config, params, x)
    return {"model": model, "config": config, "params": params, "x": x, "logits": logits.double(),
            "nll": ref.nll(logits, x).double()}


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
    logits = torch.randn(shape, generator=gen) * 3
    x = (torch.rand(shape, generator=gen) < 0.5).float()
    return {"logits": logits, "x": x, "out": ref.nll(logits, x).float()}


def bits_per_dim(gen, ref):
    nll = (torch.rand(_randint(gen, 2, 4), generator=gen) * 600 + 20).round(decimals=2)
    num_dims = _randint(gen, 10, 1000)
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
    """Types A and B for two odd kernel sizes from 3 to 13."""
    sizes = sorted(3 + 2 * s for s in torch.randperm(6, generator=gen)[:2].tolist())
    return [{"k": k, "type": t, "out": ref.causal_mask(k, t)} for k in sizes for t in "AB"]


def masked_conv(gen, ref):
    mask_type = "AB"[_randint(gen, 0, 1)]
    c_in, c_out, k = _randint(gen, 1, 3), _randint(gen, 1, 4), (5, 7)[_randint(gen, 0, 1)]  # padding 1 is wrong
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


def _training(gen, ref, name, sizes, shape):
    example = {"sizes": sizes, "shape": list(shape), "seed": _randint(gen, 0, 2**30),
               "model_seed": _randint(gen, 0, 2**30), "lr": 0.1}
    batches = tables.binary_batches(sizes, shape, example["seed"])
    example["variants"] = {variant: getattr(ref, name)(variant, math.prod(shape), example["model_seed"], batches,
                                                       example["lr"])
                           for variant in oracles.LOSSES}
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
    train_epoch, evaluate)}


# --- the two references ----------------------------------------------------------------------------

def oracle_train_epoch(variant, num_dims, model_seed, batches, lr):
    from tests.probes import doubles

    model = doubles.Linear(num_dims, model_seed)
    loss = oracles.train_epoch(model, batches, torch.optim.SGD(model.parameters(), lr=lr), oracles.LOSSES[variant])
    return {"loss": loss, "params": {n: p.detach().clone() for n, p in model.named_parameters()}}


def oracle_evaluate(variant, num_dims, model_seed, batches, lr=None):
    from tests.probes import doubles

    nll = oracles.evaluate(doubles.Linear(num_dims, model_seed), batches, oracles.LOSSES[variant])
    return {"nll": nll, "bits_per_dim": oracles.bits(variant, nll, num_dims)}



class OracleReference:
    """The grader-only oracles under the names the draw functions use."""

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
        if name not in DRAWS:
            raise LookupError(f"no example named {name!r}")
        return DRAWS[name](self.generator(test, "example", name), OracleReference)
