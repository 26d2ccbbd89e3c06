"""The trust boundary: verdicts only in the session, plain data from workers.

* a full grading never imports a ``submission`` module (nor opens a staged file) in the
  session process, and the zygote the workers fork from holds no test, oracle or fixture;
* whatever a worker sends (forged verdicts, truncated or oversized frames, deep nesting,
  unknown dtypes, absurd shapes, NaN, answers out of turn, nothing) fails that test with a
  one-line message, and the reader never executes anything;
* the probe protocol's own round trip (the in-process backend) keeps types exact.
"""
import json
import socket
import struct
import threading

import pytest
import torch
from hypothesis import given, settings, strategies as st

from autograder.selftests.conftest import IS_ROOT, run_grader
from tests.probes import wire
from tests.support import client


# --- a full grading ----------------------------------------------------------------------------

def test_session_never_imports_student_code(solution_upload, tmp_path, monkeypatch):
    audit = tmp_path / "audit.json"
    monkeypatch.setenv("PS1_AUDIT", str(audit))
    results, _ = run_grader(solution_upload, tmp_path / "results.json")
    assert results["score"] == 40.0
    seen = json.loads(audit.read_text())
    touched = seen["seen"] + seen["modules"]
    assert touched == [], f"the session touched student code ({len(touched)} times), first: {touched[:3]}"
    workers = seen["workers"]
    assert workers.get("ready"), workers
    assert workers["modules"] == [], f"the zygote holds test or grader modules: {workers['modules']}"
    assert workers["protections"]["filesystem"], workers
    if IS_ROOT:
        assert workers["protections"]["namespaces"].startswith("private network"), workers


# --- what a worker may send ---------------------------------------------------------------------

def frame(header, blob=b"", header_len=None, blob_len=None):
    header = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (b"PS1W" + struct.pack(">IQ", len(header) if header_len is None else header_len,
                                  len(blob) if blob_len is None else blob_len) + header + blob)


def answer(rid, ok):
    return {"$dict": [["id", rid], ["ok", ok]]}


GARBAGE = {
    "a forged verdict line": b'{"status": "passed", "output": ""}\n',
    "a truncated frame": frame(answer(1, True))[:-3],
    "an oversized frame": frame(b"{}", header_len=2**31, blob_len=2**40),
    "deep nesting": frame(b"[" * 50000 + b"]" * 50000),
    "an unknown dtype": frame(answer(1, {"$tensor": {"dtype": "complex64", "shape": [2], "offset": 0}}), bytes(16)),
    "an absurd shape": frame(answer(1, {"$tensor": {"dtype": "float32", "shape": [2**40, 2**40], "offset": 0}})),
    "bytes outside the blob": frame(answer(1, {"$tensor": {"dtype": "float64", "shape": [4], "offset": 8}}),
                                    bytes(16)),
    "an untagged object": frame({"id": 1, "ok": True}),
    "an answer out of turn": frame(answer(7, True)),
    "an answer with no verdict-like meaning": frame(answer(1, {"$object": "made.Liar"})),
    "invalid UTF-8": frame(b"\xff\xfe"),
}


class Scripted:
    """A transport that answers every request with the same bytes, read back through a
    socket by the session's own frame reader (:func:`wire.read_frame`)."""

    def __init__(self, data):
        self.data = data

    def request(self, frame, timeout=None):
        ours, theirs = socket.socketpair()
        sender = threading.Thread(target=self._send, args=(theirs,))
        sender.start()
        try:
            answer = wire.read_frame(ours)
        except EOFError:
            raise client.WorkerGone("sent an unreadable answer (truncated frame)") from None
        finally:
            ours.close()  # a sender blocked on a frame the reader refused gets an error and stops
            sender.join()
            theirs.close()
        if answer is None:
            raise client.WorkerGone("ended before the test finished (exit status 0)")
        return answer

    def _send(self, sock):
        try:
            sock.sendall(self.data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        pass


@pytest.mark.parametrize("kind", sorted(GARBAGE), ids=lambda k: k.replace(" ", "_"))
def test_garbage_fails_the_test_with_one_line(kind):
    worker = client.Worker(Scripted(GARBAGE[kind]))
    try:
        value = worker.call("made.made_degrees", 4, [5], what="made_degrees(4, [5])")
    except wire.WireError as exc:  # the transport's own check of the prefix
        message = str(exc)
    except pytest.fail.Exception as exc:
        message = str(exc)
    else:
        # Plain data that is not a verdict is just a (wrong) value for the test to judge.
        assert isinstance(value, (wire.Unsent, bool)), value
        return
    assert message and "\n" not in message.strip(), message


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=400))
def test_decoder_never_runs_code_or_crashes(data):
    """Arbitrary bytes either decode to plain data or raise WireError: nothing else."""
    try:
        value = wire.decode(b"PS1W" + struct.pack(">IQ", len(data), 0) + data)
    except wire.WireError:
        return
    assert isinstance(value, (type(None), bool, int, float, str, list, tuple, dict, torch.Tensor, wire.Ref,
                              wire.Unsent, wire.TensorInfo, torch.dtype, torch.device))


def test_round_trip_keeps_types():
    value = {"t": torch.arange(6, dtype=torch.int64).reshape(2, 3), "f": torch.tensor([1.5, float("nan")]),
             "b": torch.tensor([True, False]), "tuple": (1, 2.5, "x", None), "list": [[1], []],
             "dtype": torch.float64, "keys": {3: "int key", "s": 1}}
    back = wire.decode(wire.encode(value))
    assert back["t"].dtype == torch.int64 and torch.equal(back["t"], value["t"])
    assert torch.equal(back["b"], value["b"]) and back["f"].isnan()[1]
    assert back["tuple"] == value["tuple"] and back["list"] == [[1], []]
    assert back["dtype"] is torch.float64 and back["keys"] == {3: "int key", "s": 1}


def test_tensors_of_a_frame_may_not_share_bytes():
    """Each tensor's bytes are its own, so a frame decodes to at most its own size."""
    frame = wire.encode([torch.arange(6.0), torch.zeros(0), torch.zeros(0), torch.ones(2)])
    assert [t.tolist() for t in wire.decode(frame)] == [list(range(6)), [], [], [1.0, 1.0]]
    header_len, _ = wire.frame_sizes(frame[:wire.PREFIX_BYTES])
    header = json.loads(frame[wire.PREFIX_BYTES:wire.PREFIX_BYTES + header_len])
    blob = frame[wire.PREFIX_BYTES + header_len:]
    first = header[0]
    for aliases in ([first, first], [first, {"$tensor": {**first["$tensor"], "offset": 4, "shape": [2]}}]):
        with pytest.raises(wire.WireError, match="share bytes"):
            wire.decode_parts(json.dumps(aliases).encode(), blob)
