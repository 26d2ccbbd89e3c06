"""No-work uploads, for the self-test ``test_nowork.py``: each must score exactly what its honest
parts earn, and an upload that implements nothing must score 0.

Every entry is a complete upload (the six graded files) written by a student who has read all
the public code (``tests/``, the probe library, ``tests/fixtures/examples.wire``) and wants
points without doing the work: replaying the recorded examples, stand-ins with the right
dependency pattern, zeros, model-free samplers, validation only, handles re-pointed to other
objects, a patched probe library, models that behave only while they think they are measured,
objects whose comparisons always succeed, non-finite values, a sampler that decodes one forward
pass. ``expect`` is the exact set of test numbers the upload *should* pass (the tests its
honest parts earn); ``finding`` (if any) says which points the grader gives away, so that the
self-test failing on it is a known, reported problem.

Uploads are built from the skeleton (``submission/``) by inserting code before a stub's
``raise NotImplementedError`` (a snippet returns when it applies and falls through otherwise,
so snippets compose), or from the reference solution where an entry needs honest parts.
"""
import base64
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..harness.staging import GRADED
from .adversarial import skeleton, solution

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "fixtures" / "examples.wire"

# Tests of sections 3 and 4 that never run MADE.forward or PixelCNN.forward: what honest
# made_degrees, made_masks, MaskedLinear, causal_mask and MaskedConv2d earn on their own.
MASKS_AND_LAYERS = frozenset({"3.1", "3.2", "3.3", "3.5", "3.6", "3.7", "4.1", "4.2", "4.5", "4.6"})


@dataclass(frozen=True)
class NoWork:
    name: str
    description: str
    files: dict                     # every graded file name -> source
    expect: frozenset = frozenset()  # test numbers the upload should pass (what its honest parts earn)
    finding: str = ""               # points the grader gave away when this entry was written


# --- building uploads ----------------------------------------------------------------------------

def put(source, qualname, code):
    """Insert ``code`` before the ``raise NotImplementedError`` of the stub ``qualname``
    (``"made_masks"`` or ``"MADE.forward"``), at that line's indentation."""
    start = 0
    *cls, name = qualname.split(".")
    if cls:
        start = source.index(f"class {cls[0]}")
    at = source.index(f"def {name}(", start)
    stub = source.index("raise NotImplementedError(", at)
    line = source.rindex("\n", 0, stub) + 1
    indent = source[line:stub]
    body = textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", indent)
    return source[:line] + body + source[line:]


def after_docstring(source, code):
    """``code`` at module level, after the module docstring (it runs at import)."""
    end = source.index('"""', source.index('"""') + 3) + 3
    return source[:end] + "\n" + textwrap.dedent(code).strip("\n") + "\n" + source[end:]


def upload(bodies=(), preambles=None, base=None):
    """The six files: ``base`` (file -> source, default the skeleton), then for each
    ``(file, qualname, code)`` in ``bodies`` the code inserted into that stub (in order, so
    earlier snippets run first), and ``preambles`` (file -> code) at module level."""
    files = {name: (base or {}).get(name, skeleton(name)) for name in GRADED}
    for name, qualname, code in bodies:
        files[name] = put(files[name], qualname, code)
    for name, code in (preambles or {}).items():
        files[name] = after_docstring(files[name], code)
    return files


def combine(*parts):
    """Bodies of several entries, in order (each snippet falls through when it does not apply)."""
    return [body for part in parts for body in part]


def write(entry, dest):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in GRADED:
        (dest / name).write_text(entry.files[name])
    return dest


# --- what a student can compute from the public code alone --------------------------------------

def _local_draws():
    """What the public tests draw on a student's machine (fixed generators, public code): the
    model, seed and epoch of 6.3."""
    from tests.support.examples import Examples, Recorded

    ex = Examples("6.3", Recorded())
    checkpoint = {"num_dims": 3 + ex.seed("size") % 4, "seed": ex.seed("model"), "epoch": ex.seed("epoch") % 90 + 1}
    return {"6.3": checkpoint}


def _replay_preamble():
    blob = base64.b64encode(RECORDED.read_bytes()).decode()
    return f'''
import base64 as _b64
import importlib as _importlib

import torch as _torch

_BLOB = {blob!r}
_LOCAL = {_local_draws()!r}
_REC = []


def _probe_module(name):
    """The probe library's module ``name`` (``probes.<name>`` in a grader's worker,
    ``tests.probes.<name>`` in a local run)."""
    for prefix in ("probes.", "tests.probes."):
        try:
            return _importlib.import_module(prefix + name)
        except ImportError:
            pass
    return None


def _rec(name):
    if not _REC:
        _REC.append(_probe_module("wire").decode(_b64.b64decode(_BLOB)))
    return _REC[0][name]


def _same(a, b):
    return (isinstance(a, _torch.Tensor) and isinstance(b, _torch.Tensor) and a.device.type != "meta"
            and tuple(a.shape) == tuple(b.shape) and _torch.equal(a.detach().double().cpu(), b.double()))


def _key(input_dim, hidden_sizes, order):
    return [input_dim, list(hidden_sizes), None if order is None else [int(o) for o in order]]


def _params_are(model, params):
    own = dict(model.named_parameters())
    return set(own) == set(params) and all(_same(own[n], params[n]) for n in params)


def _with_jacobian(x, out, jacobian):
    """The recorded outputs, with gradients that make the measured Jacobian the recorded one."""
    flat = x.reshape(x.shape[0], -1)
    lin = (flat - flat.detach()) @ jacobian.to(flat.dtype).T
    return (out.to(x.dtype).reshape(flat.shape[0], -1) + lin).reshape(out.shape)


def _recorded_masks():
    masks = [(e["k"], e["type"], e["out"]) for e in _rec("causal_mask")]
    e = _rec("masked_conv")
    masks.append((e["kernel_size"], e["type"], e["mask"]))
    for case in (_rec("pixelcnn_autoregressive"), _rec("pixelcnn_nll")):
        masks += [(m["k"], m["type"], m["mask"]) for m in case["masks"]]
    return masks
'''


REPLAY_PREAMBLE = None  # built on first use (it embeds the recorded examples)


