"""Hidden tests of made.py (section 3).

The student's code runs in a worker (the ``worker`` fixture); the tests draw weights and
inputs for this upload (``ex``), get plain data back and compare it here with the grader-only
references of :mod:`autograder.oracles`. Tests of ``MaskedLinear`` and of MADE's forward load
known-good masks; the integration tests (3.8, 3.9) use the student's own masks.
"""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import example, given, settings, strategies as st

from autograder import examples, oracles
from tests.support import autoregressive, checks, devices, models, tables

DEGREE_HINT = "m0[order[i]] = i + 1; hidden unit k has degree 1 + (k mod (D - 1)); degrees are LongTensors."


@st.composite
def made_configs(draw, max_dim=9):
    input_dim = draw(st.integers(2, max_dim))
    hidden = draw(st.lists(st.integers(1, 2 * input_dim + 2), min_size=0, max_size=2))
    order = draw(st.permutations(list(range(input_dim))))
    return input_dim, hidden, order


def check_degrees_and_masks(made, input_dim, hidden, order):
    """made_degrees and made_masks of (input_dim, hidden, order) are exact, in their dtypes
    (``order=None``: not passed, the default)."""
    args = (input_dim, hidden) if order is None else (input_dim, hidden, order)
    shown = f"{input_dim}, {hidden}" + ("" if order is None else f", order={order}")
    what = f"made_degrees({shown})"
    degrees = made.made_degrees(*args, what=what)
    expected = oracles.made_degrees(input_dim, hidden, order)
    if not isinstance(degrees, (list, tuple)) or len(degrees) != len(expected):
        checks.fail(f"{what} must return a list of {len(expected)} tensors [m0, ..., m{len(hidden)}].")
    for layer, (got, exp) in enumerate(zip(degrees, expected)):
        checks.integers(got, exp, f"{what}[{layer}]", hint=DEGREE_HINT)
    what = f"made_masks({shown})"
    masks = made.made_masks(*args, what=what)
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
@number("3.5")
@visibility("after_published")
@tags("made", "made_degrees", "made_masks")
@given(config=made_configs(max_dim=12), default_order=st.booleans())
@example(config=(5, [], [3, 0, 4, 1, 2]), default_order=False)  # no hidden layer, whatever examples are drawn
def test_degrees_and_masks_any_order(worker, config, default_order):
    """made_degrees and made_masks: exact (LongTensor degrees, float masks) for random sizes, depths and orders"""
    made = worker.load("made")
    input_dim, hidden, order = config
    check_degrees_and_masks(made, input_dim, hidden, None if default_order else order)


@weight(1)
@number("3.6")
@visibility("after_published")
@tags("made", "errors")
def test_invalid_arguments_raise_value_error(worker, ex):
    """made_degrees, made_masks, set_mask: ValueError on invalid arguments, correct results on valid ones"""
    made = worker.load("made")
    cases = [((1, [4]), "input_dim must be at least 2"), ((4, [3, 0]), "every hidden size must be >= 1"),
             ((3, [4], [0, 1, 1]), "order is not a permutation of range(3) (1 repeats, 2 is missing)"),
             ((3, [4], [0, 1]), "order has 2 entries instead of 3"), ((3, [4], [1, 2, 3]), "order must contain 0, 1, 2")]
    for name in ("made_degrees", "made_masks"):
        for args, rule in cases:
            shown = ", ".join(map(str, args[:2])) + (f", order={args[2]}" if len(args) > 2 else "")
            checks.raises_value_error(worker, f"made.{name}", *args, what=f"{name}({shown})", rule=rule)
    gen = ex.generator("valid")
    input_dim = int(torch.randint(3, 7, (1,), generator=gen))
    hidden = [int(torch.randint(input_dim, 2 * input_dim, (1,), generator=gen))]
    check_degrees_and_masks(made, input_dim, hidden, examples.random_order(gen, input_dim))
    fan_in, fan_out = int(torch.randint(2, 6, (1,), generator=gen)), int(torch.randint(2, 6, (1,), generator=gen))
    what = f"MaskedLinear({fan_in}, {fan_out})"
    layer = worker.call("made.MaskedLinear", fan_in, fan_out, what=what)
    checks.raises_value_error(worker, layer, torch.ones(fan_out + 1, fan_in), method="set_mask",
                              what=f"{what}.set_mask(ones({fan_out + 1}, {fan_in}))",
                              rule=f"the mask must have the weight's shape (out_features, in_features) = "
                                   f"({fan_out}, {fan_in})")
    params = tables.random_params({"weight": (fan_out, fan_in), "bias": (fan_out,)}, gen, dtype=torch.float32)
    mask = (torch.rand(fan_out, fan_in, generator=gen) < 0.5).float()
    # every row keeps one input and masks another, so a forward that ignores the mask shows
    kept = torch.randint(0, fan_in, (fan_out,), generator=gen)
    mask[torch.arange(fan_out), kept] = 1.0
    mask[torch.arange(fan_out), (kept + torch.randint(1, fan_in, (fan_out,), generator=gen)) % fan_in] = 0.0
    worker.load_params(layer, params, what)
    worker.method(layer, "set_mask", mask, what=f"{what}.set_mask(mask of shape ({fan_out}, {fan_in}))")
    x = torch.randn(3, fan_in, generator=gen)
    checks.close(worker.call(layer, x, what=f"{what}(x)"), oracles.masked_linear(params, mask, x),
                 f"{what}(x) after a valid set_mask", rtol=1e-5, atol=1e-5, dtype=torch.float32)


