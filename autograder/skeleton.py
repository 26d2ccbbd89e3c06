"""Generate the student skeleton ``submission/`` from the reference solution.

In the solution, each block a student writes sits between ``# BEGIN SOLUTION: <hint>`` and
``# END SOLUTION``. The skeleton replaces each block by ``raise NotImplementedError(<hint>)``
at the block's indentation and keeps every other line (signatures, docstrings, the provided
``__init__`` s, helpers, ``data.py``, ``train.py``) byte for byte.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION_DIR = ROOT / "autograder" / "solution"
SKELETON_DIR = ROOT / "submission"

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?::\s*(?P<hint>.*))?$")
_END = re.compile(r"^[ \t]*# END SOLUTION\s*$")


class SkeletonError(ValueError):
    """A solution file whose solution markers do not pair up."""


def strip_solution(source, filename="<source>"):
    """Return ``source`` with every solution block replaced by ``raise NotImplementedError``."""
    out, block_start, hint, indent = [], None, None, ""
    for lineno, line in enumerate(source.splitlines(keepends=True), start=1):
        begin, end = _BEGIN.match(line.rstrip("\n")), _END.match(line.rstrip("\n"))
        if begin:
            if block_start is not None:
                raise SkeletonError(f"{filename}:{lineno}: BEGIN SOLUTION inside the block opened on line {block_start}")
            block_start, indent = lineno, begin["indent"]
            hint = (begin["hint"] or "implement this").strip()
        elif end:
            if block_start is None:
                raise SkeletonError(f"{filename}:{lineno}: END SOLUTION without BEGIN SOLUTION")
            out.append(f"{indent}raise NotImplementedError({('Hint: ' + hint)!r})\n")
            block_start = None
        elif block_start is None:
            out.append(line)
    if block_start is not None:
        raise SkeletonError(f"{filename}:{block_start}: BEGIN SOLUTION is never closed")
    return "".join(out)


def render():
    """``{relative path: skeleton text}`` for every ``.py`` file of the solution."""
    return {
        path.name: strip_solution(path.read_text(), str(path.relative_to(ROOT)))
        for path in sorted(SOLUTION_DIR.glob("*.py"))
    }


def differences(target=SKELETON_DIR):
    """Names of the files under ``target`` that differ from (or are missing in) a fresh render."""
    rendered = render()
    stale = [name for name, text in rendered.items()
             if not (target / name).is_file() or (target / name).read_text() != text]
    extra = [p.name for p in target.glob("*.py") if p.name not in rendered]
    return sorted(stale + extra)


def write(target=SKELETON_DIR):
    """Regenerate ``target`` from the solution; returns the names of the files written."""
    target.mkdir(parents=True, exist_ok=True)
    rendered = render()
    for stale in target.glob("*.py"):
        if stale.name not in rendered:
            stale.unlink()
    for name, text in rendered.items():
        (target / name).write_text(text)
    return sorted(rendered)
