"""Public tests of sampling.py (section 5). The samplers are judged on test-side models (built in
the worker, see tests/probes/doubles.py), not on your MADE or PixelCNN, so a bug there does not
cost points here: each position's logit is ±50 by the parity of some earlier positions, or 0 (a
fair coin). Locally the models are recorded (tests/fixtures/examples.wire); on the grader they
are drawn fresh for your upload."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.probes import doubles
from tests.support import checks, tables
from tests.support.client import Seeded


def check_samples(out, model, what, hint):
    """No sample contradicts a confident logit of ``model`` (the test's copy of the double), beyond the
    very few that a correct sampler's float32 noise can give it (``tables.impossible``)."""
    bad = tables.impossible(model, out)
    if bad:
        index, position, logit = bad[0]
        checks.fail(f"{what}: {len(bad)} of {len(out)} samples are impossible for the model. Sample {index} is "
                    f"{out[index].flatten().tolist()} (flattened), but given its earlier positions the model's logit "
                    f"for entry {position} is {logit:+.1f}, so that entry is {int(logit > 0)} except with "
                    f"probability below 1e-13.\nHint: {hint}")


@weight(1)
@number("5.1")
@visibility("visible")
@tags("sampling", "sample_made")
def test_sample_made_follows_order_and_conditions(worker, ex):
    """sample_made: draws positions in model.order, each conditioned on the ones drawn before"""
    sampling = worker.load("sampling")
    e = ex.get("sample_made")
    model = worker.double("ParityMADE", e["order"], e["subsets"], e["signs"])
    size = len(e["order"])
    what = f"sample_made(model, 64, generator) for a model of {size} variables with order={e['order']}"
    out = checks.samples(sampling.sample_made(model, 64, Seeded(ex.seed("sampler")), what=what), what,
                           shape=(64, size))
    check_samples(out, doubles.ParityMADE(e["order"], e["subsets"], e["signs"]), what,
                  "loop i over range(D), run the model on the samples so far, and set only position model.order[i] "
                  "from its probability (sigmoid of its logit).")


@weight(1)
@number("5.2")
@visibility("visible")
@tags("sampling", "sample_pixelcnn")
def test_sample_pixelcnn_raster_order_conditions(worker, ex):
    """sample_pixelcnn: draws pixels in raster order, each conditioned on the earlier pixels"""
    sampling = worker.load("sampling")
    e = ex.get("sample_pixelcnn")
    shape = tuple(e["image_shape"])
    model = worker.double("ParityPixelCNN", shape, e["subsets"], e["signs"])
    what = f"sample_pixelcnn(model, 64, {shape}, generator) (pixels in raster order, both channels drawn together)"
    out = checks.samples(sampling.sample_pixelcnn(model, 64, shape, Seeded(ex.seed("sampler")), what=what), what,
                           shape=(64, *shape))
    check_samples(out, doubles.ParityPixelCNN(shape, e["subsets"], e["signs"]), what,
                  "for each row r, for each column c: run the model on the current samples and set x[:, :, r, c] "
                  "(all channels) from sigmoid(logits[:, :, r, c]).")
