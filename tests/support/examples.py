"""Where a test's examples come from: recorded ones on your machine, fresh ones on the grader.

A test asks its ``ex`` fixture for an example by name (``ex.get("kl_divergence")``: inputs and
expected outputs) and for random generators (``ex.generator("weights")``).

* Locally (``pytest tests/``, ``make check``): the examples recorded from the reference
  solution in ``tests/fixtures/examples.wire`` (``make fixtures``), and generators seeded from
  the test's number and the label, so that every run is the same.
* On the grader: inputs drawn fresh for each upload and expected values computed by the
  grader's own reference code, with the same test bodies and messages. The draws are seeded
  from a secret of the grader and the upload's contents: the same upload always gets the same
  examples, and passing the recorded ones is not enough to pass the grader's.
"""
import hashlib

import pytest
import torch

from tests.probes import wire

from .fixtures import PUBLIC

RECORDED = PUBLIC / "examples.wire"

# Set by the grading session (or the hidden suites' conftest): an object with ``fresh``,
# ``example(test, name)`` and ``generator(test, *labels)``. None: the recorded examples.
source = None


class Recorded:
    """The examples recorded from the reference solution (and fixed generators)."""

    fresh = False
    _examples = None

    def all(self):
        if Recorded._examples is None:
            Recorded._examples = wire.load_file(RECORDED)
        return Recorded._examples

    def example(self, test, name):
        self.all()
        if name not in Recorded._examples:
            raise LookupError(f"{RECORDED.name} holds no example named {name!r}: run `make fixtures`")
        return Recorded._examples[name]

    def seed(self, test, *labels):
        message = repr((str(test), *(str(label) for label in labels))).encode()
        return int.from_bytes(hashlib.sha256(message).digest()[:8], "big") >> 1

    def generator(self, test, *labels):
        return torch.Generator().manual_seed(self.seed(test, *labels))


class Examples:
    """One test's examples and generators (the ``ex`` fixture)."""

    def __init__(self, test, origin):
        self.test, self.origin = test, origin

    @property
    def fresh(self):
        """True on the grader: the examples were drawn for this upload."""
        return bool(self.origin.fresh)

    def get(self, name):
        return self.origin.example(self.test, name)

    def generator(self, *labels):
        """A ``torch.Generator`` for this test and ``labels`` (fresh for each upload on the grader)."""
        return self.origin.generator(self.test, *labels)

    def seed(self, *labels):
        """An integer seed (for generators and test models built in the worker)."""
        return int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator("seed", *labels)))


def test_id(item):
    """The test's number (``"3.4"``), or its node id for a test without one."""
    fn = getattr(item, "function", None)
    fn = getattr(fn, "__wrapped__", fn)
    return str(getattr(fn, "__number__", "") or item.nodeid)


@pytest.fixture
def ex(request):
    return Examples(test_id(request.node), source or Recorded())
