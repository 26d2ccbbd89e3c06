"""The wire format between the grading session and a worker, and of the recorded fixtures.

A frame is ``b"PS1W"``, the header's length (4 bytes) and the blob's length (8 bytes), both
big-endian, then a UTF-8 JSON header and a blob of raw tensor bytes. Decoding never runs code:
JSON for structure, ``numpy.frombuffer`` for tensor data (no pickle, no ``torch.load``), and
every size is checked against :class:`Limits` before anything is allocated.

Values that JSON has no word for are tagged objects with exactly one key:

* ``{"$tensor": {"dtype", "shape", "offset", "device", "type", "requires_grad"}}``, its bytes
  at ``offset`` in the blob (``offset`` is ``null`` for tensors that hold no data, e.g. on the
  ``meta`` device);
* ``{"$tuple": [...]}``, ``{"$dict": [[key, value], ...]}`` (keys: str, int, float, bool, None);
* ``{"$ref": n, "type": "module.Class"}``: an object that stays in the worker, under handle n;
* ``{"$object": "module.Class"}``: an object that could not be sent (never a live object);
* from the session only: ``{"$generator": seed, "device": "cpu"}``, ``{"$dtype": "float64"}``,
  ``{"$device": "cpu"}``, ``{"$params": ref}`` (that model's ``parameters()``).
"""
import bisect
import json
import math
import struct
import time
from dataclasses import dataclass

import numpy as np
import torch

MAGIC = b"PS1W"
_PREFIX = struct.Struct(">4sIQ")

# Only these dtypes travel; anything else a worker claims is refused.
DTYPES = {
    "float16": (torch.float16, np.float16), "float32": (torch.float32, np.float32),
    "float64": (torch.float64, np.float64), "int8": (torch.int8, np.int8), "uint8": (torch.uint8, np.uint8),
    "int16": (torch.int16, np.int16), "int32": (torch.int32, np.int32), "int64": (torch.int64, np.int64),
    "bool": (torch.bool, np.bool_),
}
_NAME_OF = {torch_dtype: name for name, (torch_dtype, _) in DTYPES.items()}
TAGS = ("$tensor", "$tuple", "$dict", "$ref", "$object", "$generator", "$dtype", "$device", "$params")


class WireError(ValueError):
    """A frame that breaks the format or a limit; the message says which, in one line."""


@dataclass(frozen=True)
class Limits:
    header_bytes: int = 8 * 2**20
    blob_bytes: int = 96 * 2**20
    depth: int = 24
    items: int = 200_000          # list items and dict entries in one frame
    string_chars: int = 200_000
    dims: int = 8
    tensor_elements: int = 16 * 2**20


LIMITS = Limits()


# --- encoding ----------------------------------------------------------------------------------

class Encoder:
    """Turns a value into (header, blob). ``keep`` is called for objects that cannot travel:
    it returns a tagged dict (a handle) or ``None`` to send ``{"$object": type}``."""

    def __init__(self, keep=None, limits=LIMITS):
        self.keep, self.limits = keep, limits
        self.chunks, self.size = [], 0

    def value(self, obj, depth=0):
        if depth > self.limits.depth:
            return {"$object": "nested too deeply"}
        if obj is None or isinstance(obj, (bool, str)):
            return obj if not isinstance(obj, str) else obj[: self.limits.string_chars]
        if isinstance(obj, int) and type(obj) in (int, bool):
            return obj if -2**63 <= obj < 2**63 else float(obj)
        if type(obj) is float:
            return obj
        if isinstance(obj, (np.floating, np.integer, np.bool_)):
            return obj.item()
        if type(obj) in (torch.Tensor, torch.nn.Parameter):
            return self.tensor(obj)
        if type(obj) is Seeded:
            return {"$generator": obj.seed, "device": obj.device}
        if type(obj) is Params:
            return {"$params": obj.ref.id}
        if type(obj) is Ref:
            return {"$ref": obj.id, "type": obj.type}
        if type(obj) is Placed:
            tagged = self.tensor(obj.tensor)
            tagged["$tensor"]["device"] = obj.device
            return tagged
        if type(obj) is list:
            return [self.value(v, depth + 1) for v in obj]
        if type(obj) is tuple:
            return {"$tuple": [self.value(v, depth + 1) for v in obj]}
        if type(obj) is dict:
            return {"$dict": [[self._key(k), self.value(v, depth + 1)] for k, v in obj.items()]}
        if type(obj) is torch.dtype:
            return {"$dtype": _NAME_OF.get(obj, str(obj))}
        if type(obj) is torch.device:
            return {"$device": str(obj)}
        tagged = self.keep(obj) if self.keep else None
        return tagged if tagged is not None else {"$object": type_name(obj)}

    def _key(self, key):
        return key if key is None or type(key) in (str, int, float, bool) else repr(type(key))

    def tensor(self, t):
        info = {"dtype": _NAME_OF.get(t.dtype, str(t.dtype)), "shape": list(t.shape), "device": str(t.device),
                "type": type(t).__name__, "requires_grad": bool(t.requires_grad), "offset": None}
        if t.device.type == "meta" or info["dtype"] not in DTYPES:
            return {"$tensor": info}
        data = t.detach().to("cpu").contiguous()
        raw = data.numpy().tobytes() if t.dtype is not torch.bool else data.to(torch.uint8).numpy().tobytes()
        info["offset"] = self.size
        self.chunks.append(raw)
        self.size += len(raw)
        return {"$tensor": info}