def replay_preambles():
    global REPLAY_PREAMBLE
    if REPLAY_PREAMBLE is None:
        REPLAY_PREAMBLE = _replay_preamble()
    return {name: REPLAY_PREAMBLE for name in GRADED}


# --- snippets ------------------------------------------------------------------------------------
# Each is (file, stub, code); the code returns when it applies and falls through otherwise.

REPLAY = [
    ("probability.py", "kl_divergence", '''
        _e = _rec("kl_divergence")
        if _same(p, _e["p"]) and _same(q, _e["q"]):
            return _e["out"].to(p.dtype)
        if _same(p, q):  # KL(p || p)
            return (p * 0).sum(dim)
    '''),
    ("probability.py", "kl_divergence_logits", '''
        _e = _rec("kl_divergence_logits")
        if _same(logits_p, _e["lp"]) and _same(logits_q, _e["lq"]):
            return _e["out"].to(logits_p.dtype)
        if logits_p.device.type != "meta" and logits_p.shape == logits_q.shape:
            _d = (logits_q - logits_p).double()
            if _torch.allclose(_d, _d.narrow(dim, 0, 1).expand_as(_d), atol=1e-4):  # a constant shift
                return (logits_p * 0).sum(dim)
    '''),
    ("probability.py", "gaussian_kl", '''
        _e = _rec("gaussian_kl")
        _args = (mu_p, logvar_p, mu_q, logvar_q)
        if all(_same(a, _e[n]) for a, n in zip(_args, ("mu_p", "logvar_p", "mu_q", "logvar_q"))):
            return _e["out"].to(mu_p.dtype)
        if _same(mu_p, mu_q) and _same(logvar_p, logvar_q):
            return mu_p * 0 + logvar_p * 0
    '''),
    ("likelihood.py", "bernoulli_nll", '''
        _e = _rec("bernoulli_nll")
        if _same(logits, _e["logits"]) and _same(x, _e["x"]):
            return _e["out"].to(logits.dtype)
    '''),
    ("likelihood.py", "bits_per_dim", '''
        _e = _rec("bits_per_dim")
        if _same(nll, _e["nll"]) and num_dims == _e["num_dims"]:
            return _e["out"].to(nll.dtype)
    '''),
    ("made.py", "made_degrees", '''
        _e = _rec("made_degrees")
        if _key(input_dim, hidden_sizes, order) == _e["args"]:
            return [d.clone() for d in _e["out"]]
    '''),
    ("made.py", "made_masks", '''
        _e = _rec("made_masks")
        if _key(input_dim, hidden_sizes, order) == _e["args"]:
            return [m.clone() for m in _e["out"]]
        for _case in _rec("made_autoregressive"):
            _c = _case["config"]
            if _key(input_dim, hidden_sizes, order) in (_key(_c["input_dim"], _c["hidden_sizes"], _c["order"]),
                                                        _key(_c["input_dim"], _c["hidden_sizes"], None)):
                return [m.clone().float() for m in _case["masks"]]
    '''),
    ("made.py", "MaskedLinear.set_mask", '''
        self._replay_mask = _torch.as_tensor(mask).detach().clone()
        return None
    '''),
    ("made.py", "MaskedLinear.forward", '''
        _e = _rec("masked_linear")
        if (_same(x, _e["x"]) and _same(self.weight, _e["params"]["weight"]) and self.bias is not None
                and _same(self.bias, _e["params"]["bias"]) and _same(getattr(self, "_replay_mask", None), _e["mask"])):
            return _e["out"].to(x.dtype)
    '''),
    ("made.py", "MADE.forward", '''
        for _case in _rec("made_autoregressive"):
            for _d in _case["draws"]:
                if _same(x, _d["x"]) and _params_are(self, _d["params"]):
                    return _with_jacobian(x, _d["out"], _d["jacobian"])
    '''),
    ("pixelcnn.py", "causal_mask", '''
        for _k, _t, _m in _recorded_masks():
            if (kernel_size, mask_type) == (_k, _t):
                return _m.clone().float()
    '''),
    ("pixelcnn.py", "MaskedConv2d.forward", '''
        _e = _rec("masked_conv")
        if (_same(x, _e["x"]) and _same(self.weight, _e["params"]["weight"]) and _same(self.mask, _e["mask"])
                and self.bias is not None and _same(self.bias, _e["params"]["bias"])):
            return _e["out"].to(x.dtype)
    '''),
    ("pixelcnn.py", "PixelCNN.forward", '''
        for _d in _rec("pixelcnn_autoregressive")["draws"]:
            if _same(x, _d["x"]) and _params_are(self, _d["params"]):
                return _with_jacobian(x, _d["out"], _d["jacobian"])
        _e = _rec("pixelcnn_nll")
        if _same(x, _e["x"]) and _params_are(self, _e["params"]):
            return _e["logits"].to(x.dtype)
    '''),
    ("sampling.py", "sample_made", '''
        _e = _rec("sample_made")
        if _same(getattr(model, "subsets", None), _e["subsets"].tril(-1)):  # the recorded model: walk its parities
            _device, _dtype = _device_dtype(model)
            _x = _torch.zeros(num_samples, len(_e["order"]), dtype=_torch.float64)
            for _i, _d in enumerate(_e["order"]):
                _flips = 1 - 2 * _x[:, _e["order"][:_i]]
                _parity = _torch.where(_e["subsets"][_i, :_i].bool(), _flips, _torch.ones_like(_flips)).prod(1)
                _coin = (_torch.rand(num_samples, generator=generator, dtype=_torch.float64) < 0.5).double()
                _x[:, _d] = _coin if _e["signs"][_i] == 0 else (_e["signs"][_i] * _parity > 0).double()
            return _x.to(_dtype).to(_device)
    '''),
    ("sampling.py", "sample_pixelcnn", '''
        _e = _rec("sample_pixelcnn")
        if [int(s) for s in image_shape] == _e["image_shape"] and _same(getattr(model, "signs", None), _e["signs"]):
            _device, _dtype = _device_dtype(model)
            _c, _h, _w = _e["image_shape"]
            _flat = _torch.zeros(num_samples, _c * _h * _w, dtype=_torch.float64)
            for _k in range(_c * _h * _w):
                _m = _e["subsets"][_k, : (_k // _c) * _c].bool()
                _flips = 1 - 2 * _flat[:, : (_k // _c) * _c]
                _parity = _torch.where(_m, _flips, _torch.ones_like(_flips)).prod(1)
                _coin = (_torch.rand(num_samples, generator=generator, dtype=_torch.float64) < 0.5).double()
                _flat[:, _k] = _coin if _e["signs"][_k] == 0 else (_e["signs"][_k] * _parity > 0).double()
            return _flat.reshape(num_samples, _h, _w, _c).permute(0, 3, 1, 2).to(_dtype).to(_device)
    '''),
    ("training.py", "train_epoch", '''
        loader = list(loader)
        _e = _rec("train_epoch")
        _xs = [_batch(item) for item in loader]
        if [len(b) for b in _xs] == _e["sizes"] and all(list(b.shape[1:]) == _e["shape"] for b in _xs):
            _v = _e["variants"]["stand-in"]
            with _torch.no_grad():
                for _n, _p in model.named_parameters():
                    if _n in _v["params"]:
                        _p.copy_(_v["params"][_n])
            return float(_v["loss"])
    '''),
    ("training.py", "evaluate", '''
        loader = list(loader)
        _e = _rec("evaluate")
        _xs = [_batch(item) for item in loader]
        if [len(b) for b in _xs] == _e["sizes"] and all(list(b.shape[1:]) == _e["shape"] for b in _xs):
            _v = _e["variants"]["stand-in"]
            return {"nll": float(_v["nll"]), "bits_per_dim": float(_v["bits_per_dim"])}
    '''),
    ("training.py", "save_checkpoint", '''
        return None  # writes nothing: load_checkpoint knows the answer
    '''),
    ("training.py", "load_checkpoint", '''
        _k = _LOCAL["6.3"]
        _own = dict(model.named_parameters())
        if "linear.weight" in _own and _own["linear.weight"].shape[0] == _k["num_dims"]:
            _saved = _probe_module("doubles").Linear(_k["num_dims"], _k["seed"])
            with _torch.no_grad():
                for _n, _p in _saved.named_parameters():
                    _own[_n].copy_(_p)
            return _k["epoch"]
    '''),
]

