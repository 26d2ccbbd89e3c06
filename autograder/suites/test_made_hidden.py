"""Hidden tests of made.py (section 3).

The student's code runs in a worker (the ``worker`` fixture); the tests send inputs, get plain
data back and compare it here with the grader-only references of :mod:`autograder.oracles`.
"""
from pathlib import Path

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings, strategies as st

from autograder import oracles
from tests.probes import wire
from tests.support import autoregressive, checks, devices, fixtures

HIDDEN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = fixtures.load(HIDDEN_FIXTURES / "made_nll.wire")


@st.composite
def made_configs(draw, max_dim=9):
    input_dim = draw(st.integers(2, max_dim))
    hidden = draw(st.lists(st.integers(1, 2 * input_dim + 2), min_size=0, max_size=2))
    order = draw(st.permutations(list(range(input_dim))))
    return input_dim, hidden, order


@weight(1)
@number("3.5")
@visibility("after_published")
@tags("made", "made_degrees", "made_masks")
@given(config=made_configs(max_dim=12))
def test_degrees_and_masks_any_order(worker, config):
    """made_degrees and made_masks: exact for random sizes, depths (incl. none) and orders"""
    made = worker.load("made")
    input_dim, hidden, order = config
    what = f"made_degrees({input_dim}, {hidden}, order={order})"
    degrees = made.made_degrees(input_dim, hidden, order, what=what)
    expected = oracles.made_degrees(input_dim, hidden, order)
    if not isinstance(degrees, (list, tuple)) or len(degrees) != len(expected):
        checks.fail(f"{what} must return a list of {len(expected)} tensors [m0, ..., m{len(hidden)}].")
    for layer, (got, exp) in enumerate(zip(degrees, expected)):
        got = checks.tensor(got, f"{what}[{layer}]", shape=exp.shape)
        if isinstance(got, wire.TensorInfo):
            checks.fail(f"{what}[{layer}] is a tensor without data (on '{got.device}'), expected {exp.tolist()}.")
        if not torch.equal(got.long(), exp):
            checks.fail(f"{what}[{layer}] is {got.tolist()}, expected {exp.tolist()}.\nHint: m0[order[i]] = i + 1; "
                        "hidden unit k has degree 1 + (k mod (D - 1)).")
    what = f"made_masks({input_dim}, {hidden}, order={order})"
    masks = made.made_masks(input_dim, hidden, order, what=what)
    expected = oracles.made_masks(input_dim, hidden, order)
    if not isinstance(masks, (list, tuple)) or len(masks) != len(expected):
        checks.fail(f"{what} must return {len(expected)} masks, one per linear layer.")
    for layer, (got, exp) in enumerate(zip(masks, expected)):
        last = layer == len(expected) - 1
        rule = ("output d sees unit k iff m0[d] > m_L[k]" + (" (no hidden layers: iff m0[d] > m0[j])" if not hidden
                                                               else "") if last else
                f"unit k of hidden layer {layer + 1} sees unit j below iff m_{layer + 1}[k] >= m_{layer}[j]")
        checks.same_mask(got, exp, f"{what}[{layer}]", rule)


@weight(1)
@number("3.6")
@visibility("after_published")
@tags("made", "errors")
def test_invalid_arguments_raise_value_error(worker):
    """made_degrees, made_masks, set_mask: ValueError on invalid arguments"""
    worker.load("made")
    for name in ("made_degrees", "made_masks"):
        fn = f"made.{name}"
        checks.raises_value_error(worker, fn, 1, [4], what=f"{name}(1, [4])", rule="input_dim must be at least 2")
        checks.raises_value_error(worker, fn, 4, [3, 0], what=f"{name}(4, [3, 0])",
                                  rule="every hidden size must be >= 1")
        checks.raises_value_error(worker, fn, 3, [4], [0, 1, 1], what=f"{name}(3, [4], order=[0, 1, 1])",
                                  rule="order is not a permutation of range(3) (1 repeats, 2 is missing)")
        checks.raises_value_error(worker, fn, 3, [4], [0, 1], what=f"{name}(3, [4], order=[0, 1])",
                                  rule="order has 2 entries instead of 3")
        checks.raises_value_error(worker, fn, 3, [4], [1, 2, 3], what=f"{name}(3, [4], order=[1, 2, 3])",
                                  rule="order must contain 0, 1, 2")
    layer = worker.call("made.MaskedLinear", 4, 3, what="MaskedLinear(4, 3)")
    checks.raises_value_error(worker, layer, torch.ones(4, 3), method="set_mask",
                              what="MaskedLinear(4, 3).set_mask(ones(4, 3))",
                              rule="the mask must have the weight's shape (out_features, in_features) = (3, 4)")


