"""Hidden tests of sampling.py (section 5), on test-side models.

The models (small networks per position, :mod:`tests.probes.doubles`) are built in the worker
from weights drawn for this upload; the session builds the same models locally for their
exact distributions and to tell possible samples from impossible ones. Every verdict is computed here from the samples and outputs the
worker sends back: how the sampler calls the model (under no_grad, in eval mode, without
torch's global generator) shows in the samples of models that watch for it.
"""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from autograder import examples, oracles
from tests.probes import doubles
from tests.support import checks, tables
from tests.support.client import Seeded

MADE_SIZE = 4
IMAGE = (1, 3, 3)
PARITY_MADE_SIZE = 14   # large enough for examples.GUESS_BITS
PARITY_IMAGE = (2, 3, 3)


def check_distribution(samples, model, num_bits, what, hint):
    """Compare the empirical distribution of ``samples`` (N, num_bits) with the exact one of
    ``model``, a sampling double built in this process."""
    flat = checks.samples(samples, what).reshape(samples.shape[0], -1).double().cpu()
    outcomes = tables.enumerate_binary(num_bits)
    if isinstance(model, doubles.NetPixelCNN):
        exact = oracles.double_log_prob(model, outcomes.reshape(-1, *model.image_shape)).exp()
    else:
        exact = oracles.double_log_prob(model, outcomes).exp()
    codes = (flat.long() * (2 ** torch.arange(num_bits))).sum(1)
    empirical = torch.bincount(codes, minlength=2 ** num_bits).double() / flat.shape[0]
    l1 = float((empirical - exact).abs().sum())
    bound = tables.l1_bound(2 ** num_bits, flat.shape[0])
    if l1 > bound:
        worst = int((empirical - exact).abs().argmax())
        checks.fail(f"{what}: the samples do not follow the model's distribution. L1 distance between the "
                    f"empirical and the exact distribution is {l1:.3f} (a correct sampler stays below "
                    f"{bound:.3f} except with probability 1e-7). E.g. outcome {outcomes[worst].long().tolist()} "
                    f"has probability {float(exact[worst]):.4f} but appears with frequency "
                    f"{float(empirical[worst]):.4f}.\nHint: {hint}")


@weight(1)
@number("5.3")
@visibility("after_published")
@tags("sampling", "sample_made", "statistics")
def test_sample_made_distribution(worker, ex):
    """sample_made: 20000 samples follow the exact joint distribution of a 4-variable model"""
    sampling = worker.load("sampling")
    gen = ex.generator("model")
    order = examples.random_order(gen, MADE_SIZE)
    params = tables.net_params(MADE_SIZE, 1, gen)
    model = worker.double("NetMADE", order, params, scale=3.0)
    what = f"sample_made(model, 20000, generator) on a 4-variable model with order={order}"
    samples = sampling.sample_made(model, 20000, Seeded(ex.seed("sampler")), what=what)
    checks.tensor(samples, what, shape=(20000, MADE_SIZE))
    check_distribution(samples, doubles.NetMADE(order, params, scale=3.0), MADE_SIZE, what,
                       "each x[order[i]] ~ Bernoulli(sigmoid(model(x)[:, order[i]])) computed from the samples "
                       "drawn so far; compare uniform noise with the probability (u < p gives 1).")


@weight(1)
@number("5.4")
@visibility("after_published")
@tags("sampling", "sample_pixelcnn", "statistics")
def test_sample_pixelcnn_distribution(worker, ex):
    """sample_pixelcnn: 40000 samples of 3x3 images follow the exact joint distribution"""
    sampling = worker.load("sampling")
    params = tables.net_params(9, 1, ex.generator("model"))
    model = worker.double("NetPixelCNN", IMAGE, params, scale=3.0)
    what = "sample_pixelcnn(model, 40000, (1, 3, 3), generator)"
    samples = sampling.sample_pixelcnn(model, 40000, IMAGE, Seeded(ex.seed("sampler")), what=what)
    checks.tensor(samples, what, shape=(40000, *IMAGE))
    check_distribution(samples, doubles.NetPixelCNN(IMAGE, params, scale=3.0), 9, what,
                       "pixel (r, c) ~ Bernoulli(sigmoid(model(x)[:, :, r, c])) from a forward pass on the image "
                       "sampled so far; go row by row, left to right.")


