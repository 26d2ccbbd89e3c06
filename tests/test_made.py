"""Public tests of made.py (section 3). Locally the examples are recorded from the reference
solution (tests/fixtures/examples.wire); on the grader they are drawn fresh for your upload,
with the same checks and messages."""
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import autoregressive, checks

DEGREE_HINT = ("m0[order[i]] = i + 1 (1-based: the first generated input has degree 1); hidden unit k has degree "
               "1 + (k mod (D - 1)); degrees are LongTensors.")


@weight(1)
@number("3.1")
@visibility("visible")
@tags("made", "made_degrees")
def test_made_degrees_example(worker, ex):
    """made_degrees: input degrees follow order, hidden degrees are 1 + (k mod (D-1))"""
    made = worker.load("made")
    e = ex.get("made_degrees")
    what = "made_degrees({}, {}, order={})".format(*e["args"])
    degrees = made.made_degrees(*e["args"], what=what)
    expected = e["out"]
    if not isinstance(degrees, (list, tuple)) or len(degrees) != len(expected):
        checks.fail(f"{what} returned {checks.kind_of(degrees)}"
                    f"{' of length ' + str(len(degrees)) if isinstance(degrees, (list, tuple)) else ''}; "
                    f"expected a list [m0, ..., m{len(expected) - 1}] of {len(expected)} tensors.")
    names = ["m0 (inputs)"] + [f"m{layer} (hidden layer {layer})" for layer in range(1, len(expected))]
    for name, got, exp in zip(names, degrees, expected):
        checks.integers(got, exp, f"{what}: {name}", hint=DEGREE_HINT)


@weight(1)
@number("3.2")
@visibility("visible")
@tags("made", "made_masks")
def test_made_masks_example(worker, ex):
    """made_masks: hidden masks use >=, the output mask uses strict >"""
    made = worker.load("made")
    e = ex.get("made_masks")
    what = "made_masks({}, {}, order={})".format(*e["args"])
    masks = made.made_masks(*e["args"], what=what)
    expected = e["out"]
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
def test_masked_linear_forward(worker, ex):
    """MaskedLinear: forward computes x (W * M)^T + b"""
    worker.load("made")
    e = ex.get("masked_linear")
    what = f"MaskedLinear({e['in_features']}, {e['out_features']})"
    layer = worker.call("made.MaskedLinear", e["in_features"], e["out_features"], what=what)
    worker.load_params(layer, e["params"], what)
    worker.method(layer, "set_mask", e["mask"], what=f"{what}.set_mask(mask)")
    out = worker.call(layer, e["x"], what=f"{what}(x)")
    checks.close(out, e["out"], f"{what}(x) after set_mask(mask)", rtol=1e-5, atol=1e-5,
                 inputs={"x": e["x"], "mask": e["mask"]},
                 hint="multiply the weight (not the input or the output) by the mask: "
                      "F.linear(x, self.weight * self.mask, self.bias).")


@weight(1)
@number("3.4")
@visibility("visible")
@tags("made", "MADE", "autoregressive")
def test_made_is_autoregressive(worker, ex):
    """MADE (integration): output d depends exactly on the inputs before d, and the outputs are MADE's"""
    worker.load("made")
    for case in ex.get("made_autoregressive"):
        autoregressive.check_made(worker, case)
