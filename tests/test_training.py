"""Public tests of training.py (section 6). Your training code runs with a test-side
likelihood module and a test-side model, so only training.py is judged here."""
import copy
import math

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, oracles, student


@weight(1)
@number("6.1")
@visibility("visible")
@tags("training", "train_epoch")
def test_train_epoch_steps_and_returns_weighted_mean():
    """train_epoch: one optimizer step per batch; returns the example-weighted mean NLL"""
    data = oracles.binary_batches([4, 4, 3], (6,), seed=9)
    model = oracles.Logistic(6, torch.Generator().manual_seed(10))
    reference = copy.deepcopy(model)
    expected = oracles.train_epoch(reference, data, lr=0.1)
    with student.substitute("likelihood", student.oracle_likelihood()):
        training = student.load("training")
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        what = "train_epoch(model, loader, SGD(lr=0.1)) on batches of 4, 4 and 3 examples given as (x,) tuples"
        got = student.call(training.train_epoch, model, [(x,) for x in data], optimizer, what=what)
    if not isinstance(got, (float, int)) or isinstance(got, bool):
        checks.fail(f"{what} returned {type(got).__name__}; expected a Python float (use loss.item()).")
    if not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6):
        checks.fail(f"{what} returned {got:.6f}, expected {expected:.6f} (the mean over all 11 examples of "
                    "each batch's loss before its step).\nHint: weight each batch's mean loss by its size; "
                    "a plain average of batch means over-weights the short last batch.")
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        checks.close(p.detach(), q.detach(), f"parameter {name} after {what}", rtol=1e-5, atol=1e-6,
                     hint="per batch: optimizer.zero_grad(), loss.backward(), optimizer.step(), with loss the "
                          "mean bernoulli_nll of the batch.")


@weight(0.5)
@number("6.2")
@visibility("visible")
@tags("training", "evaluate")
def test_evaluate_returns_nll_and_bits_per_dim():
    """evaluate: example-weighted NLL and bits/dim over the whole loader"""
    data = oracles.binary_batches([4, 4, 2], (6,), seed=11)
    model = oracles.Logistic(6, torch.Generator().manual_seed(12))
    with torch.no_grad():
        expected = torch.cat([oracles.nll(model(x), x) for x in data]).mean().item()
    with student.substitute("likelihood", student.oracle_likelihood()):
        training = student.load("training")
        what = "evaluate(model, loader) on batches of 4, 4 and 2 examples"
        got = student.call(training.evaluate, model, data, what=what)
    if not isinstance(got, dict) or set(got) < {"nll", "bits_per_dim"}:
        checks.fail(f"{what} returned {got!r}; expected a dict with keys 'nll' and 'bits_per_dim'.")
    for key, value in (("nll", expected), ("bits_per_dim", expected / (6 * math.log(2)))):
        if not isinstance(got[key], (float, int)) or not math.isclose(got[key], value, rel_tol=1e-5):
            checks.fail(f"{what}['{key}'] is {got[key]!r}, expected {value:.6f}.\nHint: sum the per-example "
                        "NLLs over the loader and divide by the number of examples; bits/dim divides by "
                        "D * ln 2 with D the values per example.")


@weight(0.5)
@number("6.3")
@visibility("visible")
@tags("training", "checkpoint")
def test_checkpoint_round_trip(tmp_path):
    """save_checkpoint / load_checkpoint: a round trip restores the model and the epoch"""
    model = oracles.Logistic(5, torch.Generator().manual_seed(13))
    with student.substitute("likelihood", student.oracle_likelihood()):
        training = student.load("training")
        path = tmp_path / "ckpt.pt"
        student.call(training.save_checkpoint, path, model, epoch=7, what="save_checkpoint(path, model, epoch=7)")
        fresh = oracles.Logistic(5, torch.Generator().manual_seed(14))
        epoch = student.call(training.load_checkpoint, path, fresh, what="load_checkpoint(path, model)")
    if epoch != 7 or isinstance(epoch, bool):
        checks.fail(f"load_checkpoint(path, model) returned {epoch!r}, expected the saved epoch 7.")
    for (name, p), q in zip(fresh.named_parameters(), model.parameters()):
        checks.close(p.detach(), q.detach(), f"parameter {name} after the round trip", rtol=0, atol=0,
                     hint="save model.state_dict() and restore it with model.load_state_dict().")
