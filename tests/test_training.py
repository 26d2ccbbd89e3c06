"""Public tests of training.py (section 6). Your training code runs with a test-side model and
a stand-in likelihood (a squared error; see tests/probes/doubles.py), so only training.py is
judged here. Expected values are recorded from the reference solution."""
import math

from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, fixtures, tables
from tests.support.client import Params

EXAMPLES = fixtures.examples()


def setup(worker, ex):
    """The example's batches, a linear test model in the worker and ``training.py`` importing
    the stand-in likelihood."""
    batches = tables.binary_batches(ex["sizes"], ex["shape"], ex["seed"])
    num_dims = math.prod(ex["shape"])
    worker.substitute_likelihood(1.0 / (num_dims * math.log(2)))
    model = worker.double("Linear", num_dims, ex["model_seed"])
    return batches, model, worker.load("training")


@weight(1)
@number("6.1")
@visibility("visible")
@tags("training", "train_epoch")
def test_train_epoch_steps_and_returns_weighted_mean(worker):
    """train_epoch: one optimizer step per batch; returns the example-weighted mean NLL"""
    ex = EXAMPLES["train_epoch"]
    batches, model, training = setup(worker, ex)
    optimizer = worker.double("SGD", Params(model), lr=ex["lr"])
    what = "train_epoch(model, loader, SGD(lr=0.1)) on batches of 4, 4 and 3 examples given as (x,) tuples"
    got = checks.number(training.train_epoch(model, [(x,) for x in batches], optimizer, what=what), what)
    if not math.isclose(got, ex["loss"], rel_tol=1e-5, abs_tol=1e-6):
        checks.fail(f"{what} returned {got:.6f}, expected {ex['loss']:.6f} (the mean over all 11 examples of "
                    "each batch's loss before its step).\nHint: weight each batch's mean loss by its size; "
                    "a plain average of batch means over-weights the short last batch.")
    params = worker.state(model, "the model")["params"]
    for name, expected in ex["params"].items():
        checks.close(params[name], expected, f"parameter {name} after {what}", rtol=1e-5, atol=1e-6,
                     hint="per batch: optimizer.zero_grad(), loss.backward(), optimizer.step(), with loss the "
                          "mean bernoulli_nll of the batch.")


@weight(0.5)
@number("6.2")
@visibility("visible")
@tags("training", "evaluate")
def test_evaluate_returns_nll_and_bits_per_dim(worker):
    """evaluate: example-weighted NLL and bits/dim over the whole loader"""
    ex = EXAMPLES["evaluate"]
    batches, model, training = setup(worker, ex)
    what = "evaluate(model, loader) on batches of 4, 4 and 2 examples"
    got = training.evaluate(model, batches, what=what)
    if not isinstance(got, dict) or not {"nll", "bits_per_dim"} <= set(got):
        checks.fail(f"{what} returned {checks.kind_of(got)} {str(got)[:80] if isinstance(got, dict) else ''}; "
                    "expected a dict with keys 'nll' and 'bits_per_dim'.")
    for key in ("nll", "bits_per_dim"):
        value = checks.number(got[key], f"{what}['{key}']")
        if not math.isclose(value, ex[key], rel_tol=1e-5):
            checks.fail(f"{what}['{key}'] is {value!r}, expected {ex[key]:.6f}.\nHint: sum the per-example "
                        "NLLs over the loader and divide by the number of examples; bits/dim divides by "
                        "D * ln 2 with D the values per example.")


@weight(0.5)
@number("6.3")
@visibility("visible")
@tags("training", "checkpoint")
def test_checkpoint_round_trip(worker):
    """save_checkpoint / load_checkpoint: a round trip restores the model and the epoch"""
    worker.substitute_likelihood(1.0)
    training = worker.load("training")
    model = worker.double("Linear", 5, 13)
    path = worker.tempdir() + "/ckpt.pt"
    training.save_checkpoint(path, model, epoch=7, what="save_checkpoint(path, model, epoch=7)")
    fresh = worker.double("Linear", 5, 14)
    epoch = training.load_checkpoint(path, fresh, what="load_checkpoint(path, model)")
    if type(epoch) is not int or epoch != 7:
        checks.fail(f"load_checkpoint(path, model) returned {epoch!r}, expected the saved epoch 7.")
    saved = worker.state(model, "the model")["params"]
    for name, value in worker.state(fresh, "the restored model")["params"].items():
        checks.close(value, saved[name], f"parameter {name} after the round trip", rtol=0, atol=0,
                     hint="save model.state_dict() and restore it with model.load_state_dict().")