class Sampler:
    """One of the two samplers with a parity model of its kind that shows every wrong sampler
    (:func:`autograder.examples.parity_made`), drawn for this test."""

    def __init__(self, worker, sampling, name, gen):
        self.worker, self.name, self.fn = worker, name, getattr(sampling, name)
        if name == "sample_made":
            e = examples.parity_made(gen, PARITY_MADE_SIZE)
            self.args, self.extra, self.shape = (e["order"], e["subsets"], e["signs"]), (), (PARITY_MADE_SIZE,)
            self.kind, self.local = "ParityMADE", doubles.ParityMADE(*self.args)
        else:
            e = examples.parity_pixelcnn(gen, PARITY_IMAGE)
            self.args, self.extra, self.shape = (PARITY_IMAGE, e["subsets"], e["signs"]), (PARITY_IMAGE,), PARITY_IMAGE
            self.kind, self.local = "ParityPixelCNN", doubles.ParityPixelCNN(*self.args)

    def model(self, watch=()):
        return self.worker.double(self.kind, *self.args, watch=list(watch))

    def run(self, model, n, what, *generator):
        out = self.fn(model, n, *self.extra, *generator, what=what)
        return checks.samples(out, what, shape=(n, *self.shape))

    def wrong(self, samples):
        """How many samples the model cannot generate."""
        return len(tables.impossible(self.local, samples))

    def describe(self, n, generator="generator"):
        return f"{self.name}(model, {n}{', ' + str(self.shape) if self.extra else ''}{', ' + generator if generator else ''})"

    def probe_logits(self, model, what):
        """The model's logits on a fixed input, called by the test (not the sampler), and the
        logits it has when no rule is broken."""
        x = torch.zeros(2, *self.shape)
        x[1] = 1.0
        return checks.with_data(self.worker.call(model, x, what=what), what, shape=x.shape), \
            self.local(x).detach()


def samplers(worker, sampling, gen):
    return [Sampler(worker, sampling, name, gen) for name in ("sample_made", "sample_pixelcnn")]


@weight(1)
@number("5.5")
@visibility("after_published")
@tags("sampling", "randomness")
def test_samplers_take_all_randomness_from_generator(worker, ex):
    """sample_made, sample_pixelcnn: samples follow the model; same seed, same samples; the global RNG is untouched"""
    sampling = worker.load("sampling")
    s1, s2 = ex.seed("first"), ex.seed("second")
    for sampler in samplers(worker, sampling, ex.generator("models")):
        what = sampler.describe(64)
        model = sampler.model()
        a = sampler.run(model, 64, what, Seeded(s1))
        wrong = sampler.wrong(a)
        if wrong:
            checks.fail(f"{what}: {wrong} of 64 samples are impossible for the model (they contradict a logit of "
                        "±50 given their earlier positions).\nHint: draw each position from the model's output on the "
                        "samples drawn so far, in generation order.")
        b = sampler.run(model, 64, what, Seeded(s1))
        if not torch.equal(a, b):
            checks.fail(f"{what} gave different samples for two generators with the same seed.")
        c = sampler.run(model, 64, what, Seeded(s2))
        if torch.equal(a, c):
            checks.fail(f"{what} gave identical samples for two different seeds; the generator is not used.")
        # A model that sees torch's global generator move between its forward calls negates its logits.
        watching = sampler.model(watch=["rng"])
        worker.method(watching, "arm", ex.seed("global"), what="seeding torch's global generator")
        d = sampler.run(watching, 64, what, Seeded(s1))
        logits, expected = sampler.probe_logits(watching, "the test model after sampling")
        if sampler.wrong(d) or not torch.equal(logits.double(), expected.double()):
            checks.fail(f"{what} used torch's global random number generator. Take every random number from "
                        "`generator` (torch.rand(..., generator=generator)); torch.bernoulli(p) without a "
                        "generator uses the global one.")
        what = sampler.describe(16, generator="")
        wrong = sampler.wrong(sampler.run(model, 16, what))
        if wrong:
            checks.fail(f"{what} (no generator: the default None): {wrong} of 16 samples cannot come from the model.")


