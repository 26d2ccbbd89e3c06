"""Detect monkeypatching: a snapshot of the objects the verdicts rely on, taken before any
student code runs, compared after each test.

Checks hold references captured at import, so a patched ``torch.allclose`` cannot change a
verdict; this catches the attempt itself (including patches to the test helpers, pytest and
builtins) and fails the test with a clear message.
"""
import sys

WATCHED_MODULES = ("builtins", "math", "torch", "torch.nn", "torch.nn.functional", "torch.testing",
                   "torch.autograd", "numpy", "pytest", "_pytest.outcomes", "json", "os")
WATCHED_PREFIXES = ("tests.support.",)


def _watched_classes():
    import torch

    return {"torch.Tensor": torch.Tensor, "torch.nn.Module": torch.nn.Module,
            "torch.Generator": torch.Generator, "builtins.object": object}


def snapshot():
    """``{(owner, attribute): id(value)}`` for the watched modules and classes."""
    owners = {name: sys.modules[name] for name in WATCHED_MODULES if name in sys.modules}
    owners.update({name: module for name, module in sys.modules.items()
                   if name.startswith(WATCHED_PREFIXES) and module is not None})
    state = {}
    for name, module in owners.items():
        for attr, value in list(vars(module).items()):
            state[(name, attr)] = id(value)
    for name, cls in _watched_classes().items():
        for attr, value in list(vars(cls).items()):
            state[(name, attr)] = id(value)
    return state


def changes(before):
    """Names of watched attributes that were replaced or deleted since ``before``."""
    after = snapshot()
    return sorted(f"{owner}.{attr}" for (owner, attr), ident in before.items()
                  if after.get((owner, attr)) != ident and not _volatile(owner, attr))


def _volatile(owner, attr):
    # Attributes that the libraries themselves rebind while running (caches, lazy loaders).
    return attr.startswith("__") or attr in {"_GLOBAL_DEVICE_CONTEXT", "_warned", "_default_to_fused_or_foreach",
                                             "_EXTRA_STATE_KEY_SUFFIX"} or owner == "os" and attr == "environ"

