"""Submissions that attack the trust boundary between the grading session and its workers.

Each would earn points it did not if a verdict could be written, read or influenced from the
process that runs student code: forging answers on every file descriptor, sending malformed
frames on the channel, importing or reading the tests, oracles and solution, walking memory
for test data, patching the probe library, outliving a test to answer another one, or
escaping the worker's clean-up. Graded by ``test_adversarial.py`` like the other attacks.
"""
from tests.support.client import WALL_LIMIT_S

from . import buggy
from .adversarial import Attack, in_function, prepend, skeleton, solution

GRADED_FILES = ("probability.py", "likelihood.py", "made.py", "pixelcnn.py", "sampling.py", "training.py")

# Writes a verdict-like line and well-formed "ok" answer frames (ids 1..40) into every open
# file descriptor and socket, then leaves: the 12-line attack that scored 40/40 before.
FLOOD = '''
import json as _json, os as _os, struct as _struct
def _flood():
    verdict = _json.dumps({"status": "passed", "output": ""}).encode() + b"\\n"
    frames = []
    for rid in range(1, 41):
        header = _json.dumps({"$dict": [["id", rid], ["ok", True]]}).encode()
        frames.append(b"PS1W" + _struct.pack(">IQ", len(header), 0) + header)
    for fd in range(0, 1024):
        for data in [verdict, *frames]:
            try:
                _os.write(fd, data)
            except OSError:
                break
    _os._exit(0)
'''

# Frames that break the wire format in one way each, written to the worker's channel (fd 3).
GARBAGE = {
    "truncated": 'b"PS1W" + _struct.pack(">IQ", 100, 0) + b"{\\"$dict\\": ["',
    "oversized": 'b"PS1W" + _struct.pack(">IQ", 2**31, 2**40)',
    "deep_nesting": '_frame(b"[" * 100000 + b"]" * 100000)',
    "unknown_dtype": '_frame(_json.dumps({"$dict": [["id", 1], ["ok", {"$tensor": {"dtype": "complex128", '
                     '"shape": [2], "offset": 0}}]]}).encode(), 32)',
    "absurd_shape": '_frame(_json.dumps({"$dict": [["id", 1], ["ok", {"$tensor": {"dtype": "float32", '
                    '"shape": [2**40, 2**40], "offset": 0}}]]}).encode(), 16)',
    "nan_and_wrong_id": '_frame(_json.dumps({"$dict": [["id", 999], ["ok", float("nan")]]}).encode())',
    "forged_verdict": 'b\'{"status": "passed", "output": "", "score": 40}\\n\' * 100',
    "nothing": 'b""',
}
GARBAGE_HELPERS = '''
import json as _json, os as _os, struct as _struct, time as _time
def _frame(header, blob_len=0):
    return b"PS1W" + _struct.pack(">IQ", len(header), blob_len) + header + b"\\0" * blob_len
def _garbage(data):
    try:
        _os.write(3, data)
    except OSError:
        pass
    _time.sleep(600)  # and never answer: past every test's wall-clock limit (30 s), which ends it
'''

# Reads or imports what a worker must never reach; uses the solution if it gets it.
STEAL = '''
import glob as _glob, importlib as _importlib, os as _os, sys as _sys
def _steal():
    found = {}
    for name in ("autograder.solution.made", "tests.support.oracles", "autograder.oracles", "tests.support.fixtures"):
        try:
            found[name] = _importlib.import_module(name)
        except BaseException:
            pass
    roots = {_os.path.abspath(_os.path.join(_sys.executable, *[".."] * n)) for n in range(1, 6)}
    roots |= {_os.path.abspath(_os.path.join(p, *[".."] * n)) for p in _sys.path for n in range(0, 4)}
    roots |= {"/autograder/source", "/work/main", _os.getcwd()}
    for root in sorted(roots):
        for path in _glob.glob(_os.path.join(root, "autograder", "solution", "made.py")):
            try:
                source = open(path).read()
            except OSError:
                continue
            scope = {"__name__": "stolen"}
            try:
                exec(compile(source.replace("from .", "from submission."), path, "exec"), scope)
            except BaseException:
                continue
            found[path] = type("M", (), scope)
    return found
_STOLEN = _steal()
for _source in _STOLEN.values():
    if hasattr(_source, "made_degrees"):
        globals().update({k: getattr(_source, k) for k in ("made_degrees", "made_masks", "MaskedLinear", "MADE")})
        break
'''

