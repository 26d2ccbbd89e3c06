"""Hidden tests of sampling.py (section 5), on test-side table models.

The table models are built in the worker (:mod:`tests.probes.doubles`); the session builds the
same models locally for their exact distributions. Every verdict is computed here from the
samples, random draws and call records the worker sends back.
"""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from autograder import oracles
from tests.probes import doubles
from tests.support import checks, tables
from tests.support.client import Seeded, TensorInfo

MADE_ORDER = [3, 1, 0, 2]
IMAGE = (1, 3, 3)


def made_tables(seed=31):
    return tables.random_tables(4, 1, torch.Generator().manual_seed(seed))


def pixel_tables(seed=32):
    return tables.random_tables(9, 1, torch.Generator().manual_seed(seed))


def made_model(worker):
    """The 4-variable table model, in the worker (a handle)."""
    return worker.double("TableMADE", MADE_ORDER, made_tables())


def pixel_model(worker):
    """The 3x3 table model, in the worker (a handle)."""
    return worker.double("TablePixelCNN", IMAGE, pixel_tables())


def with_data(value, what, shape=None):
    """``value`` as a tensor holding values (not a meta tensor's shape only)."""
    value = checks.tensor(value, what, shape=shape)
    if isinstance(value, TensorInfo):
        checks.fail(f"{what} returned a tensor without data (on '{value.device}'), expected samples.")
    return value


def check_distribution(samples, model, num_bits, what, hint):
    """Compare the empirical distribution of ``samples`` (N, num_bits) with the exact one of
    ``model``, a table double built in this process."""
    flat = with_data(samples, what).reshape(samples.shape[0], -1).double().cpu()
    if not bool(((flat == 0) | (flat == 1)).all()):
        checks.fail(f"{what}: samples must be 0. or 1. (Bernoulli draws), got values like "
                    f"{flat[(flat != 0) & (flat != 1)][:3].tolist()}.")
    outcomes = tables.enumerate_binary(num_bits)
    if isinstance(model, doubles.TablePixelCNN):
        exact = oracles.table_log_prob(model, outcomes.reshape(-1, *model.image_shape)).exp()
    else:
        exact = oracles.table_log_prob(model, outcomes).exp()
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
def test_sample_made_distribution(worker):
    """sample_made: 20000 samples follow the exact joint distribution of a 4-variable model"""
    sampling = worker.load("sampling")
    model = made_model(worker)
    what = f"sample_made(model, 20000, generator) on a 4-variable model with order={MADE_ORDER}"
    samples = sampling.sample_made(model, 20000, Seeded(3), what=what)
    checks.tensor(samples, what, shape=(20000, 4))
    check_distribution(samples, doubles.TableMADE(MADE_ORDER, made_tables()), 4, what,
                       "each x[order[i]] ~ Bernoulli(sigmoid(model(x)[:, order[i]])) computed from the samples "
                       "drawn so far; compare uniform noise with the probability (u < p gives 1).")


@weight(1)
@number("5.4")
@visibility("after_published")
@tags("sampling", "sample_pixelcnn", "statistics")
def test_sample_pixelcnn_distribution(worker):
    """sample_pixelcnn: 40000 samples of 3x3 images follow the exact joint distribution"""
    sampling = worker.load("sampling")
    model = pixel_model(worker)
    what = "sample_pixelcnn(model, 40000, (1, 3, 3), generator)"
    samples = sampling.sample_pixelcnn(model, 40000, IMAGE, Seeded(4), what=what)
    checks.tensor(samples, what, shape=(40000, *IMAGE))
    check_distribution(samples, doubles.TablePixelCNN(IMAGE, pixel_tables()), 9, what,
                       "pixel (r, c) ~ Bernoulli(sigmoid(model(x)[:, :, r, c])) from a forward pass on the image "
                       "sampled so far; go row by row, left to right.")


def samplers(worker, sampling):
    """(name, sampler, model handle, extra arguments) for both samplers."""
    return (("sample_made", sampling.sample_made, made_model(worker), ()),
            ("sample_pixelcnn", sampling.sample_pixelcnn, pixel_model(worker), (IMAGE,)))


