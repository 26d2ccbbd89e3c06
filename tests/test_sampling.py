"""Public tests of sampling.py (section 5). The samplers are judged on test-side table models
(built in the worker, see tests/probes/doubles.py), not on your MADE or PixelCNN, so a bug
there does not cost points here. The tables are drawn from the test's generator: fixed on
your machine, fresh for your upload on the grader."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, tables
from tests.support.client import Seeded


@weight(1)
@number("5.1")
@visibility("visible")
@tags("sampling", "sample_made")
def test_sample_made_follows_order_and_conditions(worker, ex):
    """sample_made: draws positions in model.order, each conditioned on the ones drawn before"""
    sampling = worker.load("sampling")
    gen = ex.generator("model")
    size = int(torch.randint(4, 7, (1,), generator=gen))
    order = torch.randperm(size, generator=gen).tolist()
    logits = tables.deterministic_tables(size, 1, gen)
    model = worker.double("TableMADE", order, logits)
    expected = tables.made_sequence(logits, order).float()
    what = f"sample_made(model, 6, generator) for a deterministic model with order={order}"
    out = checks.with_data(sampling.sample_made(model, 6, Seeded(ex.seed("sampler")), what=what), what, shape=(6, size))
    bad = (out != expected).any(1)
    if bool(bad.any()):
        checks.fail(f"{what}: every logit of this model is ±50 given the positions drawn before, so every sample "
                    f"must be {expected.tolist()}; sample {int(bad.nonzero()[0])} is {out[bad][0].tolist()}.\n"
                    "Hint: loop i over range(D), run the model on the samples so far, and set only position "
                    "model.order[i] from its probability (sigmoid of its logit).")


@weight(1)
@number("5.2")
@visibility("visible")
@tags("sampling", "sample_pixelcnn")
def test_sample_pixelcnn_raster_order_conditions(worker, ex):
    """sample_pixelcnn: draws pixels in raster order, each conditioned on the earlier pixels"""
    sampling = worker.load("sampling")
    gen = ex.generator("model")
    shape = (2, int(torch.randint(2, 4, (1,), generator=gen)), int(torch.randint(2, 4, (1,), generator=gen)))
    logits = tables.deterministic_tables(shape[1] * shape[2], shape[0], gen)
    model = worker.double("TablePixelCNN", shape, logits)
    expected = tables.pixel_sequence(logits, shape).float()
    what = f"sample_pixelcnn(model, 4, {shape}, generator) for a deterministic model"
    out = checks.with_data(sampling.sample_pixelcnn(model, 4, shape, Seeded(ex.seed("sampler")), what=what), what,
                           shape=(4, *shape))
    bad = (out != expected).flatten(1).any(1)
    if bool(bad.any()):
        checks.fail(f"{what}: every logit of this model is ±50 given the earlier pixels (raster order, all channels "
                    f"of a pixel drawn together), so every sample must be\n{expected.tolist()};\n"
                    f"sample {int(bad.nonzero()[0])} is\n{out[bad][0].tolist()}.\n"
                    "Hint: for each row r, for each column c: run the model on the current samples and set "
                    "x[:, :, r, c] (all channels) from sigmoid(logits[:, :, r, c]).")
