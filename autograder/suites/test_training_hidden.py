"""Hidden tests of training.py (section 6), with a test-side likelihood and model.

``training.py`` runs in the worker on a linear test double with the stand-in likelihood (a
squared error, see :mod:`tests.probes.doubles`); the expected values come from the same double
and the same optimizer run in this session (:mod:`autograder.oracles`).
"""
import math

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from autograder import oracles
from tests.probes import doubles
from tests.support import checks, client, tables
from tests.support.client import Params


def load_training(worker, num_dims):
    """``training.py`` in the worker, importing the stand-in likelihood for data of ``num_dims``."""
    worker.substitute_likelihood(oracles.bits_factor(num_dims))
    return worker.load("training")


def state_dict(worker, ref, what, keys):
    """``ref.state_dict()`` of a test optimizer or scheduler in the worker, as plain data."""
    state = worker.method(ref, "state_dict", what=f"{what}.state_dict()")
    if not isinstance(state, dict) or not set(keys) <= set(state):
        checks.fail(f"{what}.state_dict() returned {checks.kind_of(state)} without the keys {sorted(keys)}; "
                    "restore it with load_state_dict() and leave its methods alone.")
    return state


@weight(1)
@number("6.4")
@visibility("after_published")
@tags("training", "train_epoch")
def test_train_epoch_all_loader_kinds(worker):
    """train_epoch: tensors, [x, y] lists and (x, y) tuples; zero_grad each step; image-shaped batches"""
    data = tables.binary_batches([5, 2, 5, 1], (1, 2, 3), seed=41)
    labels = [torch.zeros(len(x)) for x in data]
    kinds = {"tensors": data, "[x, y] lists": [[x, y] for x, y in zip(data, labels)],
             "(x, y) tuples": list(zip(data, labels))}
    training = load_training(worker, 6)
    for kind, loader in kinds.items():
        model = worker.double("Linear", 6, 42)
        reference = doubles.Linear(6, 42)
        expected = oracles.train_epoch(reference, data, torch.optim.SGD(reference.parameters(), lr=0.05))
        optimizer = worker.double("CountingSGD", Params(model), lr=0.05)
        what = f"train_epoch(model, loader, optimizer, device='cpu') with batches of 5, 2, 5, 1 images as {kind}"
        got = training.train_epoch(model, loader, optimizer, device="cpu", what=what)
        steps = worker.getattr(optimizer, "steps", "the test optimizer")
        if steps != len(data):
            checks.fail(f"{what}: optimizer.step() was called {steps} times, expected once per batch "
                        f"({len(data)}).")
        if not isinstance(got, (float, int)) or not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6):
            checks.fail(f"{what} returned {got!r}, expected {expected:.6f} (example-weighted mean NLL).")
        params = worker.state(model, "the test model")["params"]
        for name, q in reference.named_parameters():
            checks.close(params[name], q.detach(), f"parameter {name} after {what}", rtol=1e-5, atol=1e-6,
                         hint="call optimizer.zero_grad() before each backward; otherwise gradients of "
                              "earlier batches accumulate.")


