"""Public tests of sampling.py (section 5). The samplers are judged on test-side table models
(built in the worker, see tests/probes/doubles.py), not on your MADE or PixelCNN, so a bug
there does not cost points here."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, tables
from tests.support.client import Seeded


@weight(1)
@number("5.1")
@visibility("visible")
@tags("sampling", "sample_made")
def test_sample_made_follows_order_and_conditions(worker):
    """sample_made: draws positions in model.order, each conditioned on the ones drawn before"""
    sampling = worker.load("sampling")
    order = [2, 0, 3, 1]
    model = worker.double("TableMADE", order, tables.chain_tables(4))
    expected = torch.zeros(4)
    expected[torch.tensor(order)] = tables.chain_expected(4)
    what = f"sample_made(model, 6, generator) for a deterministic model with order={order}"
    out = checks.tensor(sampling.sample_made(model, 6, Seeded(0), what=what), what, shape=(6, 4))
    bad = (out != expected).any(1)
    if bool(bad.any()):
        checks.fail(f"{what}: the model generates x[order[0]] = 1 and then each x[order[i]] = NOT x[order[i-1]], "
                    f"so every sample must be {expected.tolist()}; sample {int(bad.nonzero()[0])} is "
                    f"{out[bad][0].tolist()}.\nHint: loop i over range(D), run the model on the samples so far, "
                    "and set only position model.order[i] from its probability (sigmoid of its logit).")


@weight(1)
@number("5.2")
@visibility("visible")
@tags("sampling", "sample_pixelcnn")
def test_sample_pixelcnn_raster_order_conditions(worker):
    """sample_pixelcnn: draws pixels in raster order, each conditioned on the earlier pixels"""
    sampling = worker.load("sampling")
    shape = (2, 2, 3)
    model = worker.double("TablePixelCNN", shape, tables.chain_tables(6, per_position=2))
    expected = tables.chain_expected(6).reshape(1, 2, 3).expand(2, 2, 3)
    what = "sample_pixelcnn(model, 4, (2, 2, 3), generator) for a deterministic model"
    out = checks.tensor(sampling.sample_pixelcnn(model, 4, shape, Seeded(0), what=what), what, shape=(4, *shape))
    bad = (out != expected).flatten(1).any(1)
    if bool(bad.any()):
        checks.fail(f"{what}: pixel (0, 0) is always 1 and each later pixel (raster order) is the NOT of the "
                    f"previous one, in both channels, so every sample must be\n{expected[0].tolist()};\n"
                    f"sample {int(bad.nonzero()[0])} is\n{out[bad][0].tolist()}.\n"
                    "Hint: for each row r, for each column c: run the model on the current samples and set "
                    "x[:, :, r, c] (all channels) from sigmoid(logits[:, :, r, c]).")
