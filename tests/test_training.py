"""Public tests of training.py (section 6). Your training code runs with a test-side model and
a stand-in likelihood (a squared error; see tests/probes/doubles.py and tests/support/loops.py),
so only training.py is judged here; computing the Bernoulli NLL yourself is fine too. Locally
the examples are recorded from the reference solution; on the grader they are drawn fresh."""
import math

from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.probes import doubles
from tests.support import checks, loops, tables
from tests.support.client import Params


def setup(worker, e):
    """The example's batches, a linear test model in the worker and ``training.py`` importing
    the stand-in likelihood."""
    batches = tables.binary_batches(e["sizes"], e["shape"], e["seed"])
    worker.substitute_likelihood(e["standin"])
    model = worker.double("Linear", math.prod(e["shape"]), e["model_seed"])
    return batches, model, worker.load("training")


@weight(1)
@number("6.1")
@visibility("visible")
@tags("training", "train_epoch")
def test_train_epoch_steps_and_returns_weighted_mean(worker, ex):
    """train_epoch: one optimizer step per batch; returns the example-weighted mean NLL"""
    e = ex.get("train_epoch")
    batches, model, training = setup(worker, e)
    optimizer = worker.double("SGD", Params(model), lr=e["lr"])
    sizes = ", ".join(map(str, e["sizes"][:-1])) + f" and {e['sizes'][-1]}"
    what = f"train_epoch(model, loader, SGD(lr={e['lr']})) on batches of {sizes} examples given as (x,) tuples"
    got = training.train_epoch(model, [(x,) for x in batches], optimizer, what=what)
    variant = loops.matching_variant(got, e["variants"], "loss", what,
                                     f"the mean over all {sum(e['sizes'])} examples of each batch's loss before its "
                                     "step: weight each batch's mean loss by its size; a plain average of batch means "
                                     "over-weights the short last batch.")
    params = worker.state(model, "the model")["params"]
    for name, expected in e["variants"][variant]["params"].items():
        checks.close(params[name], expected, f"parameter {name} after {what}", rtol=1e-5, atol=1e-6,
                     hint="per batch: optimizer.zero_grad(), loss.backward(), optimizer.step(), with loss the "
                          "mean bernoulli_nll of the batch.")


@weight(0.5)
@number("6.2")
@visibility("visible")
@tags("training", "evaluate")
def test_evaluate_returns_nll_and_bits_per_dim(worker, ex):
    """evaluate: example-weighted NLL and bits/dim over the whole loader"""
    e = ex.get("evaluate")
    batches, model, training = setup(worker, e)
    sizes = ", ".join(map(str, e["sizes"][:-1])) + f" and {e['sizes'][-1]}"
    what = f"evaluate(model, loader) on batches of {sizes} examples of shape {tuple(e['shape'])}"
    got = training.evaluate(model, batches, what=what)
    if not isinstance(got, dict) or not {"nll", "bits_per_dim"} <= set(got):
        checks.fail(f"{what} returned {checks.kind_of(got)} {str(got)[:80] if isinstance(got, dict) else ''}; "
                    "expected a dict with keys 'nll' and 'bits_per_dim'.")
    variant = loops.matching_variant(got["nll"], e["variants"], "nll", f"{what}['nll']",
                                     "sum the per-example NLLs over the loader and divide by the number of examples.")
    loops.check_bits(got["bits_per_dim"], e["variants"][variant]["nll"], math.prod(e["shape"]),
                     f"{what}['bits_per_dim']", e["standin"])


@weight(0.5)
@number("6.3")
@visibility("visible")
@tags("training", "checkpoint")
def test_checkpoint_round_trip(worker, ex):
    """save_checkpoint / load_checkpoint: a fresh process restores the model and the epoch"""
    num_dims, seed, epoch = 3 + ex.seed("size") % 4, ex.seed("model"), ex.seed("epoch") % 90 + 1
    worker.substitute_likelihood()
    training = worker.load("training")
    path = worker.tempdir() + "/ckpt.pt"
    training.save_checkpoint(path, worker.double("Linear", num_dims, seed), epoch=epoch,
                             what=f"save_checkpoint(path, model, epoch={epoch})")
    # Loaded by another process: only what the file holds can reach the new model.
    worker.restart()
    worker.substitute_likelihood()
    training = worker.load("training")
    fresh = worker.double("Linear", num_dims, ex.seed("other model"))
    what = "load_checkpoint(path, model) in a fresh process"
    got = training.load_checkpoint(path, fresh, what=what)
    if type(got) is not int or got != epoch:
        checks.fail(f"{what} returned {got!r}, expected the saved epoch {epoch}.")
    saved = dict(doubles.Linear(num_dims, seed).named_parameters())
    for name, value in worker.state(fresh, "the restored model")["params"].items():
        checks.close(value, saved[name].detach(), f"parameter {name} after the round trip", rtol=0, atol=0,
                     hint="save model.state_dict() and restore it with model.load_state_dict().")