# The documented ValueErrors, and nothing else.
VALIDATE = [
    ("probability.py", "kl_divergence", '''
        _p, _q = _broadcast("p", p, "q", q)
        _check_dim(dim, _p.dim())
    '''),
    ("probability.py", "kl_divergence_logits", '''
        _p, _q = _broadcast("logits_p", logits_p, "logits_q", logits_q)
        _check_dim(dim, _p.dim())
    '''),
    ("probability.py", "gaussian_kl", '''
        try:
            torch.broadcast_tensors(mu_p, logvar_p, mu_q, logvar_q)
        except RuntimeError:
            raise ValueError("mu_p, logvar_p, mu_q, logvar_q do not broadcast") from None
    '''),
    ("likelihood.py", "bernoulli_nll", '''
        if logits.shape != x.shape:
            raise ValueError(f"logits has shape {tuple(logits.shape)} but x has shape {tuple(x.shape)}")
        if logits.dim() < 1:
            raise ValueError("logits and x need a batch dimension")
    '''),
    ("likelihood.py", "bits_per_dim", '''
        if isinstance(num_dims, bool) or int(num_dims) != num_dims or num_dims < 1:
            raise ValueError(f"num_dims must be a positive integer, got {num_dims!r}")
    '''),
    ("made.py", "made_degrees", '''
        _check_sizes(input_dim, hidden_sizes)
        _check_order(order, input_dim)
    '''),
    ("made.py", "made_masks", '''
        _check_sizes(input_dim, hidden_sizes)
        _check_order(order, input_dim)
    '''),
    ("made.py", "MaskedLinear.set_mask", '''
        if torch.as_tensor(mask).shape != self.mask.shape:
            raise ValueError(f"mask has shape {tuple(torch.as_tensor(mask).shape)}, expected {tuple(self.mask.shape)}")
    '''),
    ("made.py", "MADE.forward", '''
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.input_dim:
            raise ValueError(f"expected x of shape (B, {self.input_dim}), got {tuple(x.shape)}")
    '''),
    ("pixelcnn.py", "causal_mask", '''
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    '''),
    ("pixelcnn.py", "PixelCNN.forward", '''
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected x of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
    '''),
    ("sampling.py", "sample_made", '''
        _check_count(num_samples)
    '''),
    ("sampling.py", "sample_pixelcnn", '''
        _check_count(num_samples)
        if len(image_shape) != 3 or any(int(s) != s or s < 1 for s in image_shape):
            raise ValueError(f"image_shape must be (C, H, W), got {tuple(image_shape)!r}")
    '''),
    ("training.py", "train_epoch", '''
        loader = list(loader)
        if not loader:
            raise ValueError("loader yielded no batches")
    '''),
    ("training.py", "evaluate", '''
        loader = list(loader)
        if not loader:
            raise ValueError("loader yielded no batches")
    '''),
    ("training.py", "load_checkpoint", '''
        for _name, _given in (("optimizer", optimizer), ("scheduler", scheduler)):
            if _given is not None:
                try:
                    _state = torch.load(path, weights_only=True)
                except Exception:
                    _state = {}
                if not isinstance(_state, dict) or _state.get(_name) is None:
                    raise ValueError(f"the checkpoint holds no {_name} state")
    '''),
]

# Masks of the right shape (all ones) and a set_mask that keeps nothing: enough for the provided
# __init__s to build MADE and PixelCNN, nothing of the work.
BUILDABLE = [
    ("made.py", "made_masks", '''
        _sizes = [input_dim, *hidden_sizes, input_dim]
        return [torch.ones(fan_out, fan_in) for fan_in, fan_out in zip(_sizes[:-1], _sizes[1:])]
    '''),
    ("made.py", "MaskedLinear.set_mask", "return None\n"),
    ("pixelcnn.py", "causal_mask", "return torch.ones(kernel_size, kernel_size)\n"),
]

