"""Hidden tests of training.py (section 6), with a test-side likelihood and model."""
import copy
import math

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import checks, oracles, student


class CountingSGD(torch.optim.SGD):
    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


@weight(1)
@number("6.4")
@visibility("after_published")
@tags("training", "train_epoch")
def test_train_epoch_all_loader_kinds():
    """train_epoch: tensors, [x, y] lists and (x, y) tuples; zero_grad each step; image-shaped batches"""
    data = oracles.binary_batches([5, 2, 5, 1], (1, 2, 3), seed=41)
    labels = [torch.zeros(len(x)) for x in data]
    kinds = {"tensors": data, "[x, y] lists": [[x, y] for x, y in zip(data, labels)],
             "(x, y) tuples": list(zip(data, labels))}
    with student.substitute("likelihood", student.oracle_likelihood()):
        training = student.load("training")
        for kind, loader in kinds.items():
            model = oracles.Logistic(6, torch.Generator().manual_seed(42))
            reference = copy.deepcopy(model)
            expected = oracles.train_epoch(reference, data, lr=0.05)
            optimizer = CountingSGD(model.parameters(), lr=0.05)
            what = f"train_epoch(model, loader, optimizer, device='cpu') with batches of 5, 2, 5, 1 images as {kind}"
            got = student.call(training.train_epoch, model, loader, optimizer, device="cpu", what=what)
            if optimizer.steps != len(data):
                checks.fail(f"{what}: optimizer.step() was called {optimizer.steps} times, expected once per batch "
                            f"({len(data)}).")
            if not isinstance(got, (float, int)) or not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6):
                checks.fail(f"{what} returned {got!r}, expected {expected:.6f} (example-weighted mean NLL).")
            for (name, p), q in zip(model.named_parameters(), reference.parameters()):
                checks.close(p.detach(), q.detach(), f"parameter {name} after {what}", rtol=1e-5, atol=1e-6,
                             hint="call optimizer.zero_grad() before each backward; otherwise gradients of "
                                  "earlier batches accumulate.")


@weight(0.5)
@number("6.5")
@visibility("after_published")
@tags("training", "evaluate")
def test_evaluate_mode_no_grad_and_weighting():
    """evaluate: eval mode without gradients, restores train mode, weights a short last batch by size"""
    data = oracles.binary_batches([7, 7, 1], (4,), seed=43)
    model = oracles.Logistic(4, torch.Generator().manual_seed(44))
    with torch.no_grad():
        expected = torch.cat([oracles.nll(model(x), x) for x in data]).mean().item()
    model.calls.clear()
    model.train()
    with student.substitute("likelihood", student.oracle_likelihood()):
        training = student.load("training")
        what = "evaluate(model, loader) with (x, label) batches of 7, 7 and 1 examples, model in train mode"
        got = student.call(training.evaluate, model, [(x, torch.zeros(len(x))) for x in data], what=what)
    if not isinstance(got, dict) or not isinstance(got.get("nll"), (float, int)):
        checks.fail(f"{what} returned {got!r}; expected {{'nll': float, 'bits_per_dim': float}}.")
    if not math.isclose(got["nll"], expected, rel_tol=1e-5):
        checks.fail(f"{what}['nll'] is {got['nll']:.6f}, expected {expected:.6f}.\nHint: a mean of batch means "
                    "counts the single-example batch like the others; sum per-example NLLs and divide by 15.")
    if any(call["training"] for call in model.calls):
        checks.fail(f"{what}: the model was called in train mode; call model.eval() first.")
    if any(call["grad_enabled"] for call in model.calls):
        checks.fail(f"{what}: the model was called with autograd on; use torch.no_grad().")
    if not model.training:
        checks.fail(f"{what}: the model was left in eval mode; restore the mode it had (model.train(was_training)).")


@weight(0.5)
@number("6.6")
@visibility("after_published")
@tags("training", "checkpoint")
def test_checkpoint_restores_optimizer_and_scheduler(tmp_path):
    """save/load_checkpoint: Adam and StepLR states restored exactly; training resumes identically"""
    data = oracles.binary_batches([4, 4], (5,), seed=45)

    def setup(seed):
        model = oracles.Logistic(5, torch.Generator().manual_seed(seed))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return model, optimizer, scheduler

    def step(model, optimizer, scheduler):
        for x in data:
            loss = oracles.nll(model(x), x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()

    model, optimizer, scheduler = setup(46)
    step(model, optimizer, scheduler)
    with student.substitute("likelihood", student.oracle_likelihood()):
        training = student.load("training")
        path = tmp_path / "checkpoint.pt"
        student.call(training.save_checkpoint, path, model, optimizer, scheduler, epoch=3,
                     what="save_checkpoint(path, model, optimizer, scheduler, epoch=3)")
        fresh = setup(47)
        epoch = student.call(training.load_checkpoint, path, *fresh,
                             what="load_checkpoint(path, model, optimizer, scheduler)")
    if epoch != 3:
        checks.fail(f"load_checkpoint returned {epoch!r}, expected the saved epoch 3.")
    if fresh[2].state_dict() != scheduler.state_dict():
        checks.fail("after load_checkpoint the scheduler's state differs: save scheduler.state_dict() and restore "
                    "it with scheduler.load_state_dict().")
    if fresh[1].param_groups[0]["lr"] != optimizer.param_groups[0]["lr"] or not fresh[1].state:
        checks.fail("after load_checkpoint the optimizer's state (Adam moments, learning rate) is missing: save "
                    "optimizer.state_dict() too and restore it with optimizer.load_state_dict().")
    step(model, optimizer, scheduler)
    step(*fresh)
    for (name, p), q in zip(fresh[0].named_parameters(), model.parameters()):
        checks.close(p.detach(), q.detach(), f"parameter {name} one epoch after resuming", rtol=1e-6, atol=1e-7,
                     hint="a resumed run must continue exactly like the original: model, optimizer and "
                          "scheduler states all have to be restored.")
