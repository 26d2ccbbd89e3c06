"""Submissions that attack the harness, for the self-test ``test_adversarial.py``.

Each attack is built from the reference solution (so every section it leaves alone must keep
all its points) with an injection in one or more files. ``expect`` maps each section to
``"full"`` (all points), ``"zero"`` or ``"less"`` (some points lost); sections not listed must
keep all their points. Whatever the attack does, grading must end in time with a valid
results.json that gives no point the code did not earn.
"""
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from ..harness.staging import GRADED

SOLUTION = Path(__file__).resolve().parents[1] / "solution"
SKELETON = Path(__file__).resolve().parents[2] / "submission"

FORGED = '{"score": 40, "tests": [{"name": "forged", "score": 40, "max_score": 40}]}'
FIND_RESULTS = textwrap.dedent('''
    def _forge():
        import os, glob
        targets = ["/autograder/results/results.json", "results.json"]
        pid = os.getppid()
        for _ in range(6):  # walk up the process tree and read every ancestor's --results argument
            try:
                args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
                if b"--results" in args:
                    targets.append(args[args.index(b"--results") + 1].decode())
                pid = int(open(f"/proc/{pid}/stat").read().split(")")[1].split()[1])
            except Exception:
                break
        for target in targets:
            try:
                with open(target, "w") as f:
                    f.write(%r)
            except Exception:
                pass
''' % FORGED)


def solution(name):
    return (SOLUTION / name).read_text()


def skeleton(name):
    return (SKELETON / name).read_text()


def prepend(source, code):
    """Insert ``code`` after the module docstring (so it runs at import)."""
    end = source.index('"""', source.index('"""') + 3) + 3
    return source[:end] + "\n" + textwrap.dedent(code) + source[end:]


def in_function(source, signature, code):
    """Insert ``code`` as the first statement of the function whose ``def`` line starts with
    ``signature`` (after its docstring)."""
    start = source.index(signature)
    doc_end = source.index('"""', source.index('"""', start) + 3) + 3
    body = textwrap.indent(textwrap.dedent(code), "    ")
    return source[:doc_end] + "\n" + body + source[doc_end:]


@dataclass(frozen=True)
class Attack:
    name: str
    description: str
    files: dict                      # file name -> source (files not named are the solution's)
    expect: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)   # other files in the upload (never graded)
    root_only: bool = False          # meaningful only when the grader can drop privileges
    base: str = "solution"           # where the files not in ``files`` come from: "solution", "skeleton", "empty"