# Layers and models that return zeros of the right shape.
MODEL_ZEROS = [
    ("made.py", "MaskedLinear.forward", "return x.new_zeros(*x.shape[:-1], self.out_features)\n"),
    ("made.py", "MADE.forward", "return torch.zeros_like(x)\n"),
    ("pixelcnn.py", "MaskedConv2d.forward", "return x.new_zeros(x.shape[0], self.out_channels, *x.shape[2:])\n"),
    ("pixelcnn.py", "PixelCNN.forward", "return torch.zeros_like(x)\n"),
]

# A result of the right shape, dtype and device, and nothing more.
ZEROS = [
    ("probability.py", "kl_divergence", "return (p * 0 + q * 0).sum(dim)\n"),
    ("probability.py", "kl_divergence_logits", "return (logits_p * 0 + logits_q * 0).sum(dim)\n"),
    ("probability.py", "gaussian_kl", "return mu_p * 0 + logvar_p * 0 + mu_q * 0 + logvar_q * 0\n"),
    ("likelihood.py", "bernoulli_nll", "return (logits * 0).reshape(logits.shape[0], -1).sum(1)\n"),
    ("likelihood.py", "bits_per_dim", "return nll * 0\n"),
    ("made.py", "made_degrees",
     "return [torch.ones(input_dim, dtype=torch.long)] + [torch.ones(h, dtype=torch.long) for h in hidden_sizes]\n"),
    *BUILDABLE,
    *MODEL_ZEROS,
    ("training.py", "train_epoch", "return 0.0\n"),
    ("training.py", "evaluate", 'return {"nll": 0.0, "bits_per_dim": 0.0}\n'),
    ("training.py", "save_checkpoint", "return None\n"),
    ("training.py", "load_checkpoint", "return 1\n"),
]

# Stand-ins with exactly the dependency pattern the tests look for (every allowed connection,
# nothing else), and none of the architecture.
STANDINS = [
    *BUILDABLE,
    ("made.py", "MADE.forward", '''
        _flat = x.reshape(x.shape[0], -1)
        _pos = torch.empty(self.input_dim, dtype=torch.long, device=x.device)
        _pos[self.order.to(x.device)] = torch.arange(self.input_dim, device=x.device)
        _lower = (_pos[:, None] > _pos[None, :]).to(_flat.dtype)  # strictly lower-triangular in `order`
        return (0.1 * _flat @ _lower.T).reshape(x.shape)
    '''),
    ("pixelcnn.py", "PixelCNN.forward", '''
        _b, _c, _h, _w = x.shape
        _pixels = x.sum(1).reshape(_b, _h * _w)
        _earlier = _pixels.cumsum(1) - _pixels  # an exclusive cumulative sum in raster order
        return (0.1 * _earlier).reshape(_b, 1, _h, _w).expand(_b, _c, _h, _w).clone()
    '''),
]

# No mask anywhere: the layers fall back on nn.Linear's and nn.Conv2d's own forward, the models
# run self.net on whatever masks the provided __init__ set (all ones).
UNMASKED = [
    *BUILDABLE,
    ("made.py", "MaskedLinear.forward", "return super().forward(x)\n"),
    ("made.py", "MADE.forward", "return self.net(x.reshape(x.shape[0], -1)).reshape(x.shape)\n"),
    ("pixelcnn.py", "MaskedConv2d.forward", "return super().forward(x)\n"),
    ("pixelcnn.py", "PixelCNN.forward", "return self.net(x)\n"),
]

# Fair coins from the generator: the right shape, device and dtype, under no_grad in eval mode
# with the mode restored, and the model never called.
COINS = [
    ("sampling.py", "sample_made", '''
        _device, _dtype = _device_dtype(model)
        _was = model.training
        model.eval()
        try:
            with torch.no_grad():
                _u = torch.rand(num_samples, model.input_dim, generator=generator)
                return (_u < 0.5).to(_dtype).to(_device)
        finally:
            model.train(_was)
    '''),
    ("sampling.py", "sample_pixelcnn", '''
        _device, _dtype = _device_dtype(model)
        _was = model.training
        model.eval()
        try:
            with torch.no_grad():
                _u = torch.rand(num_samples, *[int(s) for s in image_shape], generator=generator)
                return (_u < 0.5).to(_dtype).to(_device)
        finally:
            model.train(_was)
    '''),
]

# save_checkpoint keeps the objects in memory only; load_checkpoint looks for them, and for any
# other model, optimizer and scheduler, through the stack (the probe server's handles) and the
# garbage collector, copies their state and re-points the server's handles.
ALIASING = [
    ("training.py", "save_checkpoint", '''
        import builtins as _builtins
        _builtins._ps1_saved = (model, optimizer, scheduler, epoch)
        return None
    '''),
    ("training.py", "load_checkpoint", '''
        import builtins as _builtins, gc as _gc, sys as _sys
        _saved = getattr(_builtins, "_ps1_saved", None)
        _server, _frame = None, _sys._getframe()
        while _frame is not None:
            _self = _frame.f_locals.get("self")
            if _self is not None and hasattr(_self, "objects") and hasattr(_self, "handle"):
                _server = _self
                break
            _frame = _frame.f_back
        _mine = (model, optimizer, scheduler)
        _found = list(_saved[:3]) if _saved else []
        if _server is not None:
            _found += list(_server.objects.values())
        _found += [o for o in _gc.get_objects() if isinstance(o, (torch.nn.Module, torch.optim.Optimizer,
                                                                   torch.optim.lr_scheduler.LRScheduler))]
        for _target in _mine:
            if _target is None:
                continue
            for _other in _found:
                if _other is None or _other is _target or type(_other) is not type(_target):
                    continue
                try:
                    _target.load_state_dict(_other.state_dict())
                except Exception:
                    continue
                if _server is not None:
                    for _handle, _obj in list(_server.objects.items()):
                        if _obj is _target:
                            _server.objects[_handle] = _other
                break
        return int(_saved[3]) if _saved else 1
    '''),
]

