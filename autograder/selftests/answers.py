"""Does any shipped module implement a graded function? A check by behaviour, not by text.

``python -c "...; answers.main(FOLDER)"`` with ``FOLDER`` first on ``sys.path``: imports every
module under ``FOLDER`` (except the student's ``submission/``), calls every function and class
it defines with the arguments each graded function takes, and prints one JSON line per call
whose output equals the reference solution's for those arguments. Run in a subprocess by
``test_no_answers.py`` so that the folder's ``tests`` package is the one imported.
"""
import importlib
import inspect
import json
import signal
import sys
from pathlib import Path

import torch


def cases():
    """``(graded function, args, reference output)`` from the reference solution."""
    from autograder.solution import likelihood, made, pixelcnn, probability

    gen = torch.Generator().manual_seed(5)
    p = torch.softmax(torch.randn(3, 5, generator=gen), -1)
    q = torch.softmax(torch.randn(3, 5, generator=gen), -1)
    lp, lq = torch.randn(3, 5, generator=gen), torch.randn(3, 5, generator=gen)
    g = [torch.randn(6, generator=gen) for _ in range(4)]
    logits = torch.randn(4, 1, 3, 3, generator=gen)
    x = (torch.rand(4, 1, 3, 3, generator=gen) < 0.5).float()
    nll = torch.tensor([100.0, 7.5])
    out = [
        ("kl_divergence", (p, q), probability.kl_divergence(p, q)),
        ("kl_divergence_logits", (lp, lq), probability.kl_divergence_logits(lp, lq)),
        ("gaussian_kl", tuple(g), probability.gaussian_kl(*g)),
        ("bernoulli_nll", (logits, x), likelihood.bernoulli_nll(logits, x)),
        ("bits_per_dim", (nll, 784), likelihood.bits_per_dim(nll, 784)),
        ("made_degrees", (5, [6, 4], [3, 0, 4, 1, 2]), made.made_degrees(5, [6, 4], [3, 0, 4, 1, 2])),
        ("made_degrees", (5, [6, 4]), made.made_degrees(5, [6, 4])),
        ("made_masks", (5, [7], [2, 4, 0, 1, 3]), made.made_masks(5, [7], [2, 4, 0, 1, 3])),
        ("made_masks", (5, [7]), made.made_masks(5, [7])),
    ]
    out += [("causal_mask", (k, t), pixelcnn.causal_mask(k, t)) for k in (3, 5, 7) for t in "AB"]
    return out


def same(a, b):
    if isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and a.shape == b.shape and a.numel() > 0
                and torch.allclose(a.detach().double().cpu(), b.double(), rtol=1e-4, atol=1e-6, equal_nan=True))
    if isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return False


def modules(folder):
    folder = Path(folder)
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder)
        if rel.parts[0] in ("submission",) or any(part.startswith(".") for part in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            yield ".".join(parts)


def callables(module):
    for name, obj in list(vars(module).items()):
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == module.__name__:
            yield name, obj


def _alarm(signum, frame):
    raise TimeoutError


def main(folder):
    signal.signal(signal.SIGALRM, _alarm)
    torch.set_num_threads(1)
    checked = imported = 0
    for name in modules(folder):
        try:
            module = importlib.import_module(name)
        except BaseException as exc:  # noqa: B902 — a module that cannot be imported implements nothing
            print(json.dumps({"module": name, "import_error": f"{type(exc).__name__}: {str(exc)[:200]}"}))
            continue
        imported += 1
        for attr, obj in callables(module):
            for graded, args, reference in cases():
                checked += 1
                signal.setitimer(signal.ITIMER_REAL, 2.0)
                try:
                    value = obj(*args)
                except BaseException:  # noqa: B902 — most calls do not even fit the arguments
                    continue
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if same(value, reference):
                    print(json.dumps({"module": name, "callable": attr, "implements": graded}))
    print(json.dumps({"imported": imported, "checked": checked}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
