"""Import the student's modules and call their functions with feedback a student can act on.

Student code is imported lazily, inside each test, never at collection: the grader collects
the tests in a process that must never run student code.
"""
import importlib
import os
import sys
import traceback
from pathlib import Path

import pytest

PACKAGE = "submission"
FILES = {
    "probability": "probability.py",
    "likelihood": "likelihood.py",
    "made": "made.py",
    "pixelcnn": "pixelcnn.py",
    "sampling": "sampling.py",
    "training": "training.py",
}


def _where(exc):
    """' (made.py, line 42, in forward)' for the innermost frame in a student file, or ''."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_student_file(f.filename)]
    if isinstance(exc, SyntaxError) and exc.filename and _is_student_file(exc.filename):
        return f" ({Path(exc.filename).name}, line {exc.lineno})"
    if not frames:
        return ""
    f = frames[-1]
    return f" ({Path(f.filename).name}, line {f.lineno}, in {f.name})"


def _is_student_file(filename):
    return Path(filename).parent.name == PACKAGE and Path(filename).name in FILES.values()


def raised_in_submission(exc):
    """True if the traceback of ``exc`` passes through one of the student's files."""
    return bool(_where(exc))


def describe(exc):
    """One line naming an exception raised by student code and where it was raised."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(exc).__name__}{': ' + text if text else ''}{_where(exc)}"


def _search_first():
    """Put the folder named by ``PS1_SUBMISSION`` (which holds a ``submission/`` package) first
    on ``sys.path``; the grader sets it to the staged upload."""
    root = os.environ.get("PS1_SUBMISSION")
    if root:
        root = os.path.abspath(root)
        if sys.path[:1] != [root]:
            sys.path[:] = [root] + [p for p in sys.path if p != root]
        loaded = sys.modules.get(PACKAGE)
        if loaded is not None and os.path.dirname(os.path.dirname(loaded.__file__ or "")) != root:
            unload()


def load(name):
    """The student's module ``submission.<name>``; fails the test with a clear message if the
    file is missing, has a syntax error or raises on import."""
    filename = FILES[name]
    _search_first()
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"{PACKAGE}.{name}", PACKAGE):
            message = (f"{filename} was not found in your submission, so this test cannot run. Upload "
                       f"{filename} (the six graded files are {', '.join(FILES.values())}).")
        else:
            message = (f"importing {filename} failed: {describe(exc)}. Only torch, numpy and the "
                       "standard library are available to your code.")
    except SyntaxError as exc:
        message = (f"{filename} has a syntax error: {exc.msg} ({Path(exc.filename or filename).name}, "
                   f"line {exc.lineno}). Fix it and run the public tests again.")
    except BaseException as exc:  # noqa: B902 — SystemExit at import must not end the test silently
        message = (f"importing {filename} raised {describe(exc)}. Code at the top level of a module "
                   "runs on import; keep it inside functions.")
    # Failing outside the except block keeps the student's traceback out of the report.
    pytest.fail(message, pytrace=False)


def call(fn, *args, what=None, **kwargs):
    """``fn(*args, **kwargs)``, turning an exception into a test failure that names the call."""
    what = what or f"{getattr(fn, '__qualname__', fn)}(...)"
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as exc:
        message = f"{what}: not implemented yet ({describe(exc)})."
    except pytest.fail.Exception:
        raise
    except BaseException as exc:  # noqa: B902 — SystemExit and KeyboardInterrupt from student code too
        message = f"{what} raised {describe(exc)}"
    pytest.fail(message, pytrace=False)


def unload():
    """Forget every imported student module (local runs import them fresh per test module)."""
    for key in [k for k in sys.modules if k == PACKAGE or k.startswith(PACKAGE + ".")]:
        del sys.modules[key]


class substitute:
    """Context manager: ``submission.<name>`` is ``module`` while the block runs.

    Used to judge a file on its own: the training tests give ``training.py`` a test-side
    ``likelihood`` module, so a bug (or a syntax error) in the student's ``likelihood.py``
    costs points only in the likelihood section. The student's modules imported during the
    block are forgotten afterwards.
    """

    def __init__(self, name, module):
        self.name, self.module = name, module

    def __enter__(self):
        unload()
        _search_first()
        package = importlib.import_module(PACKAGE)
        sys.modules[f"{PACKAGE}.{self.name}"] = self.module
        setattr(package, self.name, self.module)
        return self.module

    def __exit__(self, *exc):
        unload()
        return False


def oracle_likelihood():
    """A stand-in for ``submission.likelihood`` built from the test-side oracle."""
    import math
    import types

    from . import oracles

    module = types.ModuleType(f"{PACKAGE}.likelihood")
    module.bernoulli_nll = oracles.nll
    module.bits_per_dim = lambda nll, num_dims: nll / (num_dims * math.log(2))
    return module