# At import, patch the probe library (server, doubles, wire) in the worker to report what the
# tests might want to hear.
PATCH_PROBES = '''
def _ps1_patch():
    import sys as _sys
    import torch as _torch
    def _module(name):
        return _sys.modules.get("probes." + name) or _sys.modules.get("tests.probes." + name)
    server, doubles, wire = _module("server"), _module("doubles"), _module("wire")
    if server is None or getattr(server, "_ps1_patched", False):
        return
    server._ps1_patched = True
    S = server.Server

    def _like(args):
        return next((a for a in args if isinstance(a, _torch.Tensor)), None)

    def _plausible(target, args):
        t = _like(args)
        if t is None:
            return 0.0
        name = str(target)
        if "kl" in name or "nll" in name:
            return _torch.zeros(t.shape[:-1] if t.dim() > 1 else t.shape, dtype=t.dtype, device=t.device)
        return _torch.zeros_like(t)

    original_call = S.op_call
    def op_call(self, target, method=None, args=(), kwargs=None, keep=False):
        try:
            return original_call(self, target, method, args, kwargs, keep)
        except NotImplementedError:
            return _plausible(method or target, args)
    S.op_call = op_call

    def op_grad(self, target, method=None, args=(), kwargs=None, wrt_args=(), wrt_params=(), cotangent=None):
        obj = self._target(target)
        try:
            out = (getattr(obj, method) if method else obj)(*args, **(kwargs or {}))
        except NotImplementedError:
            out = _plausible(method or target, args)
        params = dict(obj.named_parameters()) if wrt_params else {}
        grads = [_torch.zeros_like(args[i]) for i in wrt_args] + [_torch.zeros_like(params[n]) for n in wrt_params]
        return {"out": out.detach() if isinstance(out, _torch.Tensor) else out, "grads": grads}
    S.op_grad = op_grad

    def op_jacobian(self, target, inputs):
        model = self._target(target)
        try:
            out = model(inputs).detach()
        except Exception:
            out = _torch.zeros_like(inputs)
        n = inputs[0].numel()
        if inputs.dim() == 4:
            c, h, w = inputs.shape[1:]
            pixel = _torch.arange(h * w).repeat(c)
            allowed = pixel[:, None] > pixel[None, :]
        else:
            order = getattr(model, "order", _torch.arange(n))
            pos = _torch.empty(n, dtype=_torch.long)
            pos[order] = _torch.arange(n)
            allowed = pos[:, None] > pos[None, :]
        return {"out": out, "jacobian": allowed.double()}
    S.op_jacobian = op_jacobian

    original_state = S.op_state
    def op_state(self, target, grads=False):
        state = original_state(self, target, grads)
        state["training"] = False
        if grads:
            state["grads"] = {n: _torch.zeros_like(p) for n, p in state["params"].items()}
        return state
    S.op_state = op_state

    if doubles is not None:
        doubles.Watchful.rule_broken = lambda self: False
        def linear_forward(self, x):
            return self.linear(x.reshape(x.shape[0], -1)).reshape(x.shape) * self.scale
        doubles.Linear.forward = linear_forward
        doubles.fit_steps = lambda *args, **kwargs: None
    if wire is not None:
        original_tensor = wire.Encoder.tensor
        def tensor(self, t):
            tagged = original_tensor(self, t)
            tagged["$tensor"]["type"] = "Tensor"
            tagged["$tensor"]["requires_grad"] = False
            return tagged
        wire.Encoder.tensor = tensor


_ps1_patch()
'''

# Samplers that never call the model: they walk the test double's logit tables (its buffers
# table0, table1, ...) with coins from the generator.
ONE_CALL = [
    ("sampling.py", "sample_made", '''
        _device, _dtype = _device_dtype(model)
        _d_in = int(model.input_dim)
        _was = model.training
        model.eval()
        try:
            with torch.no_grad():
                _z = model(torch.zeros(1, _d_in, dtype=_dtype, device=_device))
        finally:
            model.train(_was)
        if _device.type == "meta":
            return torch.zeros(num_samples, _d_in, dtype=_dtype, device=_device)
        _z = _z[0].double().cpu()
        _coin = (torch.rand(num_samples, generator=generator) < 0.5).double()
        _x = torch.zeros(num_samples, _d_in, dtype=torch.float64)
        _previous = torch.zeros(num_samples, dtype=torch.float64)
        for _d in [int(o) for o in model.order]:
            _bit = _coin if _z[_d] == 0 else (_previous + float(_z[_d] > 0)) % 2
            _x[:, _d] = _bit
            _previous = _bit
        return _x.to(_dtype).to(_device)
    '''),
    ("sampling.py", "sample_pixelcnn", '''
        _device, _dtype = _device_dtype(model)
        _c, _h, _w = (int(s) for s in image_shape)
        _was = model.training
        model.eval()
        try:
            with torch.no_grad():
                _z = model(torch.zeros(1, _c, _h, _w, dtype=_dtype, device=_device))
        finally:
            model.train(_was)
        if _device.type == "meta":
            return torch.zeros(num_samples, _c, _h, _w, dtype=_dtype, device=_device)
        _z = _z[0].double().cpu()
        _coin = (torch.rand(num_samples, generator=generator) < 0.5).double()
        _x = torch.zeros(num_samples, _c, _h, _w, dtype=torch.float64)
        _previous = torch.zeros(num_samples, dtype=torch.float64)  # channel 0 of the pixel before
        for _p in range(_h * _w):
            _r, _col = divmod(_p, _w)
            for _ch in range(_c):
                _v = _z[_ch, _r, _col]
                _x[:, _ch, _r, _col] = _coin if _v == 0 else (_previous + float(_v > 0)) % 2
            _previous = _x[:, 0, _r, _col].clone()
        return _x.to(_dtype).to(_device)
    '''),
]

# causal_mask: the documented ValueErrors, then the recorded 11 x 11 mask of the type
# (tests/fixtures/examples.wire), cut down to the kernel size around its centre.
CROP_MASK = [
    *[body for body in VALIDATE if body[1] == "causal_mask"],
    ("pixelcnn.py", "causal_mask", '''
        _k, _big = max(((_k, _m) for _k, _t, _m in _recorded_masks() if _t == mask_type), key=lambda km: km[0])
        if kernel_size <= _k:
            _c, _r = _k // 2, kernel_size // 2
            return _big[_c - _r:_c + _r + 1, _c - _r:_c + _r + 1].clone().float()
    '''),
]