@weight(0.5)
@number("5.6")
@visibility("after_published")
@tags("sampling", "no_grad", "mode")
def test_samplers_no_grad_eval_and_restore_mode(worker, ex):
    """sample_made, sample_pixelcnn: sample in eval mode under no_grad; restore the model's train/eval mode"""
    sampling = worker.load("sampling")
    for sampler in samplers(worker, sampling, ex.generator("models")):
        what = sampler.describe(64)
        if sampler.wrong(sampler.run(sampler.model(), 64, what, Seeded(0))):
            checks.fail(f"{what}: some samples are impossible for a model that watches nothing, so this test cannot "
                        "tell how the model was called; make the samples follow the model first (tests 5.1 and 5.2).")
        # Each model negates its logits while the rule it watches is broken: the samples show it.
        grad_watch = sampler.model(watch=["grad"])
        worker.method(grad_watch, "train", False, what="the test model's eval()")
        what = sampler.describe(64)
        if sampler.wrong(sampler.run(grad_watch, 64, what, Seeded(0))):
            checks.fail(f"{what}: the model was called with autograd on (its samples came out wrong for a "
                        "deterministic model that notices); wrap sampling in torch.no_grad().")
        for training in (True, False):
            mode = "train" if training else "eval"
            train_watch = sampler.model(watch=["train"])
            worker.method(train_watch, "train", training, what=f"the test model's train({training})")
            what = f"{sampler.describe(64)} on a model in {mode} mode"
            if sampler.wrong(sampler.run(train_watch, 64, what, Seeded(0))):
                checks.fail(f"{what}: the model was called in train mode (its samples came out wrong for a "
                            "deterministic model that notices); call model.eval() before sampling.")
            logits, reference = sampler.probe_logits(train_watch, "the test model after sampling")
            if not torch.equal(logits.double(), reference.double() * (-1 if training else 1)):
                checks.fail(f"{what}: afterwards the model is not in {mode} mode any more; remember model.training "
                            "before switching to eval and restore it (model.train(was_training)).")


@weight(0.5)
@number("5.7")
@visibility("after_published")
@tags("sampling", "devices")
def test_samples_on_model_device_and_dtype(worker, ex):
    """sample_made, sample_pixelcnn: samples follow the model, on the model's device and in its dtype"""
    sampling = worker.load("sampling")
    targets = [("cpu", torch.float64), ("meta", torch.float32)]
    if torch.cuda.is_available():
        targets.append(("cuda", torch.float32))
    for sampler in samplers(worker, sampling, ex.generator("models")):
        model = sampler.model()
        for device, dtype in targets:
            what = f"{sampler.describe(64)} with a model whose parameters are {dtype} on '{device}'"
            moved = worker.convert(model, f"the test model moved to {dtype} on '{device}'", device=torch.device(device),
                                   dtype=dtype)
            generator = Seeded(0, "cuda" if device == "cuda" else "cpu")  # a generator on the model's device
            out = checks.tensor(sampler.fn(moved, 64, *sampler.extra, generator, what=what), what,
                                shape=(64, *sampler.shape), dtype=dtype, device=device)
            if device != "meta" and sampler.wrong(checks.samples(out, what).cpu()):
                checks.fail(f"{what}: some samples are impossible for the model (they contradict a logit of ±50 "
                            "given their earlier positions).")
