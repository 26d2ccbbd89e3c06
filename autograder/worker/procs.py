"""What /proc says about processes: parents, children, descendants, owners, memory; killing a
group; forking a child that never returns into its parent's code.

Stdlib only, so that both sides use it: the zygote (in the workers' runtime folder) and the
grading process, the staff runner and the benchmarks (as ``autograder.worker.procs``).
"""
import os
import signal
import sys


def fork_child(run):
    """Fork; the child runs ``run()`` and exits with its return value (0 for ``None``, a
    ``SystemExit``'s code, 70 if it raised anything else, its traceback on stderr): nothing may
    escape a forked child into the parent's code. Output buffered before the fork is flushed first
    (else both would write it), the child's before it exits. Return the child's pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = run() or 0
        except SystemExit as exc:  # argparse's errors: their message is already on stderr
            code = exc.code if isinstance(exc.code, int) else 70
        except BaseException:  # noqa: B902
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def _pids():
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def parents():
    """``{pid: parent pid}`` of every process visible in /proc."""
    found = {}
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # The command name (in parentheses) may hold spaces and ")": split after the last one.
                found[pid] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return found


def children_of(pid):
    return [child for child, parent in parents().items() if parent == pid]


def descendants(pid):
    """``pid`` and every process below it."""
    children = {}
    for child, parent in parents().items():
        children.setdefault(parent, []).append(child)
    found, stack = [], [pid]
    while stack:
        here = stack.pop()
        found.append(here)
        stack.extend(children.get(here, []))
    return found


def pss_kb(pid):
    """Proportional set size of ``pid`` in kB (shared pages split among their users: what a
    container's memory limit counts); 0 for a process that is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_kb(pid):
    """Summed PSS of ``pid`` and its descendants, in kB."""
    return sum(pss_kb(p) for p in descendants(pid))


def owned_by(uid):
    """Pids of the processes whose real user is ``uid``."""
    found = []
    for pid in _pids():
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                found.append(pid)
        except OSError:
            pass
    return found


def cpu_seconds(pids):
    """CPU time (user and system) of ``pids`` and of the children each has reaped, in seconds;
    processes that are gone count 0."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            ticks += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
