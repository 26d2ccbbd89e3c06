"""Public tests of made.py (section 3). Expected values are recorded from the reference
solution (tests/fixtures/examples.wire); the autoregressive check needs no reference."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import autoregressive, checks, fixtures

EXAMPLES = fixtures.examples()


@weight(1)
@number("3.1")
@visibility("visible")
@tags("made", "made_degrees")
def test_made_degrees_example(worker):
    """made_degrees: input degrees follow order, hidden degrees are 1 + (k mod (D-1))"""
    made = worker.load("made")
    ex = EXAMPLES["made_degrees"]
    what = "made_degrees({}, {}, order={})".format(*ex["args"])
    degrees = made.made_degrees(*ex["args"], what=what)
    expected = ex["out"]
    if not isinstance(degrees, (list, tuple)) or len(degrees) != len(expected):
        checks.fail(f"{what} returned {checks.kind_of(degrees)}"
                    f"{' of length ' + str(len(degrees)) if isinstance(degrees, (list, tuple)) else ''}; "
                    "expected a list [m0, m1, m2].")
    names = ["m0 (inputs)", "m1 (hidden layer 1)", "m2 (hidden layer 2)"]
    for name, got, exp in zip(names, degrees, expected):
        got = checks.tensor(got, f"{what}: {name}", shape=exp.shape)
        if not torch.equal(got.long(), exp):
            checks.fail(f"{what}: {name} is {got.tolist()}, expected {exp.tolist()}.\n"
                        "Hint: m0[order[i]] = i + 1 (1-based: the first generated input has degree 1); "
                        "hidden unit k has degree 1 + (k mod (D - 1)).")


@weight(1)
@number("3.2")
@visibility("visible")
@tags("made", "made_masks")
def test_made_masks_example(worker):
    """made_masks: hidden masks use >=, the output mask uses strict >"""
    made = worker.load("made")
    ex = EXAMPLES["made_masks"]
    what = "made_masks({}, {}, order={})".format(*ex["args"])
    masks = made.made_masks(*ex["args"], what=what)
    expected = ex["out"]
    if not isinstance(masks, (list, tuple)) or len(masks) != 2:
        checks.fail(f"{what} must return a list of 2 masks (one per linear layer), got {checks.kind_of(masks)}.")
    checks.same_mask(masks[0], expected[0], f"{what}[0] (input -> hidden)",
                     "hidden unit k may see input j iff m1[k] >= m0[j]", "hidden unit", "input")
    checks.same_mask(masks[1], expected[1], f"{what}[1] (hidden -> output)",
                     "output d may see hidden unit k iff m0[d] > m1[k] (strict, so no output sees its own input)",
                     "output", "hidden unit")


@weight(1)
@number("3.3")
@visibility("visible")
@tags("made", "MaskedLinear")
def test_masked_linear_forward(worker):
    """MaskedLinear: forward computes x (W * M)^T + b"""
    worker.load("made")
    ex = EXAMPLES["masked_linear"]
    layer = worker.call("made.MaskedLinear", 5, 3, what="MaskedLinear(5, 3)")
    worker.load_params(layer, ex["params"], "MaskedLinear(5, 3)")
    worker.method(layer, "set_mask", ex["mask"], what="MaskedLinear(5, 3).set_mask(mask)")
    out = worker.call(layer, ex["x"], what="MaskedLinear(5, 3)(x)")
    checks.close(out, ex["out"], "MaskedLinear(5, 3)(x) after set_mask(mask)",
                 hint="multiply the weight (not the input or the output) by the mask: "
                      "F.linear(x, self.weight * self.mask, self.bias).")


@weight(1)
@number("3.4")
@visibility("visible")
@tags("made", "MADE", "autoregressive")
def test_made_is_autoregressive(worker):
    """MADE: output d depends exactly on the inputs before d (gradient check, default and reversed order)"""
    worker.load("made")
    gen = torch.Generator().manual_seed(6)
    autoregressive.check_made(worker, 5, [12], list(range(5)), gen)
    autoregressive.check_made(worker, 5, [12, 9], [4, 3, 2, 1, 0], gen)