@weight(0.5)
@number("3.7")
@visibility("after_published")
@tags("made", "MaskedLinear")
def test_masked_linear_masks_weight_not_bias(worker, ex):
    """MaskedLinear: bias not masked, exact gradients (zero where masked), new masks take effect, in place; bias=False"""
    worker.load("made")
    gen = ex.generator("layer")
    fan_in, fan_out = int(torch.randint(3, 7, (1,), generator=gen)), int(torch.randint(2, 5, (1,), generator=gen))
    what = f"MaskedLinear({fan_in}, {fan_out})"
    layer = worker.call("made.MaskedLinear", fan_in, fan_out, what=what)
    params = tables.random_params({"weight": (fan_out, fan_in), "bias": (fan_out,)}, gen, dtype=torch.float32)
    params["bias"] = params["bias"] * 10
    worker.load_params(layer, params, what)
    mask = (torch.rand(fan_out, fan_in, generator=gen) < 0.6).float()
    mask[0] = 0.0  # output 0 sees nothing: it must equal its bias
    worker.method(layer, "set_mask", mask.bool(), what=f"{what}.set_mask(a bool mask whose row 0 is all zero)")
    x = torch.randn(5, fan_in, generator=gen)
    out = worker.call(layer, x, what=f"{what}(x) with the first row of the mask all zero")
    checks.close(out, oracles.masked_linear(params, mask, x), f"{what}(x) after set_mask(mask) (output 0 must equal "
                 "its bias)", rtol=1e-5, atol=1e-5, dtype=torch.float32, inputs={"mask": mask},
                 hint="mask only the weight: F.linear(x, self.weight * self.mask, self.bias); set_mask copies the "
                      "mask (float or bool) into the float buffer.")
    # The gradients of sum(c * out) for a random c, computed in the worker, against the exact ones.
    c = torch.randn(5, fan_out, generator=gen)
    result = worker.grad(layer, x, what=f"backward through {what}", wrt_params=["weight", "bias"], cotangent=c)
    grads = result["grads"] or [None, None]
    if grads[0] is None:
        checks.fail(f"{what}: weight.grad is None after backward; use self.weight (a parameter) in forward, "
                    "multiplied by self.mask.")
    checks.close(grads[0], (c.double().T @ x.double()) * mask.double(), f"{what}: the gradient of the weight",
                 rtol=1e-5, atol=1e-5, dtype=torch.float32,
                 hint="multiply the weight by the mask inside forward so masked weights get no gradient.")
    checks.close(grads[1], c.double().sum(0), f"{what}: the gradient of the bias", rtol=1e-5, atol=1e-5,
                 dtype=torch.float32, hint="the bias is not masked.")
    # Judged from outputs alone: masking the weight in place loses the masked entries for good.
    worker.method(layer, "set_mask", torch.ones(fan_out, fan_in), what="set_mask(all ones) after forward passes")
    what_ones = f"{what}(x) after forward passes with a mask and then set_mask(all ones)"
    checks.close(worker.call(layer, x, what=what_ones), oracles.masked_linear(params, torch.ones(fan_out, fan_in), x),
                 what_ones, rtol=1e-5, atol=1e-5, dtype=torch.float32,
                 hint="multiply inside forward (F.linear(x, self.weight * self.mask, self.bias)); masking the "
                      "weight in place (self.weight.data *= self.mask) changes the parameter for good.")
    # set_mask copies in place: on a layer moved to another device the buffer stays there.
    moved = worker.convert(layer, what=f"{what}.to('meta')", device=torch.device("meta"))
    worker.method(moved, "set_mask", mask, what=f"{what}.to('meta').set_mask(mask) with a mask on the CPU")
    checks.tensor(worker.call_no_grad(moved, torch.empty(5, fan_in, device="meta"), what=f"{what} on 'meta'"),
                  f"{what}.to('meta') after set_mask, called on a meta tensor", shape=(5, fan_out), device="meta")
    what = f"MaskedLinear({fan_in}, {fan_out}, bias=False)"
    layer = worker.call("made.MaskedLinear", fan_in, fan_out, bias=False, what=what)
    worker.load_params(layer, {"weight": params["weight"]}, what)
    worker.method(layer, "set_mask", mask, what=f"{what}.set_mask(mask)")
    checks.close(worker.call(layer, x, what=f"{what}(x)"), oracles.masked_linear({"weight": params["weight"]}, mask, x),
                 f"{what}(x)", rtol=1e-5, atol=1e-5, dtype=torch.float32,
                 hint="with bias=False, self.bias is None: F.linear(x, self.weight * self.mask, self.bias) handles it.")


