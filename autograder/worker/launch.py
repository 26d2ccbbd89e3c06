"""The grading's first interpreter: imports torch and numpy once, then forks the zygote and the
session from that clean state.

Importing torch costs ~140 MB of private memory per process; forked from one parent that
imported it, the zygote and the session share those pages copy-on-write, which keeps the
whole grading under Gradescope's memory limit. Nothing of the tests, oracles, fixtures or the
solution is loaded here, so the zygote starts as clean as a fresh interpreter would; the
session then imports pytest and the suites in its own process only.

    python -I -B -c "...; from worker import launch; launch.main()" \
        --grader-root DIR --zygote ARGS... --session ARGS...

The warm service (:mod:`autograder.harness.service`) starts it the same way with ``--template``
in both argument lists: then the two children are the zygote and session *templates*, which fork
one zygote and one session per upload.
"""
import os
import socket
import sys

from . import procs


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    grader_root = argv[argv.index("--grader-root") + 1]
    z_at, s_at = argv.index("--zygote"), argv.index("--session")
    zygote_args, session_args = argv[z_at + 1:s_at], argv[s_at + 1:]

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # torch's CPU allocator backs tensors of 2 MB or more with transparent huge pages (where the
    # kernel offers them on request): the session's float64 oracle convolutions unfold their
    # inputs into fresh 10-50 MB blocks, faulting them in 4 KB at a time, 320,000 faults per
    # grading. With huge pages: 4.06 s of CPU per upload through the warm service, not 4.69; 8 MB
    # more at the peak of grade. Read once, at torch's first allocation: set before the import.
    os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # ask about CUDA without creating a context
    import gc

    import numpy  # noqa: F401
    import torch  # noqa: F401

    gc.freeze()  # collections in either child would otherwise touch, and so copy, these objects
    ours, theirs = socket.socketpair()

    def zygote_main():
        ours.close()
        # The session's report pipe is not the zygote's to hold (the grader reads it to its
        # end), nor the grading key's pipe, nor the warm service's channel.
        for option in ("--report-fd", "--key-fd", "--service-fd"):
            if option in session_args:
                os.close(int(session_args[session_args.index(option) + 1]))
        from . import zygote as zygote_module

        return zygote_module.main([*zygote_args, "--control-fd", str(theirs.detach())])

    zygote = procs.fork_child(zygote_main)
    theirs.close()

    def session_main():
        sys.path[:] = [grader_root] + [p for p in sys.path if p != os.path.dirname(os.path.dirname(__file__))]
        for name in [m for m in sys.modules if m == "worker" or m.startswith("worker.")]:
            del sys.modules[name]  # the session imports the project under its own names
        os.chdir(grader_root)
        from autograder.harness import session as session_module

        return session_module.main([*session_args, "--control-fd", str(ours.detach()), "--zygote-pid", str(zygote)])

    procs.fork_child(session_main)
    ours.close()
    # Leave at once: staying would keep a third copy of torch's pages alive. The grading process
    # (a subreaper) inherits both children; the session tells it the results, and the session
    # ends the zygote when it is done.
    return 0


if __name__ == "__main__":
    sys.exit(main())
