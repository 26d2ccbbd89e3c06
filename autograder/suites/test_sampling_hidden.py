"""Hidden tests of sampling.py (section 5), on test-side table models."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, oracles, student

MADE_ORDER = [3, 1, 0, 2]
IMAGE = (1, 3, 3)


def made_model(seed=31):
    return oracles.TableMADE(MADE_ORDER, oracles.random_tables(4, 1, torch.Generator().manual_seed(seed)))


def pixel_model(seed=32):
    return oracles.TablePixelCNN(IMAGE, oracles.random_tables(9, 1, torch.Generator().manual_seed(seed)))


def check_distribution(samples, model, num_bits, what, hint):
    """Compare the empirical distribution of ``samples`` (N, num_bits) with the model's exact one."""
    flat = checks.tensor(samples, what).reshape(samples.shape[0], -1).double().cpu()
    if not bool(((flat == 0) | (flat == 1)).all()):
        checks.fail(f"{what}: samples must be 0. or 1. (Bernoulli draws), got values like "
                    f"{flat[(flat != 0) & (flat != 1)][:3].tolist()}.")
    outcomes = oracles.enumerate_binary(num_bits)
    with torch.no_grad():
        if isinstance(model, oracles.TablePixelCNN):
            exact = model.log_prob(outcomes.reshape(-1, *model.image_shape)).exp()
        else:
            exact = model.log_prob(outcomes).exp()
        model.calls.clear()
    codes = (flat.long() * (2 ** torch.arange(num_bits))).sum(1)
    empirical = torch.bincount(codes, minlength=2 ** num_bits).double() / flat.shape[0]
    l1 = float((empirical - exact).abs().sum())
    bound = oracles.l1_bound(2 ** num_bits, flat.shape[0])
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
def test_sample_made_distribution():
    """sample_made: 20000 samples follow the exact joint distribution of a 4-variable model"""
    sampling = student.load("sampling")
    model = made_model()
    what = f"sample_made(model, 20000, generator) on a 4-variable model with order={MADE_ORDER}"
    samples = student.call(sampling.sample_made, model, 20000, torch.Generator().manual_seed(3), what=what)
    checks.tensor(samples, what, shape=(20000, 4))
    check_distribution(samples, model, 4, what,
                       "each x[order[i]] ~ Bernoulli(sigmoid(model(x)[:, order[i]])) computed from the samples "
                       "drawn so far; compare uniform noise with the probability (u < p gives 1).")


@weight(1)
@number("5.4")
@visibility("after_published")
@tags("sampling", "sample_pixelcnn", "statistics")
def test_sample_pixelcnn_distribution():
    """sample_pixelcnn: 40000 samples of 3x3 images follow the exact joint distribution"""
    sampling = student.load("sampling")
    model = pixel_model()
    what = "sample_pixelcnn(model, 40000, (1, 3, 3), generator)"
    samples = student.call(sampling.sample_pixelcnn, model, 40000, IMAGE, torch.Generator().manual_seed(4),
                           what=what)
    checks.tensor(samples, what, shape=(40000, *IMAGE))
    check_distribution(samples, model, 9, what,
                       "pixel (r, c) ~ Bernoulli(sigmoid(model(x)[:, :, r, c])) from a forward pass on the image "
                       "sampled so far; go row by row, left to right.")


@weight(1)
@number("5.5")
@visibility("after_published")
@tags("sampling", "randomness")
def test_samplers_take_all_randomness_from_generator():
    """sample_made, sample_pixelcnn: same seed, same samples; the global RNG is untouched"""
    sampling = student.load("sampling")
    for name, fn, model, extra in (("sample_made", sampling.sample_made, made_model(), ()),
                                   ("sample_pixelcnn", sampling.sample_pixelcnn, pixel_model(), (IMAGE,))):
        what = f"{name}(model, 64{', ' + str(IMAGE) if extra else ''}, generator)"
        torch.manual_seed(1234)
        state = torch.get_rng_state()
        a = checks.tensor(student.call(fn, model, 64, *extra, torch.Generator().manual_seed(7), what=what), what)
        if not torch.equal(torch.get_rng_state(), state):
            checks.fail(f"{what} used torch's global random number generator. Take every random number from "
                        "`generator` (torch.rand(..., generator=generator)); torch.bernoulli(p) without a "
                        "generator uses the global one.")
        b = checks.tensor(student.call(fn, model, 64, *extra, torch.Generator().manual_seed(7), what=what), what)
        c = checks.tensor(student.call(fn, model, 64, *extra, torch.Generator().manual_seed(8), what=what), what)
        if not torch.equal(a, b):
            checks.fail(f"{what} gave different samples for two generators with the same seed.")
        if torch.equal(a, c):
            checks.fail(f"{what} gave identical samples for seeds 7 and 8; the generator is not used.")


@weight(0.5)
@number("5.6")
@visibility("after_published")
@tags("sampling", "no_grad", "mode")
def test_samplers_no_grad_and_restore_mode():
    """sample_made, sample_pixelcnn: run under no_grad and restore the model's train/eval mode"""
    sampling = student.load("sampling")
    for name, fn, model, extra in (("sample_made", sampling.sample_made, made_model(), ()),
                                   ("sample_pixelcnn", sampling.sample_pixelcnn, pixel_model(), (IMAGE,))):
        for training in (True, False):
            model.train(training)
            model.calls.clear()
            what = f"{name} on a model in {'train' if training else 'eval'} mode"
            student.call(fn, model, 3, *extra, torch.Generator().manual_seed(0), what=what)
            if any(call["grad_enabled"] for call in model.calls):
                checks.fail(f"{what}: the model was called with autograd on; wrap sampling in torch.no_grad().")
            if model.training != training:
                checks.fail(f"{what}: afterwards the model is in {'train' if model.training else 'eval'} mode; "
                            "remember model.training before switching to eval and restore it "
                            "(model.train(was_training)).")


@weight(0.5)
@number("5.7")
@visibility("after_published")
@tags("sampling", "devices")
def test_samples_on_model_device_and_dtype():
    """sample_made, sample_pixelcnn: samples created on the model's device and in its dtype"""
    sampling = student.load("sampling")
    targets = [("cpu", torch.float64), ("meta", torch.float32)]
    if torch.cuda.is_available():
        targets.append(("cuda", torch.float32))
    for device, dtype in targets:
        for name, fn, extra, shape in (("sample_made", sampling.sample_made, (), (5, 4)),
                                       ("sample_pixelcnn", sampling.sample_pixelcnn, ((2, 2, 3),), (5, 2, 2, 3))):
            model = oracles.DeviceProbe(4).to(device=device, dtype=dtype)
            what = f"{name} with a model whose parameters are {dtype} on '{device}'"
            out = student.call(fn, model, 5, *extra, what=what)
            checks.tensor(out, what, shape=shape, dtype=dtype, device=device)
