"""Back a long-lived parent's heap with transparent huge pages before it forks many children.

Every fork copies the parent's page tables and every exit tears the child's down, one entry
per 4 KB page: for a zygote holding torch (~220 MB of private memory) that was most of the
kernel time of a grading (49 workers, each forked and then killed). Collapsed into 2 MB pages
(``MADV_COLLAPSE``, Linux 6.1 and later), the same memory is 512 times fewer entries to copy
and to tear down; a child that writes to one still copies only the 4 KB it writes (the kernel
splits the huge mapping in that child alone).

Collapsing copies any 2 MB block that is shared with another process into a private huge
page, so it is done only in the warm service's zygote template (whose memory nothing else
shares by then but the session template's torch pages): once warm, and again after each
upload's release, when no zygote shares its blocks. Never in a zygote that ``grade`` starts for
one upload, whose memory budget counts every MB.
"""
import ctypes
import errno

MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
HUGE = 2 * 2**20
_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def _regions():
    """``(start, end)`` of this process's private, writable, anonymous mappings (the heap and
    the unnamed ones: Python's arenas, glibc's mapped chunks, torch's allocations)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            if fields[1] == "rw-p" and name in ("", "[heap]"):
                start, end = (int(v, 16) for v in fields[0].split("-"))
                yield start, end


def collapse():
    """Collapse every 2 MB-aligned block of this process's private anonymous memory into a
    huge page where the kernel can. Returns ``(MB collapsed, why not)``; ``why not`` is ``None``
    or the kernel's refusal (no transparent huge pages, a kernel before 6.1), which costs
    nothing but the speed-up (a few mappings are always refused: EINVAL)."""
    done, refusal = 0, None
    for start, end in list(_regions()):  # read first: collapsing changes the mappings
        lo, hi = -(-start // HUGE) * HUGE, end // HUGE * HUGE
        if hi <= lo:
            continue
        _libc.madvise(lo, hi - lo, MADV_HUGEPAGE)
        if _libc.madvise(lo, hi - lo, MADV_COLLAPSE) == 0:
            done += hi - lo
        else:  # EINVAL for this mapping (or no THP here), EAGAIN or ENOMEM: the rest may still work
            code = ctypes.get_errno()
            refusal = refusal or errno.errorcode.get(code, str(code))
    return done // 2**20, refusal
