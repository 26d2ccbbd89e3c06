"""How a process ended, in words: one wording for every place that reports a death (a worker, the
zygote, the grading session)."""
import os
import signal


def signal_name(number):
    """'SIGKILL', 'SIGRTMIN+5', or 'signal 99': never raises for an unknown number."""
    try:
        return signal.Signals(number).name
    except ValueError:
        low, high = getattr(signal, "SIGRTMIN", 34), getattr(signal, "SIGRTMAX", 64)
        return f"SIGRTMIN+{number - low}" if low <= number <= high else f"signal {number}"


def ending(status):
    """``waitpid``'s ``status`` as "was killed by SIGKILL (most likely ...)" or "exited with status 3"."""
    if os.WIFSIGNALED(status):
        name = signal_name(os.WTERMSIG(status))
        return f"was killed by {name}" + (" (most likely the machine ran out of memory)" if name == "SIGKILL" else "")
    return f"exited with status {os.WEXITSTATUS(status)}"