@weight(1.5)
@number("3.8")
@visibility("after_published")
@tags("made", "MADE", "autoregressive")
@settings(max_examples=10)
@given(config=made_configs())
def test_made_autoregressive_any_order(worker, ex, config):
    """MADE (integration): exact autoregressive property and MADE's outputs under random orders and sizes"""
    worker.load("made")
    input_dim, hidden, order = config
    case = examples.made_case(ex.generator(input_dim, hidden, order), examples.OracleReference, input_dim, hidden,
                              order)
    autoregressive.check_made(worker, case)


@weight(1)
@number("3.9")
@visibility("after_published")
@tags("made", "MADE", "nll")
def test_made_nll_matches_reference(worker, ex):
    """MADE (integration): logits and NLL on (B, 4, 5) inputs and on a batch of one match the reference"""
    worker.load("made")
    gen = ex.generator("case")
    config = {"input_dim": 20, "hidden_sizes": [32, 24], "order": examples.random_order(gen, 20)}
    case = examples.nll_case(gen, examples.OracleReference, "made", config,
                             [int(torch.randint(24, 65, (1,), generator=gen)), 4, 5])
    with checks.preface(models.made_mask_note(worker, config, oracles.made_masks(**config))):
        hint = ("flatten x to (B, D), run self.net and reshape the logits back to x's shape; with the same weights, "
                "wrong masks or degrees give different logits.")
        models.check_nll(worker, case, hint, oracles.nll)


@weight(0.5)
@number("3.10")
@visibility("after_published")
@tags("made", "MADE", "errors")
def test_made_forward_shapes(worker, ex):
    """MADE (known-good masks): outputs for (B, D), (B, *shape) and a batch of one; ValueError on a wrong size; attributes"""
    worker.load("made")
    gen = ex.generator("weights")
    config = {"input_dim": 6, "hidden_sizes": [10], "order": None}
    model, what = models.build_made(worker, config)
    attributes = {"input_dim": 6, "hidden_sizes": [10]}
    for name, value in attributes.items():
        got = worker.getattr(model, name, what)
        if (list(got) if isinstance(got, (list, tuple)) else got) != value:
            checks.fail(f"{what}.{name} is {got!r}, expected {value!r}. Keep the provided __init__.")
    checks.integers(worker.getattr(model, "order", what), torch.arange(6), f"{what}.order (the default order)",
                    hint="order=None means range(input_dim), as a LongTensor (the provided __init__ does this).")
    worker.load_buffers(model, oracles.made_mask_buffers(6, [10]), f"{what} with {models.KNOWN_GOOD}")
    params = tables.random_params(oracles.made_param_shapes(6, [10]), gen, dtype=torch.float32)
    worker.load_params(model, params, what)
    for shape in [(3, 6), (3, 2, 3), (1, 1, 6), (1, 6)]:
        x = torch.rand(shape, generator=gen)
        models.check_outputs(worker.call_no_grad(model, x, what=f"{what}(x) with x of shape {shape}"),
                             oracles.made_forward(6, [10], None, params, x), f"{what}(x) with x of shape {shape} "
                             f"({models.KNOWN_GOOD})", "made", torch.float32)
    models.check_in_use(worker, model, examples.in_use(gen, lambda x: oracles.made_forward(6, [10], None, params, x),
                                                       (2, 3)), f"{what} with {models.KNOWN_GOOD}", "made")
    checks.raises_value_error(worker, model, torch.zeros(3, 7), what=f"{what}(x) with x of shape (3, 7)",
                              rule="7 values per example do not match input_dim = 6")


@weight(0.5)
@number("3.11")
@visibility("after_published")
@tags("made", "MADE", "devices")
def test_made_device_portability(worker, ex):
    """MADE (known-good masks): GPU and CPU agree (with CUDA); float32 and float64 outputs; meta works"""
    worker.load("made")
    gen = ex.generator("weights")
    order = examples.random_order(gen, 784)
    config = {"input_dim": 784, "hidden_sizes": [32, 32], "order": order}  # MNIST's size
    model, what, params = models.known_good(worker, config, oracles.made_mask_buffers(784, [32, 32], order),
                                              oracles.made_param_shapes(784, [32, 32]), gen)
    x = torch.rand(5, 784, generator=gen)
    devices.check_portable(worker, model, x, oracles.made_forward(784, [32, 32], order, params, x),
                           f"{what} with {models.KNOWN_GOOD}", "made")
    models.check_in_use(worker, model, examples.in_use(gen, lambda x: oracles.made_forward(784, [32, 32], order, params, x),
                                                       (784,), order), f"{what} with {models.KNOWN_GOOD}", "made")
