"""The zygote template's huge pages (autograder/worker/hugepages.py): memory collapsed into 2 MB
pages keeps its contents, and a child forked from it still copies only what it writes."""
import subprocess
import sys

import pytest

from autograder.selftests.conftest import ROOT

CHILD = r"""
import os, sys
sys.path.insert(0, {runtime!r})
from worker import hugepages

def huge_kb():
    with open("/proc/self/smaps_rollup") as rollup:
        return next(int(line.split()[1]) for line in rollup if line.startswith("AnonHugePages:"))

block = bytearray(os.urandom(1 << 20)) * 64       # 64 MB of private memory, faulted in 4 KB at a time
digest = hash(bytes(block))
before = huge_kb()
mb, refusal = hugepages.collapse()
after = huge_kb()
read, write = os.pipe()
pid = os.fork()
if pid == 0:                                       # a write in the child is the child's alone
    block[12345] ^= 0xFF
    os.write(write, bytes([block[12345]]))
    os._exit(0)
os.waitpid(pid, 0)
child_byte = os.read(read, 1)[0]
print(mb, refusal, before, after, hash(bytes(block)) == digest, child_byte != block[12345])
"""


def test_collapsed_memory_keeps_its_contents_and_copy_on_write():
    script = CHILD.format(runtime=str(ROOT / "autograder"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    mb, refusal, before, after, same, private = out.stdout.split()
    if int(mb) == 0:
        pytest.skip(f"this kernel collapses nothing (MADV_COLLAPSE: {refusal}): the service only loses the speed-up")
    assert int(mb) >= 60, f"only {mb} MB collapsed: a 64 MB block is there"
    assert int(after) - int(before) >= 60 * 1024, f"AnonHugePages grew by {int(after) - int(before)} kB only"
    assert same == "True", "collapsing changed the memory's contents"
    assert private == "True", "a child's write reached its parent's huge page"
