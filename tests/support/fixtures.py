"""Recorded reference values, generated from the reference solution by ``make fixtures``.

``tests/fixtures/examples.wire`` is a :mod:`tests.probes.wire` file (JSON and raw tensor
bytes: loading it runs no code) holding the inputs and the reference solution's outputs of
every example the public tests use locally (:mod:`tests.support.examples`).
"""
from pathlib import Path

from tests.probes import wire

PUBLIC = Path(__file__).resolve().parent.parent / "fixtures"


def load(path):
    return wire.load_file(Path(path))