@weight(0.5)
@number("3.7")
@visibility("after_published")
@tags("made", "MaskedLinear")
def test_masked_linear_masks_weight_not_bias(worker):
    """MaskedLinear: the bias is not masked and masked weights get zero gradient"""
    worker.load("made")
    what = "MaskedLinear(3, 2)"
    layer = worker.call("made.MaskedLinear", 3, 2, what=what)
    gen = torch.Generator().manual_seed(37)
    weight_, bias = torch.randn(2, 3, generator=gen), torch.tensor([0.5, -1.5])
    worker.load_params(layer, {"weight": weight_, "bias": bias}, what)
    mask = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    worker.method(layer, "set_mask", mask, what="set_mask([[0, 0, 0], [1, 0, 1]])")
    x = torch.randn(4, 3, generator=gen)
    out = worker.call(layer, x, what="MaskedLinear(3, 2)(x) with the first row of the mask all zero")
    checks.close(checks.tensor(out, "MaskedLinear(3, 2)(x)", shape=(4, 2))[:, 0], torch.full((4,), 0.5),
                 "output 0 of a layer whose mask row 0 is all zero (it must equal the bias, 0.5)",
                 hint="mask only the weight: F.linear(x, self.weight * self.mask, self.bias).")
    # The gradient of out.sum() with respect to the layer's weight, computed in the worker and
    # judged here against the mask this test set (not the layer's own buffer).
    result = worker.grad(layer, x, what="backward through MaskedLinear", wrt_params=["weight"])
    grad = (result["grads"] or [None])[0]
    if grad is None:
        checks.fail("MaskedLinear(3, 2): weight.grad is None after backward; use self.weight (a parameter) "
                    "in forward, multiplied by self.mask.")
    grad = checks.tensor(grad, "the weight gradient of MaskedLinear(3, 2)", shape=(2, 3))
    if isinstance(grad, wire.TensorInfo):
        checks.fail(f"MaskedLinear(3, 2): the weight gradient is a tensor without data (on '{grad.device}').")
    checks.close(grad * (1 - mask), torch.zeros(2, 3), "weight gradient at masked entries",
                 hint="multiply the weight by the mask inside forward so masked weights get no gradient.")
    # Judged from outputs alone: y = x (W ⊙ M)^T + b for the mask set last, with the weights the
    # test loaded. Masking the weight in place loses the masked entries for good.
    worker.method(layer, "set_mask", torch.ones(2, 3), what="set_mask(all ones) after forward passes with a mask")
    what = "MaskedLinear(3, 2)(x) after forward passes with a mask and then set_mask(all ones)"
    checks.close(checks.tensor(worker.call(layer, x, what=what), what, shape=(4, 2)), x @ weight_.T + bias, what,
                 hint="multiply inside forward (F.linear(x, self.weight * self.mask, self.bias)); masking the "
                      "weight in place (self.weight.data *= self.mask) changes the parameter for good.")


@weight(1.5)
@number("3.8")
@visibility("after_published")
@tags("made", "MADE", "autoregressive")
@settings(max_examples=10)
@given(config=made_configs())
def test_made_autoregressive_any_order(worker, config):
    """MADE: exact autoregressive property under random orders and sizes (gradient check)"""
    worker.load("made")
    input_dim, hidden, order = config
    # Hidden layers narrower than D - 1 cannot carry every allowed connection: require only
    # those the reference masks make.
    required = (oracles.connectivity(oracles.made_masks(input_dim, hidden, order))
                if any(h < input_dim - 1 for h in hidden) else None)
    autoregressive.check_made(worker, input_dim, hidden, order, torch.Generator().manual_seed(sum(order) + 7),
                              required=required)


@weight(1)
@number("3.9")
@visibility("after_published")
@tags("made", "MADE", "nll")
def test_made_nll_matches_reference(worker):
    """MADE: logits and NLL on (B, 4, 5) inputs match the reference model with fixed weights"""
    worker.load("made")
    logits, what = fixtures.check_logits(
        worker, FIXTURE, hint="flatten x to (B, D), run self.net and reshape the logits back to x's shape; "
                              "with the same weights, wrong masks or degrees give different logits.")
    checks.close(oracles.nll(checks.tensor(logits, what), FIXTURE["x"]), FIXTURE["nll"],
                 f"NLL of {what} on the reference inputs", rtol=1e-4, atol=1e-3)


@weight(0.5)
@number("3.10")
@visibility("after_published")
@tags("made", "MADE", "errors")
def test_made_forward_shapes(worker):
    """MADE: forward keeps (B, D) and (B, *shape) and rejects inputs of the wrong size"""
    worker.load("made")
    model = worker.call("made.MADE", 6, [10], what="MADE(6, [10])")
    for shape in [(3, 6), (3, 2, 3), (1, 1, 6)]:
        x = torch.rand(shape)
        checks.tensor(worker.call(model, x, what=f"MADE(6, [10])(x) with x of shape {shape}"),
                      f"MADE(6, [10])(x) with x of shape {shape}", shape=shape)
    checks.raises_value_error(worker, model, torch.zeros(3, 7), what="MADE(6, [10])(x) with x of shape (3, 7)",
                              rule="7 values per example do not match input_dim = 6")


@weight(0.5)
@number("3.11")
@visibility("after_published")
@tags("made", "MADE", "devices")
def test_made_device_portability(worker):
    """MADE: GPU and CPU agree (with CUDA); otherwise masks follow .to(), float64 agrees, meta works"""
    worker.load("made")
    model = worker.call("made.MADE", 8, [16, 16], [3, 1, 7, 0, 2, 6, 4, 5], what="MADE(8, [16, 16], order)")
    devices.check_portable(worker, model, torch.rand(5, 8), "MADE(8, [16, 16], order)", masked_class="MaskedLinear")