def type_name(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def encode(obj, keep=None, limits=LIMITS):
    """One frame holding ``obj``."""
    enc = Encoder(keep, limits)
    header = json.dumps(enc.value(obj), allow_nan=True, separators=(",", ":")).encode()
    blob = b"".join(enc.chunks)
    if len(header) > limits.header_bytes or len(blob) > limits.blob_bytes:
        raise WireError(f"answer too large ({len(header) + len(blob)} bytes)")
    return _PREFIX.pack(MAGIC, len(header), len(blob)) + header + blob


# --- decoding ----------------------------------------------------------------------------------

def frame_sizes(prefix, limits=LIMITS):
    """(header length, blob length) from a frame's first 16 bytes, checked against the limits."""
    if len(prefix) != _PREFIX.size:
        raise WireError("truncated frame")
    magic, header_len, blob_len = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError("not a frame (bad magic bytes)")
    if header_len > limits.header_bytes or blob_len > limits.blob_bytes:
        raise WireError(f"frame too large ({header_len} + {blob_len} bytes)")
    return header_len, blob_len


PREFIX_BYTES = _PREFIX.size


def read_frame(sock, limits=LIMITS, deadline=None):
    """One whole frame from a stream socket, its sizes checked before its body is read.
    ``None`` if the peer closed the stream between frames; :class:`EOFError` inside one.
    With ``deadline`` (a ``time.time()``), :class:`TimeoutError` once it passes, however the
    peer trickles its bytes (a timeout per ``recv`` would restart with each byte)."""
    prefix = _recv_exactly(sock, PREFIX_BYTES, deadline)
    if not prefix:
        return None
    if len(prefix) < PREFIX_BYTES:
        raise EOFError("the stream ended inside a frame")
    header_len, blob_len = frame_sizes(prefix, limits)
    body = _recv_exactly(sock, header_len + blob_len, deadline)
    if len(body) < header_len + blob_len:
        raise EOFError("the stream ended inside a frame")
    return prefix + body


def _recv_exactly(sock, n, deadline=None):
    """``n`` bytes, or fewer if the stream ends first."""
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("the deadline passed while a frame was being read")
            sock.settimeout(left)
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class Decoder:
    """Builds plain values from a header and blob. ``resolve`` turns the session-only tags
    ($ref, $generator, $params) into objects; without it (in the session) a ``$ref`` stays a
    :class:`Ref` and the session-only tags are refused."""

    def __init__(self, blob, resolve=None, limits=LIMITS):
        self.blob, self.resolve, self.limits, self.items = blob, resolve, limits, 0
        self.regions = []  # (start, end) of every tensor's bytes decoded so far

    def value(self, obj, depth=0):
        if depth > self.limits.depth:
            raise WireError(f"nested deeper than {self.limits.depth} levels")
        if obj is None or isinstance(obj, (bool, int, float)):
            return obj
        if isinstance(obj, str):
            if len(obj) > self.limits.string_chars:
                raise WireError(f"a string of {len(obj)} characters")
            return obj
        if isinstance(obj, list):
            self._count(len(obj))
            return [self.value(v, depth + 1) for v in obj]
        if not isinstance(obj, dict) or len(obj) not in (1, 2) or not any(k in TAGS for k in obj):
            raise WireError("an untagged JSON object")
        tag = next(k for k in obj if k in TAGS)
        body = obj[tag]
        if tag == "$tensor":
            return self.tensor(body)
        if tag == "$tuple":
            if not isinstance(body, list):
                raise WireError("a malformed $tuple")
            self._count(len(body))
            return tuple(self.value(v, depth + 1) for v in body)
        if tag == "$dict":
            if not isinstance(body, list) or not all(isinstance(kv, list) and len(kv) == 2 for kv in body):
                raise WireError("a malformed $dict")
            self._count(len(body))
            out = {}
            for key, value in body:
                if key is not None and not isinstance(key, (str, int, float, bool)):
                    raise WireError("a $dict key that is not a string or number")
                out[key] = self.value(value, depth + 1)
            return out
        if tag == "$object":
            return Unsent(str(body)[:200])
        if tag == "$ref":
            if type(body) is not int:
                raise WireError("a malformed $ref")
            if self.resolve:
                return self.resolve(obj)
            return Ref(body, str(obj.get("type", "?"))[:200])
        if tag == "$dtype":
            if body not in DTYPES:
                raise WireError(f"unknown dtype {str(body)[:40]!r}")
            return DTYPES[body][0]
        if tag == "$device":
            if not isinstance(body, str) or len(body) > 20:
                raise WireError("a malformed $device")
            return torch.device(body)
        if self.resolve is None:
            raise WireError(f"{tag} is not allowed here")
        return self.resolve(obj)

    def _count(self, n):
        self.items += n
        if self.items > self.limits.items:
            raise WireError(f"more than {self.limits.items} items")

    def _claim(self, start, end):
        """Every tensor's bytes are its own: a frame cannot make the reader copy the same bytes
        once per reference (20 tensors over one 64 MB region would be 1.3 GB), so what a frame
        decodes to is at most its blob."""
        if end > start:
            at = bisect.bisect_left(self.regions, (start, end))
            if (at > 0 and self.regions[at - 1][1] > start) or (at < len(self.regions) and self.regions[at][0] < end):
                raise WireError("two tensors share bytes of the frame")
            self.regions.insert(at, (start, end))

    def tensor(self, info):
        if not isinstance(info, dict):
            raise WireError("a malformed $tensor")
        dtype, shape, offset = info.get("dtype"), info.get("shape"), info.get("offset")
        if dtype not in DTYPES:
            raise WireError(f"a tensor of unknown dtype {str(dtype)[:40]!r}")
        if (not isinstance(shape, list) or len(shape) > self.limits.dims
                or not all(type(n) is int and 0 <= n <= self.limits.tensor_elements for n in shape)):
            raise WireError(f"a tensor of impossible shape {str(shape)[:80]}")
        numel = math.prod(shape)
        if numel > self.limits.tensor_elements:
            raise WireError(f"a tensor of {numel} elements")
        torch_dtype, np_dtype = DTYPES[dtype]
        meta = {"device": str(info.get("device", "cpu"))[:20], "type": str(info.get("type", "Tensor"))[:60],
                "requires_grad": info.get("requires_grad") is True}
        if offset is None:
            if self.resolve is not None and meta["device"] == "meta":  # in the worker
                return torch.empty(shape, dtype=torch_dtype, device="meta")
            return TensorInfo(torch_dtype, tuple(shape), **meta)
        itemsize = np.dtype(np_dtype).itemsize
        if type(offset) is not int or offset < 0 or offset + numel * itemsize > len(self.blob):
            raise WireError("a tensor whose bytes lie outside the frame")
        self._claim(offset, offset + numel * itemsize)
        array = np.frombuffer(self.blob, dtype=np_dtype if dtype != "bool" else np.uint8, count=numel,
                              offset=offset).reshape(shape)
        if dtype == "bool" and array.size and array.max() > 1:
            raise WireError("a bool tensor holding values other than 0 and 1")
        tensor = torch.from_numpy(array.copy())
        tensor = tensor.to(torch.bool) if dtype == "bool" else tensor
        if self.resolve is not None:  # in the worker: put it where the session asked
            if meta["device"].startswith("cuda"):
                tensor = tensor.to(meta["device"])
            return tensor
        tensor.wire = meta  # where it lived and what it claimed to be, for the checks
        return tensor


def decode_parts(header, blob, resolve=None, limits=LIMITS):
    try:
        parsed = json.loads(header.decode("utf-8"))
    except RecursionError:
        raise WireError(f"nested deeper than {limits.depth} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"not valid JSON ({str(exc)[:80]})") from None
    return Decoder(blob, resolve, limits).value(parsed)


def decode(frame, resolve=None, limits=LIMITS):
    """The value in one whole frame (bytes)."""
    header_len, blob_len = frame_sizes(frame[:PREFIX_BYTES], limits)
    if len(frame) != PREFIX_BYTES + header_len + blob_len:
        raise WireError("frame length does not match its prefix")
    header = frame[PREFIX_BYTES:PREFIX_BYTES + header_len]
    return decode_parts(header, frame[PREFIX_BYTES + header_len:], resolve, limits)


# --- what the session gets back for objects that are not plain data ----------------------------

@dataclass(frozen=True)
class Ref:
    """A handle to an object that lives in the worker."""
    id: int
    type: str


@dataclass(frozen=True)
class Unsent:
    """An object the worker could not send (its type name, nothing else)."""
    type: str


@dataclass(frozen=True)
class TensorInfo:
    """A tensor without data (e.g. on the ``meta`` device)."""
    dtype: torch.dtype
    shape: tuple
    device: str
    type: str
    requires_grad: bool


@dataclass(frozen=True)
class Seeded:
    """The session's way to pass ``torch.Generator(device).manual_seed(seed)`` to the worker
    (on the device of the model it goes with, as a student would create it)."""
    seed: int
    device: str = "cpu"


@dataclass(frozen=True)
class Params:
    """The session's way to pass ``model.parameters()`` of a worker-side model (a :class:`Ref`)."""
    ref: Ref


@dataclass(frozen=True)
class Placed:
    """A tensor the session sends to be put on another device in the worker (e.g. ``cuda``)."""
    tensor: torch.Tensor
    device: str


# --- files (the recorded fixtures) ------------------------------------------------------------

def dump_file(obj, path):
    with open(path, "wb") as out:
        out.write(encode(obj))


def load_file(path, limits=LIMITS):
    with open(path, "rb") as f:
        return decode(f.read(), limits=limits)
