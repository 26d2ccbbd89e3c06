"""What the training tests share: the likelihoods a correct ``training.py`` may use.

``training.py`` is run on a linear test model with the stand-in likelihood substituted for
``likelihood.py`` (a squared error with constants the test draws, whose ``bits_per_dim``
divides by another constant than ln 2), so that a bug in likelihood.py costs nothing in
section 6. A ``training.py`` that
computes the Bernoulli NLL (or bits/dim) itself instead is just as correct: each expected
value exists for both, and the test accepts the one the returned number matches.
"""
import math

from . import checks

VARIANTS = {"stand-in": "the stand-in likelihood (a squared error) that the tests put in place of likelihood.py",
            "bernoulli": "the Bernoulli NLL computed inside training.py"}
DEFAULT_STANDIN = {"scale": 1.0, "shift": 0.0, "base": 1.5}


def matching_variant(got, variants, key, what, hint, rel_tol=1e-5, abs_tol=1e-6):
    """The name of the variant whose ``key`` ``got`` (a number from the worker) equals; fails
    with the stand-in's expected value (and the other) when none matches."""
    got = checks.number(got, what)
    for name, expected in variants.items():
        if math.isclose(got, expected[key], rel_tol=rel_tol, abs_tol=abs_tol):
            return name
    shown = "; ".join(f"{variants[name][key]:.6f} with {VARIANTS[name]}" for name in variants)
    checks.fail(f"{what} returned {got!r}, expected {shown}.\nHint: {hint}")


def bits_options(nll, num_dims, standin):
    """bits/dim of ``nll`` as the stand-in's ``bits_per_dim`` or the real formula give it."""
    return [nll / (num_dims * standin["base"]), nll / (num_dims * math.log(2))]


def check_bits(got, nll, num_dims, what, standin):
    got = checks.number(got, what)
    options = bits_options(nll, num_dims, standin)
    if not any(math.isclose(got, option, rel_tol=1e-5) for option in options):
        checks.fail(f"{what} is {got!r}, expected {options[0]:.6f} (bits_per_dim of the NLL {nll:.6f} with D = "
                    f"{num_dims}, the number of values in one example: prod(x.shape[1:])).\nHint: bits/dim divides the "
                    "per-example NLL by D * ln 2 (likelihood.bits_per_dim does it); D counts every value of an "
                    "example, not only the last axis.")
