"""A memory cgroup per worker, where the machine offers a writable one.

RLIMIT_AS bounds what a worker maps, not what it makes the kernel hold for it: pipe buffers, page
cache, tmpfs pages of its scratch folder, socket buffers. A memory cgroup counts all of them, and
when a worker reaches its limit the kernel's OOM killer ends a process of that cgroup only, never
the session or the zygote. The zygote (root) makes one folder for the grading below its own
cgroup and, for each worker, a child that the worker joins before it drops its privileges; the
sweep removes the children once their processes are gone.

cgroup v1 (``/sys/fs/cgroup/memory``) and v2 (a unified hierarchy whose own cgroup delegates
``memory`` to children) are both handled; anywhere else (Docker's default read-only
``/sys/fs/cgroup``, not root) :func:`Workers.create` returns None and the log says so.
"""
import os

V1_ROOT = "/sys/fs/cgroup/memory"
V2_ROOT = "/sys/fs/cgroup"


def _own_path(version):
    """This process's cgroup path in the hierarchy of ``version``."""
    with open("/proc/self/cgroup") as groups:
        for line in groups:
            number, controllers, path = line.rstrip("\n").split(":", 2)
            if version == 1 and "memory" in controllers.split(","):
                return path
            if version == 2 and number == "0" and controllers == "":
                return path
    return None


def _write(path, value):
    with open(path, "w") as out:
        out.write(value)


def remove_stale(folder):
    """Remove the grading folders below ``folder`` whose zygote is gone (a grading killed before
    its zygote could clean up, e.g. by the OOM killer), with their emptied worker cgroups."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        pid = name[len("ps1-workers-"):]
        if not name.startswith("ps1-workers-") or not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        stale = Workers(os.path.join(folder, name), 0, 0)
        stale.close()


def remove_stale_gradings():
    """:func:`remove_stale` in this process's own memory cgroup (v1 and v2): the grading process
    calls it at the end, so a zygote killed mid-grading leaves no folder behind."""
    for version, root in ((1, V1_ROOT), (2, V2_ROOT)):
        try:
            own = _own_path(version)
        except OSError:
            continue
        if own is not None:
            remove_stale(os.path.join(root, own.lstrip("/")))


class Workers:
    """The grading's folder of worker cgroups."""

    def __init__(self, folder, version, limit_bytes):
        self.folder, self.version, self.limit_bytes = folder, version, limit_bytes
        self.count = 0

    @classmethod
    def create(cls, limit_mb):
        """The grading's cgroup folder, or None where none can be made (with why in ``refused``)."""
        if os.geteuid() != 0:
            cls.refused = "not root"
            return None
        tried = []
        for version, root, limit_file in ((1, V1_ROOT, "memory.limit_in_bytes"), (2, V2_ROOT, "memory.max")):
            try:
                own = _own_path(version)
                if own is None or not os.path.isdir(root):
                    continue
                base = os.path.join(root, own.lstrip("/"))
                if version == 2:
                    with open(os.path.join(base, "cgroup.subtree_control")) as control:
                        if "memory" not in control.read().split():
                            tried.append("cgroup v2 without memory delegated")
                            continue
                remove_stale(base)
                folder = os.path.join(base, f"ps1-workers-{os.getpid()}")
                os.mkdir(folder, 0o711)  # a worker may read its own cgroup's files (its limit, its use)
                if version == 2:
                    _write(os.path.join(folder, "cgroup.subtree_control"), "+memory")
                if not os.path.exists(os.path.join(folder, limit_file)) and version == 1:
                    os.rmdir(folder)
                    continue
                workers = cls(folder, version, limit_mb * 2**20)
                workers.home = base
                return workers
            except OSError as exc:
                tried.append(f"cgroup v{version}: {exc.strerror or exc}")
        cls.refused = "; ".join(tried) or "no memory cgroup hierarchy"
        return None

    refused = ""

    def _new_group(self):
        self.count += 1
        group = os.path.join(self.folder, f"worker-{self.count}")
        os.mkdir(group, 0o755)
        if self.version == 1:
            _write(os.path.join(group, "memory.limit_in_bytes"), str(self.limit_bytes))
            swap = os.path.join(group, "memory.memsw.limit_in_bytes")
            if os.path.exists(swap):
                _write(swap, str(self.limit_bytes))
        else:
            _write(os.path.join(group, "memory.max"), str(self.limit_bytes))
            if os.path.exists(os.path.join(group, "memory.swap.max")):
                _write(os.path.join(group, "memory.swap.max"), "0")
        return group

    def join(self, pid):
        """Called in a new worker (still root) that was not born in a cgroup of its own: make one,
        set the limit, move in."""
        _write(os.path.join(self._new_group(), "cgroup.procs"), str(pid))

    def ready_next(self):
        """Move the zygote (the caller) into a fresh worker cgroup, so that the next worker is born
        in it. A move into a v1 cgroup waits ~10 ms for an RCU grace period; the zygote does it while
        the previous test runs, not on the next worker's way to its first answer. (For the ~10 ms
        before the zygote moves on, the worker shares the group with it; the kernel's OOM killer
        would pick the worker, at oom_score_adj 1000.) Where it fails, workers join on their own."""
        try:
            group = self._new_group()
            _write(os.path.join(group, "cgroup.procs"), str(os.getpid()))
            self.next = group
        except OSError:
            self.next = None

    def take_next(self):
        """The cgroup the zygote sits in, for the worker it forks now (``None``: the worker joins one)."""
        group, self.next = self.next, None
        return group

    next = None

    def remove_empty(self):
        """Remove every worker cgroup whose processes are all gone (after a sweep)."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            if name.startswith("worker-"):
                try:
                    os.rmdir(os.path.join(self.folder, name))
                except OSError:
                    pass  # still holds a process (or a dying one's charge): the next sweep tries again

    def close(self):
        if self.next is not None:  # back where the zygote started, so that its folder can go
            try:
                _write(os.path.join(self.home, "cgroup.procs"), str(os.getpid()))
            except OSError:
                pass
            self.next = None
        self.remove_empty()
        try:
            os.rmdir(self.folder)
        except OSError:
            pass

    def describe(self):
        return (f"a memory cgroup (v{self.version}) per worker, {self.limit_bytes // 2**20} MB: pipes, page cache "
                "and scratch files count too")