# Looks for test data in the worker's memory; if it finds any, fails loudly (so the self-test
# notices); otherwise the (correct) solution keeps its points.
SNOOP = '''
import gc as _gc, sys as _sys
def _snoop():
    leaks = [m for m in _sys.modules if m.split(".")[0] in ("tests", "autograder", "pytest", "_pytest", "hypothesis",
                                                            "gradescope_utils") and m != "tests.probes"]
    leaks = [m for m in leaks if not m.startswith("tests.probes")]
    for frame in _sys._current_frames().values():
        while frame is not None:
            if any(word in frame.f_code.co_filename for word in ("suites", "oracles", "fixtures", "test_")):
                leaks.append(frame.f_code.co_filename)
            frame = frame.f_back
    for obj in _gc.get_objects():
        if isinstance(obj, dict) and ("expected" in obj or "nll" in obj and "logits" in obj):
            leaks.append("a dict holding expected values")
            break
    return leaks
_LEAKS = _snoop()
if _LEAKS:
    raise RuntimeError("found test data in the worker: " + ", ".join(sorted(set(map(str, _LEAKS)))[:6]))
'''


def patch_server(body):
    """An attack program that, at import, finds the worker's probe library (``server``) and
    runs ``body`` (already indented as the inside of a function) to patch it."""
    return ("\nimport sys as _sys, torch as _torch\ndef _patch():\n"
            "    server = _sys.modules.get(\"probes.server\") or _sys.modules.get(\"tests.probes.server\")\n"
            "    if server is None:\n        return\n" + body + "_patch()\n")


# Patches the probe library so that the dependency measurement reports exactly the allowed
# pattern; on a MADE that ignores its masks this must not earn the autoregressive tests.
PATCH_PROBES = patch_server('''
    def op_jacobian(self, target, inputs):
        model = self._target(target)
        n = inputs[0].numel()
        order = getattr(model, "order", _torch.arange(n))
        pos = _torch.empty(n, dtype=_torch.long)
        pos[order] = _torch.arange(n)
        return {"out": model(inputs).detach(), "jacobian": (pos[:, None] > pos[None, :]).double()}
    server.Server.op_jacobian = op_jacobian
    original_state = server.Server.op_state
    def op_state(self, target, grads=False):
        state = original_state(self, target, grads)
        state["training"] = False
        return state
    server.Server.op_state = op_state
''')

# Models that output zeros, with the gradient probe patched to report every allowed connection
# (raster order for PixelCNN): only the outputs can show that nothing is connected.
FAKE_CONNECTIONS = patch_server('''
    def op_jacobian(self, target, inputs):
        model = self._target(target)
        out = model(inputs).detach()
        if hasattr(model, "order"):
            n = inputs[0].numel()
            pos = _torch.empty(n, dtype=_torch.long)
            pos[_torch.as_tensor(model.order)] = _torch.arange(n)
            return {"out": out, "jacobian": (pos[:, None] > pos[None, :]).double()}
        channels, height, width = inputs.shape[1:]
        pixel = _torch.arange(height * width).repeat(channels)
        return {"out": out, "jacobian": (pixel[:, None] > pixel[None, :]).double()}
    server.Server.op_jacobian = op_jacobian
''')


# MaskedLinear masks its weight in place, and the gradient probe is patched to multiply what it
# reports by the layer's mask: only the outputs after a new mask show the lost weights.
FAKE_MASKED_GRADIENTS = patch_server('''
    original = server.Server.op_grad
    def op_grad(self, target, method=None, args=(), kwargs=None, wrt_args=(), wrt_params=(), cotangent=None):
        answer = original(self, target, method, args, kwargs, wrt_args, wrt_params, cotangent)
        layer = self._target(target)
        if hasattr(layer, "mask") and answer.get("grads"):
            answer["grads"] = [g * layer.mask if g is not None and g.shape == layer.mask.shape else g
                               for g in answer["grads"]]
        return answer
    server.Server.op_grad = op_grad
''')
MASK_IN_PLACE = ("        return nn.functional.linear(x, self.weight * self.mask, self.bias)",
                 "        self.weight.data.mul_(self.mask)\n        return nn.functional.linear(x, self.weight, self.bias)")


def _zero_model(name, forward_return):
    source = solution(name)
    assert source.count(forward_return) == 1, forward_return
    return prepend(source.replace(forward_return, "return x * 0.0"), FAKE_CONNECTIONS)


# A detached process that keeps the channel and answers later (another test's requests),
# then a self-respawning setsid chain: neither may outlive its test.
LINGER = '''
import os as _os, time as _time
def _linger():
    if _os.fork() == 0:
        _os.setsid()
        while True:
            if _os.fork() != 0:
                _os._exit(0)  # the parent leaves; the child carries on under a new pid
            _os.setsid()
            for rid in range(1, 200):
                try:
                    _os.write(3, b"PS1W" + bytes(12))
                except OSError:
                    pass
            _time.sleep(0.2)
_linger()
'''

# Files in shared temporary folders (tmpfs counts against the container's memory).
LITTER = '''
import os as _os
for _folder in ("/dev/shm", "/tmp", "/var/tmp"):
    try:
        with open(_os.path.join(_folder, "ps1-litter-%d" % _os.getpid()), "wb") as _f:
            _f.write(b"x" * (16 * 2**20 - 1))
    except OSError:
        pass
'''

REALTIME_SIGNAL = "import os, signal\nos.kill(os.getpid(), signal.SIGRTMIN + 5)\n"


def _bug(name):
    return next(b for b in buggy.BUGS if b.name == name)


def _attacks():
    attacks = [
        Attack("fd_flood_forgery", "every module writes forged verdicts and answer frames into every descriptor "
               "at import, then exits", {name: prepend(skeleton(name), FLOOD + "_flood()\n") for name in GRADED_FILES},
               {s: "zero" for s in range(1, 7)}, base="skeleton"),
        Attack("fd_flood_in_function", "made_degrees floods every descriptor with forged verdicts and exits",
               {"made.py": prepend(in_function(solution("made.py"), "def made_degrees", "_flood()\n"), FLOOD)},
               {3: "less"}, must_fail=("3.1", "3.5")),
        Attack("steal_solution_and_oracles", "imports the tests, oracles and solution, and execs the solution's "
               "made.py found next to the interpreter", {"made.py": prepend(skeleton("made.py"), STEAL)}, {3: "zero"}),
        Attack("snoop_memory", "walks sys.modules, frames and gc for test data (a correct solution otherwise)",
               {"made.py": prepend(solution("made.py"), SNOOP)}, {}),
        Attack("patch_probe_library", "a MADE that ignores its masks patches the probes to report the allowed "
               "dependencies", {"made.py": prepend(buggy.render(_bug("made_mask_not_applied"))["made.py"],
                                                   PATCH_PROBES)},
               {3: "less"}, must_fail=("3.4", "3.8")),
        Attack("zero_models_fake_gradients", "MADE and PixelCNN output zeros, and patch the probes to report "
               "every allowed dependency", {
                   "made.py": _zero_model("made.py", "return self.net(x.reshape(x.shape[0], self.input_dim))"
                                                     ".reshape(x.shape)"),
                   "pixelcnn.py": _zero_model("pixelcnn.py", "return self.net(x)")},
               {3: "less", 4: "less"}, must_fail=("3.4", "3.8", "4.3", "4.7", "4.8")),
        Attack("fake_gradients_in_place_mask", "MaskedLinear masks its weight in place and patches the gradient "
               "probe to report masked gradients", {"made.py": prepend(
                   solution("made.py").replace(*MASK_IN_PLACE), FAKE_MASKED_GRADIENTS)},
               {3: "less"}, must_fail=("3.7",)),
        Attack("linger_and_respawn", "forks a setsid'd chain that re-spawns itself and writes into the channel",
               {"training.py": prepend(skeleton("training.py"), LINGER)}, {6: "zero"}),
        Attack("litter_tmp", "writes 16 MB files into /dev/shm, /tmp and /var/tmp at import (otherwise correct)",
               {"sampling.py": prepend(solution("sampling.py"), LITTER)}, {}),
        Attack("realtime_signal", "MaskedLinear.forward sends its own process SIGRTMIN+5",
               {"made.py": in_function(solution("made.py"), "    def forward(self, x):", REALTIME_SIGNAL)},
               {3: "less"}),
        Attack("hang_at_import_everywhere", "every module sleeps forever at import",
               {name: prepend(skeleton(name), "import time\nwhile True:\n    time.sleep(1)\n") for name in GRADED_FILES},
               # each module hangs once, for the wall-clock backstop; later tests fail fast
               {s: "zero" for s in range(1, 7)}, base="skeleton",
               max_seconds=len(GRADED_FILES) * WALL_LIMIT_S + 60),
    ]
    for kind, data in GARBAGE.items():
        # gaussian_kl alone misbehaves: its two tests fail, every other test keeps its points.
        source = in_function(prepend(solution("probability.py"), GARBAGE_HELPERS), "def gaussian_kl",
                             f"_garbage({data})\n")
        attacks.append(Attack(f"channel_{kind}", f"gaussian_kl answers with a {kind.replace('_', ' ')} frame "
                              "on the worker's channel", {"probability.py": source}, {1: "less"},
                              must_fail=("1.3", "1.8"), must_pass=("1.1", "1.2", "1.4", "1.5", "1.6", "1.7")))
    return attacks


ATTACKS = _attacks()