@weight(0.5)
@number("6.5")
@visibility("after_published")
@tags("training", "evaluate")
def test_evaluate_mode_no_grad_and_weighting(worker):
    """evaluate: eval mode without gradients, restores train mode, weights a short last batch by size"""
    data = tables.binary_batches([7, 7, 1], (4,), seed=43)
    expected = oracles.evaluate(doubles.Linear(4, 44), data)
    training = load_training(worker, 4)
    model = worker.double("Linear", 4, 44)
    worker.method(model, "train", True, what="the test model's train()")
    what = "evaluate(model, loader) with (x, label) batches of 7, 7 and 1 examples, model in train mode"
    got = training.evaluate(model, [(x, torch.zeros(len(x))) for x in data], what=what)
    if not isinstance(got, dict) or not isinstance(got.get("nll"), (float, int)):
        checks.fail(f"{what} returned {got!r}; expected {{'nll': float, 'bits_per_dim': float}}.")
    if not math.isclose(got["nll"], expected, rel_tol=1e-5):
        checks.fail(f"{what}['nll'] is {got['nll']:.6f}, expected {expected:.6f}.\nHint: a mean of batch means "
                    "counts the single-example batch like the others; sum per-example NLLs and divide by 15.")
    # Recorded by the test double in the worker at each forward call, and its mode afterwards.
    calls = checks.recorded_calls(worker, model, "the test model")
    if any(call["training"] for call in calls):
        checks.fail(f"{what}: the model was called in train mode; call model.eval() first.")
    if any(call["grad_enabled"] for call in calls):
        checks.fail(f"{what}: the model was called with autograd on; use torch.no_grad().")
    if not worker.state(model, "the test model")["training"]:
        checks.fail(f"{what}: the model was left in eval mode; restore the mode it had (model.train(was_training)).")


@weight(0.5)
@number("6.6")
@visibility("after_published")
@tags("training", "checkpoint")
def test_checkpoint_restores_optimizer_and_scheduler(worker):
    """save/load_checkpoint: Adam and StepLR states restored exactly; training resumes identically"""
    data = tables.binary_batches([4, 4], (5,), seed=45)

    def setup(seed):
        model = worker.double("Linear", 5, seed)
        optimizer = worker.double("Adam", Params(model), lr=0.01)
        scheduler = worker.double("StepLR", optimizer, step_size=1, gamma=0.5)
        return model, optimizer, scheduler

    def step(model, optimizer, scheduler, what):
        try:
            worker.fit_steps(model, optimizer, scheduler, data)
        except client.StudentRaised as exc:
            error = exc.info
        else:
            return
        checks.fail(client.call_message(what, error))

    model, optimizer, scheduler = setup(46)
    step(model, optimizer, scheduler, "one epoch of training before save_checkpoint")
    training = load_training(worker, 5)
    path = worker.tempdir() + "/checkpoint.pt"
    training.save_checkpoint(path, model, optimizer, scheduler, epoch=3,
                             what="save_checkpoint(path, model, optimizer, scheduler, epoch=3)")
    fresh = setup(47)
    epoch = training.load_checkpoint(path, *fresh, what="load_checkpoint(path, model, optimizer, scheduler)")
    if epoch != 3:
        checks.fail(f"load_checkpoint returned {epoch!r}, expected the saved epoch 3.")
    if (state_dict(worker, fresh[2], "the restored scheduler", ["last_epoch"])
            != state_dict(worker, scheduler, "the saved scheduler", ["last_epoch"])):
        checks.fail("after load_checkpoint the scheduler's state differs: save scheduler.state_dict() and restore "
                    "it with scheduler.load_state_dict().")
    restored = state_dict(worker, fresh[1], "the restored optimizer", ["state", "param_groups"])
    saved = state_dict(worker, optimizer, "the saved optimizer", ["state", "param_groups"])
    if (not restored["param_groups"] or not isinstance(restored["param_groups"][0], dict)
            or restored["param_groups"][0].get("lr") != saved["param_groups"][0]["lr"] or not restored["state"]):
        checks.fail("after load_checkpoint the optimizer's state (Adam moments, learning rate) is missing: save "
                    "optimizer.state_dict() too and restore it with optimizer.load_state_dict().")
    step(model, optimizer, scheduler, "one more epoch of the original run")
    step(*fresh, "one epoch of training after load_checkpoint")
    original = worker.state(model, "the original model")["params"]
    for name, p in worker.state(fresh[0], "the restored model")["params"].items():
        checks.close(p, original[name], f"parameter {name} one epoch after resuming", rtol=1e-6, atol=1e-7,
                     hint="a resumed run must continue exactly like the original: model, optimizer and "
                          "scheduler states all have to be restored.")
