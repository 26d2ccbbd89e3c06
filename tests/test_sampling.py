"""Public tests of sampling.py (section 5). The samplers are judged on test-side table models
(built in the worker, see tests/probes/doubles.py), not on your MADE or PixelCNN, so a bug
there does not cost points here. The tables are drawn from the test's generator: fixed on
your machine, fresh for your upload on the grader."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, tables
from tests.support.client import Seeded


def check_samples(out, allowed, what, hint):
    bad = tables.outside(out, allowed)
    if bad:
        checks.fail(f"{what}: the model's first position is a fair coin and every later one copies or flips the one "
                    f"before it (logit ±50), so every sample must be\n{allowed[0].tolist()} or\n{allowed[1].tolist()};\n"
                    f"sample {bad[0]} is\n{out[bad[0]].tolist()}.\nHint: {hint}")


@weight(1)
@number("5.1")
@visibility("visible")
@tags("sampling", "sample_made")
def test_sample_made_follows_order_and_conditions(worker, ex):
    """sample_made: draws positions in model.order, each conditioned on the ones drawn before"""
    sampling = worker.load("sampling")
    gen = ex.generator("model")
    size = int(torch.randint(4, 7, (1,), generator=gen))
    order = list(range(size))
    while order == sorted(order):  # an order that index order gets wrong
        order = torch.randperm(size, generator=gen).tolist()
    logits = tables.chain_tables(size, 1, gen)
    model = worker.double("TableMADE", order, logits)
    what = f"sample_made(model, 64, generator) for a model with order={order}"
    out = checks.with_data(sampling.sample_made(model, 64, Seeded(ex.seed("sampler")), what=what), what,
                           shape=(64, size))
    check_samples(out, tables.made_sequences(logits, order), what,
                  "loop i over range(D), run the model on the samples so far, and set only position model.order[i] "
                  "from its probability (sigmoid of its logit).")


@weight(1)
@number("5.2")
@visibility("visible")
@tags("sampling", "sample_pixelcnn")
def test_sample_pixelcnn_raster_order_conditions(worker, ex):
    """sample_pixelcnn: draws pixels in raster order, each conditioned on the earlier pixels"""
    sampling = worker.load("sampling")
    gen = ex.generator("model")
    shape = (2, int(torch.randint(2, 4, (1,), generator=gen)), int(torch.randint(2, 4, (1,), generator=gen)))
    logits = tables.chain_tables(shape[1] * shape[2], shape[0], gen)
    model = worker.double("TablePixelCNN", shape, logits)
    what = f"sample_pixelcnn(model, 64, {shape}, generator) (pixels in raster order, both channels drawn together)"
    out = checks.with_data(sampling.sample_pixelcnn(model, 64, shape, Seeded(ex.seed("sampler")), what=what), what,
                           shape=(64, *shape))
    check_samples(out, tables.pixel_sequences(logits, shape), what,
                  "for each row r, for each column c: run the model on the current samples and set x[:, :, r, c] "
                  "(all channels) from sigmoid(logits[:, :, r, c]).")
