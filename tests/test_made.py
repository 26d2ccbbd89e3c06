"""Public tests of made.py (section 3)."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import autoregressive, checks, oracles, student


@weight(1)
@number("3.1")
@visibility("visible")
@tags("made", "made_degrees")
def test_made_degrees_example():
    """made_degrees: input degrees follow order, hidden degrees are 1 + (k mod (D-1))"""
    made = student.load("made")
    order = [2, 0, 3, 1]
    what = f"made_degrees(4, [5, 3], order={order})"
    degrees = student.call(made.made_degrees, 4, [5, 3], order, what=what)
    expected = oracles.made_degrees(4, [5, 3], order)
    if not isinstance(degrees, (list, tuple)) or len(degrees) != 3:
        checks.fail(f"{what} returned {type(degrees).__name__} of length "
                    f"{len(degrees) if hasattr(degrees, '__len__') else '?'}; expected a list [m0, m1, m2].")
    names = ["m0 (inputs)", "m1 (hidden layer 1)", "m2 (hidden layer 2)"]
    for name, got, exp in zip(names, degrees, expected):
        got = checks.tensor(got, f"{what}: {name}", shape=exp.shape)
        if not torch.equal(got.long().cpu(), exp):
            checks.fail(f"{what}: {name} is {got.tolist()}, expected {exp.tolist()}.\n"
                        "Hint: m0[order[i]] = i + 1 (1-based: the first generated input has degree 1); "
                        "hidden unit k has degree 1 + (k mod (D - 1)).")


@weight(1)
@number("3.2")
@visibility("visible")
@tags("made", "made_masks")
def test_made_masks_example():
    """made_masks: hidden masks use >=, the output mask uses strict >"""
    made = student.load("made")
    order = [1, 3, 0, 2]
    what = f"made_masks(4, [6], order={order})"
    masks = student.call(made.made_masks, 4, [6], order, what=what)
    expected = oracles.made_masks(4, [6], order)
    if not isinstance(masks, (list, tuple)) or len(masks) != 2:
        checks.fail(f"{what} must return a list of 2 masks (one per linear layer), got {type(masks).__name__}.")
    checks.same_mask(masks[0], expected[0], f"{what}[0] (input -> hidden)",
                     "hidden unit k may see input j iff m1[k] >= m0[j]", "hidden unit", "input")
    checks.same_mask(masks[1], expected[1], f"{what}[1] (hidden -> output)",
                     "output d may see hidden unit k iff m0[d] > m1[k] (strict, so no output sees its own input)",
                     "output", "hidden unit")


@weight(1)
@number("3.3")
@visibility("visible")
@tags("made", "MaskedLinear")
def test_masked_linear_forward():
    """MaskedLinear: forward computes x (W * M)^T + b"""
    made = student.load("made")
    gen = torch.Generator().manual_seed(5)
    layer = student.call(made.MaskedLinear, 5, 3, what="MaskedLinear(5, 3)")
    mask = (torch.rand(3, 5, generator=gen) < 0.5).float()
    student.call(layer.set_mask, mask, what="MaskedLinear(5, 3).set_mask(mask)")
    x = torch.randn(4, 5, generator=gen)
    out = student.call(layer, x, what="MaskedLinear(5, 3)(x)")
    expected = x @ (layer.weight.detach() * mask).T + layer.bias.detach()
    checks.close(out, expected, "MaskedLinear(5, 3)(x) after set_mask(mask)",
                 hint="multiply the weight (not the input or the output) by the mask: "
                      "F.linear(x, self.weight * self.mask, self.bias).")


@weight(1)
@number("3.4")
@visibility("visible")
@tags("made", "MADE", "autoregressive")
def test_made_is_autoregressive():
    """MADE: output d depends exactly on the inputs before d (gradient check, default and reversed order)"""
    made = student.load("made")
    gen = torch.Generator().manual_seed(6)
    autoregressive.check_made(made, 5, [12], list(range(5)), gen)
    autoregressive.check_made(made, 5, [12, 9], [4, 3, 2, 1, 0], gen)