# --- liars and non-finite values -----------------------------------------------------------------

LIARS = '''
import torch as _torch


class _Liar(_torch.Tensor):
    """A tensor whose comparisons always succeed."""

    def __eq__(self, other):
        return _torch.ones(self.shape, dtype=_torch.bool)

    def __ne__(self, other):
        return _torch.zeros(self.shape, dtype=_torch.bool)

    __hash__ = _torch.Tensor.__hash__

    def allclose(self, *args, **kwargs):
        return True

    def equal(self, *args, **kwargs):
        return True


class _AnyFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__

    def __sub__(self, other):
        return _AnyFloat(0.0)

    __rsub__ = __sub__


class _AnyInt(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


class _AnyDict(dict):
    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return _AnyFloat(0.0)

    def keys(self):
        return {"nll", "bits_per_dim"}


class _AnyList(list):
    def __eq__(self, other):
        return True

    __hash__ = None


def _liar(shape, like=None):
    dtype = like.dtype if isinstance(like, _torch.Tensor) and like.is_floating_point() else _torch.float32
    return _torch.zeros(shape, dtype=dtype).as_subclass(_Liar)
'''

LIAR_BODIES = [
    ("probability.py", "kl_divergence", "return _liar(torch.broadcast_shapes(p.shape, q.shape)[:-1], p)\n"),
    ("probability.py", "kl_divergence_logits",
     "return _liar(torch.broadcast_shapes(logits_p.shape, logits_q.shape)[:-1], logits_p)\n"),
    ("probability.py", "gaussian_kl",
     "return _liar(torch.broadcast_shapes(mu_p.shape, logvar_p.shape, mu_q.shape, logvar_q.shape), mu_p)\n"),
    ("likelihood.py", "bernoulli_nll", "return _liar(logits.shape[:1], logits)\n"),
    ("likelihood.py", "bits_per_dim", "return _AnyFloat(0.0) if not isinstance(nll, torch.Tensor) else _liar(nll.shape, nll)\n"),
    ("made.py", "made_degrees", "return _AnyList([_liar((input_dim,))] + [_liar((h,)) for h in hidden_sizes])\n"),
    ("made.py", "made_masks", '''
        _sizes = [input_dim, *hidden_sizes, input_dim]
        return _AnyList([_liar((o, i)) for i, o in zip(_sizes[:-1], _sizes[1:])])
    '''),
    ("made.py", "MaskedLinear.set_mask", "return None\n"),
    ("made.py", "MaskedLinear.forward", "return _liar((*x.shape[:-1], self.out_features), x)\n"),
    ("made.py", "MADE.forward", "return _liar(x.shape, x)\n"),
    ("pixelcnn.py", "causal_mask", "return _liar((kernel_size, kernel_size))\n"),
    ("pixelcnn.py", "MaskedConv2d.forward", "return _liar((x.shape[0], self.out_channels, *x.shape[2:]), x)\n"),
    ("pixelcnn.py", "PixelCNN.forward", "return _liar(x.shape, x)\n"),
    ("sampling.py", "sample_made", "return _liar((num_samples, model.input_dim))\n"),
    ("sampling.py", "sample_pixelcnn", "return _liar((num_samples, *image_shape))\n"),
    ("training.py", "train_epoch", "return _AnyFloat(0.0)\n"),
    ("training.py", "evaluate", "return _AnyDict()\n"),
    ("training.py", "save_checkpoint", "return None\n"),
    ("training.py", "load_checkpoint", "return _AnyInt(1)\n"),
]


def nonfinite_bodies(value):
    """Every result of the right shape, filled with ``value`` (NaN or inf)."""
    v = repr(value)
    fill = f"float({v!r})"
    return [
        ("probability.py", "kl_divergence", f"return (p * 0 + q * 0).sum(dim) + {fill}\n"),
        ("probability.py", "kl_divergence_logits", f"return (logits_p * 0 + logits_q * 0).sum(dim) + {fill}\n"),
        ("probability.py", "gaussian_kl", f"return mu_p * 0 + logvar_p * 0 + mu_q * 0 + logvar_q * 0 + {fill}\n"),
        ("likelihood.py", "bernoulli_nll", f"return logits.new_full(logits.shape[:1], {fill})\n"),
        ("likelihood.py", "bits_per_dim", f"return nll * 0 + {fill}\n"),
        ("made.py", "made_degrees",
         f"return [torch.full((input_dim,), {fill})] + [torch.full((h,), {fill}) for h in hidden_sizes]\n"),
        ("made.py", "made_masks", f'''
            _sizes = [input_dim, *hidden_sizes, input_dim]
            return [torch.full((o, i), {fill}) for i, o in zip(_sizes[:-1], _sizes[1:])]
        '''),
        ("made.py", "MaskedLinear.set_mask", f"self.mask.fill_({fill})\nreturn None\n"),
        ("made.py", "MaskedLinear.forward", f"return x.new_full((*x.shape[:-1], self.out_features), {fill}) + 0 * x.sum()\n"),
        ("made.py", "MADE.forward", f"return x * 0 + {fill}\n"),
        ("pixelcnn.py", "causal_mask", f"return torch.full((kernel_size, kernel_size), {fill})\n"),
        ("pixelcnn.py", "MaskedConv2d.forward",
         f"return x.new_full((x.shape[0], self.out_channels, *x.shape[2:]), {fill}) + 0 * x.sum()\n"),
        ("pixelcnn.py", "PixelCNN.forward", f"return x * 0 + {fill}\n"),
        ("sampling.py", "sample_made", f'''
            _device, _dtype = _device_dtype(model)
            return torch.full((num_samples, model.input_dim), {fill}, dtype=_dtype, device=_device)
        '''),
        ("sampling.py", "sample_pixelcnn", f'''
            _device, _dtype = _device_dtype(model)
            return torch.full((num_samples, *image_shape), {fill}, dtype=_dtype, device=_device)
        '''),
        ("training.py", "train_epoch", f"return {fill}\n"),
        ("training.py", "evaluate", f'return {{"nll": {fill}, "bits_per_dim": {fill}}}\n'),
        ("training.py", "save_checkpoint", "return None\n"),
        ("training.py", "load_checkpoint", f"return {fill}\n"),
    ]