def _attacks():
    cheat_made = prepend(skeleton("made.py"), '''
        import os as _os, sys as _sys, importlib as _importlib
        _LEAKED = []
        def _try_leak():
            paths = {m.__file__ for m in list(_sys.modules.values()) if getattr(m, "__file__", None)}
            paths |= {"/autograder/source/autograder/solution/made.py"}
            for p in list(paths):
                for cand in (p, _os.path.join(_os.path.dirname(p), "..", "fixtures", "made_nll.pt"),
                             _os.path.join(_os.path.dirname(p), "test_made_hidden.py"),
                             _os.path.join(_os.path.dirname(p), "..", "solution", "made.py")):
                    try:
                        with open(cand, "rb") as f:
                            f.read(1)
                        if "site-packages" not in cand and "/lib/python" not in cand and "submission" not in cand:
                            _LEAKED.append(cand)
                    except Exception:
                        pass
            try:
                return _importlib.import_module("autograder.solution.made")
            except Exception:
                return None
        _SOLUTION = _try_leak()
        if _SOLUTION is not None:
            globals().update({k: getattr(_SOLUTION, k) for k in ("made_degrees", "made_masks", "MaskedLinear", "MADE")})
        elif _LEAKED:
            raise RuntimeError("read grader files: " + ", ".join(sorted(set(_LEAKED))[:5]))
    ''')
    return [
        Attack("os_exit_at_import", "made.py calls os._exit(0) on import",
               {"made.py": prepend(solution("made.py"), "import os\nos._exit(0)\n")}, {3: "zero"}),
        Attack("sys_exit_at_import", "probability.py calls sys.exit() on import",
               {"probability.py": prepend(solution("probability.py"), "import sys\nsys.exit(0)\n")}, {1: "zero"}),
        Attack("os_exit_in_function", "bernoulli_nll calls os._exit(0)",
               {"likelihood.py": in_function(solution("likelihood.py"), "def bernoulli_nll",
                                             "import os\nos._exit(0)\n")}, {2: "less"}),
        Attack("sys_exit_in_function", "kl_divergence raises SystemExit",
               {"probability.py": in_function(solution("probability.py"), "def kl_divergence(",
                                              "import sys\nsys.exit(3)\n")}, {1: "less"}),
        Attack("infinite_loop", "made_degrees never returns",
               {"made.py": in_function(solution("made.py"), "def made_degrees", "while True:\n    pass\n")},
               {3: "less"}),
        Attack("memory_bomb", "causal_mask allocates without bound",
               {"pixelcnn.py": in_function(solution("pixelcnn.py"), "def causal_mask",
                                           "hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))\n")},
               {4: "less"}),
        Attack("fork_bomb", "sample_made forks without bound",
               {"sampling.py": in_function(solution("sampling.py"), "def sample_made",
                                           "import os\nwhile True:\n    try:\n        os.fork()\n"
                                           "    except OSError:\n        pass\n")},
               {5: "less"}),
        Attack("forged_results_direct", "writes a forged results.json at import, wherever it can",
               {"training.py": prepend(skeleton("training.py"), FIND_RESULTS + "_forge()\n")}, {6: "zero"},
               base="solution"),
        Attack("forged_results_atexit", "registers an atexit hook that forges results.json",
               {"training.py": prepend(skeleton("training.py"), FIND_RESULTS + "import atexit\natexit.register(_forge)\n")},
               {6: "zero"}),
        Attack("forged_results_thread", "forges results.json from a background thread, later",
               {"training.py": prepend(skeleton("training.py"), FIND_RESULTS +
                                       "import threading, time\n"
                                       "threading.Thread(target=lambda: (time.sleep(1.5), _forge()), daemon=False).start()\n")},
               {6: "zero"}),
        Attack("forged_results_daemon", "forks a detached process that forges results.json after grading",
               {"training.py": prepend(skeleton("training.py"), FIND_RESULTS +
                                       "import os, time\n"
                                       "if os.fork() == 0:\n"
                                       "    os.setsid()\n"
                                       "    if os.fork() == 0:\n"
                                       "        for _ in range(40):\n"
                                       "            time.sleep(0.25)\n"
                                       "            _forge()\n"
                                       "    os._exit(0)\n")},
               {6: "zero"}),
        Attack("planted_files", "skeleton plus conftest.py, pytest.ini, torch.py, json.py, sitecustomize.py and a "
               "results.json that would make everything pass",
               {}, {s: "zero" for s in range(1, 7)}, base="skeleton", extra={
                   "conftest.py": "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
                                  "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n",
                   "pytest.ini": "[pytest]\naddopts = -p no:python\n",
                   "torch.py": "allclose = lambda *a, **k: True\n",
                   "json.py": "def dumps(*a, **k):\n    return '{\"score\": 40}'\n",
                   "sitecustomize.py": "import builtins\nbuiltins.print = lambda *a, **k: None\n",
                   "results.json": FORGED,
                   "nested/deeper/conftest.py": "raise SystemExit(0)\n",
               }),
        Attack("read_hidden_files", "tries to read hidden tests, fixtures and the solution, and to import it",
               {"made.py": cheat_made}, {3: "zero"}, root_only=True),
        Attack("monkeypatch_checks", "replaces torch.allclose, torch.testing.assert_close, torch.equal and the "
               "test helpers, then returns garbage",
               {"probability.py": prepend(
                   skeleton("probability.py").replace(
                       "raise NotImplementedError('Hint: evaluate", "return torch.zeros(()) + 0 * p.sum()  # ('"),
                   "import sys, torch, builtins\n"
                   "torch.allclose = lambda *a, **k: True\n"
                   "torch.equal = lambda *a, **k: True\n"
                   "torch.testing.assert_close = lambda *a, **k: None\n"
                   "for _m in list(sys.modules.values()):\n"
                   "    if getattr(_m, '__name__', '').startswith('tests.support'):\n"
                   "        for _n in ('close', 'fail', 'finite', 'same_mask', 'tensor'):\n"
                   "            if hasattr(_m, _n):\n"
                   "                setattr(_m, _n, lambda *a, **k: a[0] if a else None)\n")},
               {1: "zero"}),
        Attack("eq_always_true", "returns tensor subclasses and objects whose comparisons always succeed",
               {"likelihood.py": prepend(skeleton("likelihood.py"), '''
                   import torch
                   class Liar(torch.Tensor):
                       def __eq__(self, other): return torch.ones((), dtype=torch.bool)
                       def __ne__(self, other): return torch.zeros((), dtype=torch.bool)
                       def allclose(self, *a, **k): return True
                   class Anything:
                       def __eq__(self, other): return True
                       def __float__(self): return 0.0
                       shape = property(lambda self: (0,))
                   def _bernoulli_nll(logits, x):
                       return torch.zeros(logits.shape[0]).as_subclass(Liar)
                   def _bits_per_dim(nll, num_dims):
                       return Anything()
               ''').replace("raise NotImplementedError('Hint: F.binary", "return _bernoulli_nll(logits, x)  # ('")
                  .replace("raise NotImplementedError('Hint: one nat", "return _bits_per_dim(nll, num_dims)  # ('")},
               {2: "zero"}),
        Attack("huge_prints", "prints ~200 MB at import and on every call, but is otherwise correct",
               {"made.py": prepend(solution("made.py"), "import sys\nfor _ in range(200):\n"
                                                         "    sys.stdout.write('x' * 2**20)\n"),
                "likelihood.py": in_function(solution("likelihood.py"), "def bernoulli_nll",
                                             "print('debug ' * 100000)\n")},
               {}),
        Attack("syntax_error", "made.py does not parse",
               {"made.py": solution("made.py").replace("def made_masks(", "def made_masks(:", 1)}, {3: "zero"}),
        Attack("empty_upload", "nothing uploaded", {}, {s: "zero" for s in range(1, 7)}, base="empty"),
        Attack("kill_the_grader", "tries to kill the processes that run the grader (its ancestors)",
               {"pixelcnn.py": in_function(solution("pixelcnn.py"), "def causal_mask",
                                           "import os, signal\n"
                                           "pid = os.getppid()\n"
                                           "for _ in range(6):\n"
                                           "    try:\n"
                                           "        os.kill(pid, signal.SIGKILL)\n"
                                           "    except Exception:\n"
                                           "        pass\n"
                                           "    try:\n"
                                           "        pid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
                                           "    except Exception:\n"
                                           "        break\n")},
               {}, root_only=True),
    ]


ATTACKS = _attacks()


def write(attack, dest):
    """Write the upload of ``attack`` into ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if attack.base != "empty":
        source = SOLUTION if attack.base == "solution" else SKELETON
        for name in GRADED:
            (dest / name).write_text(attack.files.get(name, (source / name).read_text()))
    for rel, text in attack.extra.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest
