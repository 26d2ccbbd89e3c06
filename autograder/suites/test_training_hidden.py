"""Hidden tests of training.py (section 6), with a test-side likelihood and model.

``training.py`` runs in the worker on a linear test double with the stand-in likelihood (a
squared error, see :mod:`tests.probes.doubles`) or the Bernoulli NLL it computes itself; the
expected values come from the same double and the same optimizer run in this session
(:mod:`autograder.oracles`). How training.py calls the model shows in the numbers: the test
model adds a known shift to its logits while in train mode and another while autograd is on.
Checkpoints are loaded by a fresh worker process and judged against the state this session
computed itself.
"""
import itertools
import math

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from autograder import examples, oracles
from tests.probes import doubles
from tests.support import checks, loops, tables
from tests.support.client import Params


def load_training(worker, standin=None):
    """``training.py`` in the worker, importing the stand-in likelihood (with ``standin``'s
    constants)."""
    worker.substitute_likelihood(standin)
    return worker.load("training")


def shifts(gen):
    """Logit shifts (train mode, autograd on) that change every loss noticeably, alone or
    together (both positive, the second larger: no two combinations give the same shift)."""
    return round(0.5 + float(torch.rand((), generator=gen)), 3), round(2.0 + float(torch.rand((), generator=gen)), 3)


@weight(1)
@number("6.4")
@visibility("after_published")
@tags("training", "train_epoch")
def test_train_epoch_all_loader_kinds(worker, ex):
    """train_epoch: tensors, [x, y] lists, (x, y) tuples, image batches; zero_grad; train mode; device; ValueError"""
    gen = ex.generator("data")
    sizes = [int(torch.randint(3, 7, (1,), generator=gen)) for _ in range(3)] + [1]
    data = tables.binary_batches(sizes, (1, 2, 3), seed=ex.seed("batches"))
    labels = [torch.zeros(len(x)) for x in data]
    kinds = {"tensors": data, "[x, y] lists": [[x, y] for x, y in zip(data, labels)],
             "(x, y) tuples": list(zip(data, labels))}
    model_seed, lr = ex.seed("model"), 0.05
    train_shift, grad_shift = shifts(gen)
    standin = examples.standin(gen)
    training = load_training(worker, standin)

    def reference(variant, train_mode=True):
        model = doubles.Linear(6, model_seed, train_shift, grad_shift)
        loss = oracles.losses(standin)[variant]
        if train_mode:
            value = oracles.train_epoch(model, data, torch.optim.SGD(model.parameters(), lr=lr), loss)
        else:  # what a loop that never calls model.train() computes on a model handed over in eval mode
            model.eval()
            optimizer, total = torch.optim.SGD(model.parameters(), lr=lr), 0.0
            for x in data:
                step = loss(model(x), x).mean()
                optimizer.zero_grad()
                step.backward()
                optimizer.step()
                total += step.item() * len(x)
            value = total / sum(sizes)
        return {"loss": value, "params": {n: p.detach().clone() for n, p in model.named_parameters()}}

    expected = {variant: reference(variant) for variant in oracles.VARIANTS}
    for kind, loader in kinds.items():
        model = worker.double("Linear", 6, model_seed, train_shift, grad_shift)
        worker.method(model, "train", False, what="the test model's eval()")
        optimizer = worker.double("SGD", Params(model), lr=lr)
        what = (f"train_epoch(model, loader, optimizer, device='cpu') with batches of {', '.join(map(str, sizes))} "
                f"images of shape (1, 2, 3) as {kind}, the model handed over in eval mode")
        got = training.train_epoch(model, loader, optimizer, device="cpu", what=what)
        got = checks.number(got, what)
        if not any(math.isclose(got, e["loss"], rel_tol=1e-5, abs_tol=1e-6) for e in expected.values()):
            if any(math.isclose(got, reference(v, train_mode=False)["loss"], rel_tol=1e-5) for v in oracles.VARIANTS):
                checks.fail(f"{what}: the model was not in train mode while training; call model.train() first.")
        variant = loops.matching_variant(got, expected, "loss", what,
                                         "the example-weighted mean of each batch's loss before its step, over "
                                         "batches given as tensors or as (x, y) / [x, y] whose first item is the batch.")
        params = worker.state(model, "the test model")["params"]
        for name, q in expected[variant]["params"].items():
            checks.close(params[name], q, f"parameter {name} after {what}", rtol=1e-5, atol=1e-6,
                         hint="call optimizer.zero_grad() before each backward; otherwise gradients of "
                              "earlier batches accumulate.")
    model = worker.double("Linear", 6, model_seed)
    checks.raises_value_error(worker, "training.train_epoch", model, [], worker.double("SGD", Params(model), lr=lr),
                              what="train_epoch(model, [], optimizer)", rule="the loader yields no batch")


@weight(0.5)
@number("6.5")
@visibility("after_published")
@tags("training", "evaluate")
def test_evaluate_mode_no_grad_and_weighting(worker, ex):
    """evaluate: eval mode without gradients, restores train mode, weights a short last batch, D of an image"""
    gen = ex.generator("data")
    sizes = [int(torch.randint(5, 9, (1,), generator=gen)), int(torch.randint(5, 9, (1,), generator=gen)), 1]
    shape = (1, 2, 3)
    data = tables.binary_batches(sizes, shape, seed=ex.seed("batches"))
    model_seed = ex.seed("model")
    train_shift, grad_shift = shifts(gen)
    standin = examples.standin(gen)

    def reference(variant, training=False, grad=False):
        """The example-weighted mean loss of a model called in the given mode."""
        model = doubles.Linear(6, model_seed, train_shift, grad_shift).train(training)
        with torch.set_grad_enabled(grad):
            return torch.cat([oracles.losses(standin)[variant](model(x), x) for x in data]).mean().item()

    training = load_training(worker, standin)
    model = worker.double("Linear", 6, model_seed, train_shift, grad_shift)
    worker.method(model, "train", True, what="the test model's train()")
    what = (f"evaluate(model, loader) with (x, label) batches of {', '.join(map(str, sizes))} images of shape "
            f"{shape}, model in train mode")
    got = training.evaluate(model, [(x, torch.zeros(len(x))) for x in data], what=what)
    if not isinstance(got, dict) or not {"nll", "bits_per_dim"} <= set(got):
        checks.fail(f"{what} returned {got!r}; expected {{'nll': float, 'bits_per_dim': float}}.")
    nll = checks.number(got["nll"], f"{what}['nll']")
    for (training_mode, grad), variant in itertools.product(((True, False), (False, True), (True, True)),
                                                            oracles.VARIANTS):
        if math.isclose(nll, reference(variant, training_mode, grad), rel_tol=1e-6):
            checks.fail(f"{what}: the model was called {'in train mode' if training_mode else ''}"
                        f"{' and ' if training_mode and grad else ''}{'with autograd on' if grad else ''}; "
                        f"{'call model.eval() first' if training_mode else 'use torch.no_grad()'}.")
    variant = loops.matching_variant(nll, {v: {"nll": reference(v)} for v in oracles.VARIANTS}, "nll", f"{what}['nll']",
                                     f"a mean of batch means counts the single-example batch like the others; sum "
                                     f"per-example NLLs and divide by {sum(sizes)}.")
    loops.check_bits(got["bits_per_dim"], reference(variant), math.prod(shape), f"{what}['bits_per_dim']", standin)
    # Its mode afterwards, from its outputs: in train mode it adds train_shift to every logit.
    x = data[0]
    out = checks.with_data(worker.call(model, x, what="the test model after evaluate"), "the test model after evaluate")
    local = doubles.Linear(6, model_seed, train_shift, grad_shift)
    if not torch.allclose(out.double(), local(x).double(), atol=1e-5):
        checks.fail(f"{what}: the model was left in eval mode; restore the mode it had (model.train(was_training)).")
    checks.raises_value_error(worker, "training.evaluate", model, [], what="evaluate(model, [])",
                              rule="the loader yields no batch")


@weight(0.5)
@number("6.6")
@visibility("after_published")
@tags("training", "checkpoint")
def test_checkpoint_restores_optimizer_and_scheduler(worker, ex):
    """save/load_checkpoint: a fresh process restores Adam and StepLR exactly and resumes identically"""
    first, second = (tables.binary_batches([4, 4], (5,), seed=ex.seed(name)) for name in ("first", "second"))
    seed, other, epoch = ex.seed("model"), ex.seed("other model"), ex.seed("epoch") % 90 + 1

    def setup_local(model_seed):
        model = doubles.Linear(5, model_seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    def setup(model_seed):
        model = worker.double("Linear", 5, model_seed)
        optimizer = worker.double("Adam", Params(model), lr=0.01)
        return model, optimizer, worker.double("StepLR", optimizer, step_size=1, gamma=0.5)

    # What the original run holds when it saves, and after one more epoch: computed here.
    local = setup_local(seed)
    doubles.fit_steps(*local, first)
    saved_lr = local[2].get_last_lr()[0]
    doubles.fit_steps(*local, second)
    resumed = {n: p.detach().clone() for n, p in local[0].named_parameters()}

    original = setup(seed)
    worker.fit_steps(*original, first, what="one epoch of training before save_checkpoint")
    training = load_training(worker)
    path = worker.tempdir() + "/checkpoint.pt"
    training.save_checkpoint(path, *original, epoch=epoch,
                             what=f"save_checkpoint(path, model, optimizer, scheduler, epoch={epoch})")
    partial = worker.tempdir() + "/model-only.pt"
    training.save_checkpoint(partial, original[0], what="save_checkpoint(path, model) (no optimizer)")
    worker.restart()  # a fresh process: only the files reach it
    training = load_training(worker)
    fresh = setup(other)
    what = "load_checkpoint(path, model, optimizer, scheduler) in a fresh process"
    got = training.load_checkpoint(path, *fresh, what=what)
    if type(got) is not int or got != epoch:
        checks.fail(f"{what} returned {got!r}, expected the saved epoch {epoch}.")
    scheduler = worker.method(fresh[2], "state_dict", what="the restored scheduler's state_dict()")
    if not isinstance(scheduler, dict) or scheduler.get("last_epoch") != 1 or scheduler.get("_last_lr") != [saved_lr]:
        checks.fail(f"after {what} the scheduler's state is not the saved one: save scheduler.state_dict() and "
                    "restore it with scheduler.load_state_dict().")
    optimizer = worker.method(fresh[1], "state_dict", what="the restored optimizer's state_dict()")
    if not isinstance(optimizer, dict) or not optimizer.get("state"):
        checks.fail(f"after {what} the optimizer's state (Adam moments) is missing: save optimizer.state_dict() too "
                    "and restore it with optimizer.load_state_dict().")
    worker.fit_steps(*fresh, second, what="one epoch of training after load_checkpoint")
    for name, p in worker.state(fresh[0], "the restored model")["params"].items():
        checks.close(p, resumed[name], f"parameter {name} one epoch after resuming", rtol=1e-5, atol=1e-7,
                     hint="a resumed run must continue exactly like the original: model, optimizer and "
                          "scheduler states all have to be restored.")
    model, optimizer, _ = setup(other)
    checks.raises_value_error(worker, "training.load_checkpoint", partial, model, optimizer,
                              what="load_checkpoint(path, model, optimizer) of a checkpoint saved without an optimizer",
                              rule="an optimizer is given but the checkpoint holds no state for it")