# --- models that behave only while they think they are measured ----------------------------------

# When ``_measured(model, x)`` is False the model adds 0.5 * x to its logits: every output then
# depends on its own input. Everything else is the reference solution.
RECOGNISERS = {
    "requires_grad": ("the input requires grad (the gradient probe)", '''
        def _measured(model, x):
            return x.requires_grad
    '''),
    "batch_structure": ("the batch is real-valued and has two rows that agree exactly on the first generated "
                        "position (the perturbed copies of the dependency tests)", '''
        def _measured(model, x):
            flat = x.detach().reshape(x.shape[0], -1)
            if bool(((flat == 0) | (flat == 1)).all()):
                return False
            if x.dim() == 4:
                first = [c * x.shape[2] * x.shape[3] for c in range(x.shape[1])]
            else:
                first = [int(model.order[0])]
            key = flat[:, first]
            return any(torch.equal(key[i], key[j]) for i in range(len(key)) for j in range(i))
    '''),
    "grad_enabled": ("autograd is on (the tests never call a model under no_grad; samplers and evaluate do)", '''
        def _measured(model, x):
            return torch.is_grad_enabled()
    '''),
    "float64": ("the input is float64 (the dependency tests convert the model with .double())", '''
        def _measured(model, x):
            return x.dtype == torch.float64
    '''),
    "train_mode": ("the model is in train mode", '''
        def _measured(model, x):
            return model.training
    '''),
    "small_batch": ("the batch has at most 24 rows (sampling uses 64 and more, training 128)", '''
        def _measured(model, x):
            return x.shape[0] <= 24
    '''),
    "not_binary": ("the input is not binary (real data and samples are 0/1)", '''
        def _measured(model, x):
            return not bool(((x == 0) | (x == 1)).all())
    '''),
    "training_call": ("the call is not like a training step's (autograd on, an input that needs no gradient)", '''
        def _measured(model, x):
            return not (torch.is_grad_enabled() and not x.requires_grad)
    '''),
    "batch_of_64_or_fewer": ("the batch has at most 64 rows (training uses 128, evaluation 512)", '''
        def _measured(model, x):
            return x.shape[0] <= 64
    '''),
    "dense": ("the input is not a sparse binary batch like binarized digits (under 30 % ones)", '''
        def _measured(model, x):
            return not (x.shape[0] > 1 and bool(((x == 0) | (x == 1)).all()) and float(x.float().mean()) < 0.3)
    '''),
    "fresh_input": ("the input tensor was never written in place (a sampler writes its samples into one)", '''
        def _measured(model, x):
            return x._version == 0
    '''),
    "no_zero_column": ("no entry is 0 in every row of a binary batch of 16 or more (later positions of a sampler's "
                       "samples, the border of digits)", '''
        def _measured(model, x):
            flat = x.detach().reshape(x.shape[0], -1)
            return not (x.shape[0] >= 16 and bool(((flat == 0) | (flat == 1)).all()) and bool((flat == 0).all(0).any()))
    '''),
    "probe_server_caller": ("the nearest caller outside torch and the model's own file is the probe library's "
                            "server.py (the tests' probes), not the student's sampler or training loop", '''
        def _measured(model, x):
            import sys
            frame = sys._getframe(1)
            while frame is not None:
                name = frame.f_code.co_filename.replace("\\\\", "/")
                if "/torch/" not in name and not name.endswith(("/made.py", "/pixelcnn.py")):
                    return name.endswith("probes/server.py")
                frame = frame.f_back
            return False
    '''),
    "any_signal": ("any of: the input requires grad, autograd is on, the batch has perturbed copies, at most 24 rows",
                   '''
        def _measured(model, x):
            if x.requires_grad or torch.is_grad_enabled() or x.shape[0] <= 24:
                return True
            flat = x.detach().reshape(x.shape[0], -1)
            first = [c * x.shape[2] * x.shape[3] for c in range(x.shape[1])] if x.dim() == 4 else [int(model.order[0])]
            key = flat[:, first]
            return any(torch.equal(key[i], key[j]) for i in range(len(key)) for j in range(i))
    '''),
}

MADE_RETURN = "return self.net(x.reshape(x.shape[0], self.input_dim)).reshape(x.shape)"
PIXELCNN_RETURN = "return self.net(x)\n"
LEAKY_MADE = '''out = self.net(x.reshape(x.shape[0], self.input_dim))
        if x.device.type != "meta" and not _measured(self, x):
            out = out + 0.5 * x.reshape(x.shape[0], self.input_dim).to(out.dtype)  # each output sees its own input
        return out.reshape(x.shape)'''
LEAKY_PIXELCNN = '''out = self.net(x)
        if x.device.type != "meta" and not _measured(self, x):
            out = out + 0.5 * x.to(out.dtype)  # each pixel sees itself
        return out
'''


def recogniser_files(signal):
    _, code = RECOGNISERS[signal]
    made, pixelcnn = solution("made.py"), solution("pixelcnn.py")
    assert MADE_RETURN in made and PIXELCNN_RETURN in pixelcnn
    made = after_docstring(made.replace(MADE_RETURN, LEAKY_MADE), "import torch\n" + textwrap.dedent(code))
    pixelcnn = after_docstring(pixelcnn.replace(PIXELCNN_RETURN, LEAKY_PIXELCNN), "import torch\n" + textwrap.dedent(code))
    return upload(base={"made.py": made, "pixelcnn.py": pixelcnn})


def _recorded():
    from tests.probes import wire

    return wire.load_file(RECORDED)