@weight(1)
@number("5.5")
@visibility("after_published")
@tags("sampling", "randomness")
def test_samplers_take_all_randomness_from_generator(worker):
    """sample_made, sample_pixelcnn: same seed, same samples; the global RNG is untouched"""
    sampling = worker.load("sampling")
    # What torch's global generator yields after torch.manual_seed(1234) if nothing else draws from it.
    untouched = torch.rand(8, generator=torch.Generator().manual_seed(1234))
    for name, fn, model, extra in samplers(worker, sampling):
        what = f"{name}(model, 64{', ' + str(IMAGE) if extra else ''}, generator)"
        worker.rng(seed=1234)
        a = with_data(fn(model, 64, *extra, Seeded(7), what=what), what)
        drawn = worker.rng(draw=8)
        if not torch.equal(checks.tensor(drawn, "torch.rand(8) after the sampler"), untouched):
            checks.fail(f"{what} used torch's global random number generator. Take every random number from "
                        "`generator` (torch.rand(..., generator=generator)); torch.bernoulli(p) without a "
                        "generator uses the global one.")
        b = with_data(fn(model, 64, *extra, Seeded(7), what=what), what)
        c = with_data(fn(model, 64, *extra, Seeded(8), what=what), what)
        if a.shape != b.shape or not torch.equal(a, b):
            checks.fail(f"{what} gave different samples for two generators with the same seed.")
        if a.shape == c.shape and torch.equal(a, c):
            checks.fail(f"{what} gave identical samples for seeds 7 and 8; the generator is not used.")


@weight(0.5)
@number("5.6")
@visibility("after_published")
@tags("sampling", "no_grad", "mode")
def test_samplers_no_grad_and_restore_mode(worker):
    """sample_made, sample_pixelcnn: run under no_grad and restore the model's train/eval mode"""
    sampling = worker.load("sampling")
    for name, fn, model, extra in samplers(worker, sampling):
        for training in (True, False):
            worker.method(model, "train", training, what=f"the test model's train({training})")
            # The double records every forward call; only the calls of this run are judged.
            before = len(checks.recorded_calls(worker, model, "the test model"))
            what = f"{name} on a model in {'train' if training else 'eval'} mode"
            fn(model, 3, *extra, Seeded(0), what=what)
            calls = checks.recorded_calls(worker, model, "the test model")[before:]
            if any(call["grad_enabled"] for call in calls):
                checks.fail(f"{what}: the model was called with autograd on; wrap sampling in torch.no_grad().")
            now_training = worker.state(model, "the test model")["training"]
            if now_training != training:
                checks.fail(f"{what}: afterwards the model is in {'train' if now_training else 'eval'} mode; "
                            "remember model.training before switching to eval and restore it "
                            "(model.train(was_training)).")


@weight(0.5)
@number("5.7")
@visibility("after_published")
@tags("sampling", "devices")
def test_samples_on_model_device_and_dtype(worker):
    """sample_made, sample_pixelcnn: samples created on the model's device and in its dtype"""
    sampling = worker.load("sampling")
    targets = [("cpu", torch.float64), ("meta", torch.float32)]
    if torch.cuda.is_available():
        targets.append(("cuda", torch.float32))
    probe = worker.double("DeviceProbe", 4)
    for device, dtype in targets:
        for name, fn, extra, shape in (("sample_made", sampling.sample_made, (), (5, 4)),
                                       ("sample_pixelcnn", sampling.sample_pixelcnn, ((2, 2, 3),), (5, 2, 2, 3))):
            what = f"{name} with a model whose parameters are {dtype} on '{device}'"
            model = worker.convert(probe, f"the test model moved to {dtype} on '{device}'",
                                   device=torch.device(device), dtype=dtype)
            out = fn(model, 5, *extra, what=what)
            checks.tensor(out, what, shape=shape, dtype=dtype, device=device)