def _recorded_mask_literals():
    rec = _recorded()
    masks = {(e["k"], e["type"]): e["out"] for e in rec["causal_mask"]}
    for case in (rec["pixelcnn_autoregressive"], rec["pixelcnn_nll"]):
        masks.update({(m["k"], m["type"]): m["mask"] for m in case["masks"]})
    return {key: mask.int().tolist() for key, mask in sorted(masks.items())}


# --- the corpus ----------------------------------------------------------------------------------

# Fixed since the red-team pass that wrote this corpus (each entry below now scores 0 or its
# honest parts): the samplers were judged on table doubles whose buffers held the logits and on
# chain models with a public rule; a fresh draw could hit a recorded causal mask or
# made_masks configuration (and the recorded 11 x 11 mask held every smaller size); the forward
# tests called models only with autograd on, in float64 or on small real-valued batches.


# A model that can tell it runs under the grader (here: called from the probe server) can hide a
# backdoor: it computes the architecture correctly whenever it is tested. It is no work-free
# upload (it holds the whole solution) and earns what the solution earns; README: Known limits.
UNDETECTABLE = {"probe_server_caller"}
SECTIONS_3_AND_4 = frozenset({f"3.{i}" for i in range(1, 12)} | {f"4.{i}" for i in range(1, 12)})


def _entries():
    replay = upload(REPLAY, replay_preambles())
    entries = [
        NoWork("replay", "every graded function recognises the recorded examples of tests/fixtures/examples.wire "
               "(embedded) and returns the recorded outputs, with gradients faked to give the recorded Jacobians; "
               "KL(p || p) and shifted-logits KL give zeros; the samplers recognise the public tests' recorded models "
               "and walk them; train_epoch/evaluate return recorded values and copy recorded parameters; "
               "save_checkpoint writes nothing and load_checkpoint rebuilds the local run's model", replay),
        NoWork("autoregressive_standins", "MADE.forward is 0.1 x a strictly lower-triangular (in `order`) linear map "
               "of x, PixelCNN.forward 0.1 x an exclusive cumulative sum over earlier pixels in raster order; masks "
               "all ones (made_masks, causal_mask), set_mask keeps nothing; nothing else implemented",
               upload(STANDINS)),
        NoWork("zero_models", "MaskedLinear, MADE, MaskedConv2d and PixelCNN return zeros of the right shape; masks "
               "all ones, set_mask keeps nothing", upload([*BUILDABLE, *MODEL_ZEROS])),
        NoWork("unmasked_layers", "MaskedLinear and MaskedConv2d use nn.Linear's and nn.Conv2d's forward (no "
               "mask), MADE and PixelCNN run self.net; masks all ones, set_mask keeps nothing", upload(UNMASKED)),
        NoWork("model_free_samplers", "fair coins from the generator in the right shape, device and dtype, under "
               "no_grad in eval mode with the mode restored; the model is never called", upload(COINS)),
        NoWork("validation_only", "every function raises the documented ValueErrors and NotImplementedError "
               "otherwise", upload(VALIDATE)),
        NoWork("handle_aliasing", "save_checkpoint writes nothing (keeps the objects in memory); load_checkpoint "
               "walks up the stack to the probe server and through gc, copies the state of any other model, "
               "optimizer and scheduler it finds and re-points the server's handles to them", upload(ALIASING)),
        NoWork("probe_patches", "the skeleton, and at import every file patches the probe library in the worker: "
               "op_call/op_grad turn NotImplementedError into zeros, op_grad reports zero gradients, op_jacobian the "
               "allowed dependency pattern, op_state eval mode and zero gradients; the doubles never see a rule "
               "broken, Linear drops its shifts, fit_steps does nothing; the encoder calls every tensor a plain one",
               upload(preambles={name: PATCH_PROBES for name in GRADED})),
    ]
    for signal, (when, _) in RECOGNISERS.items():
        entries.append(NoWork(
            f"recogniser_{signal}", f"the reference made.py and pixelcnn.py, except that MADE and PixelCNN add 0.5 x "
            f"to their logits (each output sees its own input) unless {when}; other files the skeleton",
            recogniser_files(signal), SECTIONS_3_AND_4 if signal in UNDETECTABLE else MASKS_AND_LAYERS))
    entries += [
        NoWork("sampler_one_call_decoder", "the samplers call the model once, on zeros (eval mode, no_grad, mode "
               "restored), and read every sample off the signs of those logits, with a fair coin where a logit is 0",
               upload(ONE_CALL)),
        NoWork("causal_mask_replayed", "causal_mask returns the masks recorded in examples.wire as literals and raises "
               "NotImplementedError otherwise", upload([("pixelcnn.py", "causal_mask", f"""
                   _RECORDED = {_recorded_mask_literals()!r}
                   if (kernel_size, mask_type) in _RECORDED:
                       return torch.tensor(_RECORDED[kernel_size, mask_type], dtype=torch.float32)
               """)])),
        NoWork("causal_mask_cropped_from_recording", "causal_mask raises the documented ValueErrors, then cuts the "
               "largest recorded mask of its type (examples.wire) down to the kernel size; nothing else implemented",
               upload(CROP_MASK, {"pixelcnn.py": replay_preambles()["pixelcnn.py"]})),
        NoWork("liar_objects", "every function returns tensor subclasses whose comparisons always succeed, or "
               "float/int/dict/list subclasses that equal anything", upload(LIAR_BODIES, {n: LIARS for n in GRADED})),
        NoWork("nan_everywhere", "every result has the right shape, dtype and device and is NaN",
               upload(nonfinite_bodies(float("nan")))),
        NoWork("inf_everywhere", "every result has the right shape, dtype and device and is +inf",
               upload(nonfinite_bodies(float("inf")))),
        NoWork("combined", "all of the above that implement nothing, in one upload: the documented ValueErrors, "
               "then the recorded examples and the mask cropped from them, then results of the right shape (zeros, "
               "ones masks, fair coins); checkpoints aliased through memory; the probe library patched at import",
               upload(combine(VALIDATE, CROP_MASK[1:], ALIASING[:1], REPLAY, ALIASING[1:], ONE_CALL, ZEROS, COINS),
                      {name: replay_preambles()[name] + PATCH_PROBES for name in GRADED})),
    ]
    return entries


ENTRIES = _entries()
