"""Confine a freshly forked worker: limits, the unprivileged user, and Landlock.

Runs in the worker right after ``fork``, before any student code. Only the standard library:
this file is copied next to the probe library into the worker's runtime folder.

* a new session (so the worker's whole process group can be killed), death with its parent;
* CPU, address-space (on top of what was inherited from the zygote), file-size and
  process-count limits, no core files;
* as root: IPC and network namespaces of its own (no System V or POSIX IPC object can be made,
  no network interface is up: no UDP, no abstract sockets shared with anyone), then drop to
  the sandbox user (no supplementary groups);
* Landlock, where the kernel offers it: reads only below the interpreter, its packages, the
  runtime, the staged upload and system folders; writes only in the worker's scratch folder;
  no TCP; no signals to, or abstract sockets of, processes outside the worker's own domain;
* the kernel's OOM killer picks a worker first (``oom_score_adj`` 1000);
* a seccomp filter (through libseccomp, where it is installed) refusing the system calls
  grading never needs and that reach past every limit above: the kernel keyrings (per uid,
  outside every namespace: a channel between tests and gradings), memory files (``memfd``:
  in no process's address space), ``userfaultfd``, ``bpf``, ``perf_event_open``, ``ptrace``
  and ``process_vm_*``, io_uring, new namespaces (``unshare``, ``setns``, ``clone`` with a
  namespace flag, ``clone3``), mounts, modules, ``kexec``, swap, reboot and the clocks.
"""
import ctypes
import os
import resource
import signal
import sys

from . import procs

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_RULE_PATH_BENEATH = 1
_CREATE_RULESET_VERSION = 1

# Filesystem rights by the Landlock ABI version that introduced them.
_FS_V1 = (1 << 13) - 1          # execute, write, read file/dir, remove, make_* (13 rights)
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
READ = EXECUTE | READ_FILE | READ_DIR
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/etc", "/proc", "/sys", "/bin", "/sbin", "/opt")

MAX_OPEN_FILES = 64  # with the file-size limit, also bounds what memfds can hold (64 × 16 MB)
CLONE_NEWIPC, CLONE_NEWNET = 0x08000000, 0x40000000
# In an IPC namespace of its own these limits are the worker's alone; zero: nothing can be made.
_NO_IPC = (("/proc/sys/kernel/shmmni", "0"), ("/proc/sys/kernel/shmall", "0"), ("/proc/sys/kernel/msgmni", "0"),
           ("/proc/sys/kernel/sem", "0 0 0 0"), ("/proc/sys/fs/mqueue/queues_max", "0"))

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# System calls a worker is refused (EPERM; clone3 gets ENOSYS, so that glibc falls back to
# clone, whose flags the filter can see). Names libseccomp does not know on this architecture
# are skipped.
DENIED_SYSCALLS = (
    "add_key", "keyctl", "request_key",
    "memfd_create", "memfd_secret", "userfaultfd", "bpf", "perf_event_open",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "unshare", "setns", "mount", "umount2", "mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "pivot_root", "chroot",
    "init_module", "finit_module", "delete_module", "create_module", "kexec_load", "kexec_file_load",
    "swapon", "swapoff", "reboot", "acct", "iopl", "ioperm", "quotactl", "quotactl_fd", "lookup_dcookie",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
)
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
                         0x00000080)  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_CMP_MASKED_EQ = 7
EPERM, ENOSYS = 1, 38


def _scmp_errno(code):
    return 0x00050000 | code


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _load_libseccomp():
    # Loaded when the zygote imports this module: a worker's Landlock rules come later.
    for name in ("libseccomp.so.2", "libseccomp.so"):
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_ArgCmp)]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        return lib
    return None


_seccomp = _load_libseccomp()


def syscall_number(name):
    """The native number of system call ``name``, or ``None`` (no libseccomp, or unknown here)."""
    if _seccomp is None:
        return None
    number = _seccomp.seccomp_syscall_resolve_name(name.encode())
    return number if number >= 0 else None


def prctl(option, value):
    try:
        return _libc.prctl(option, value, 0, 0, 0)
    except AttributeError:
        return -1


def landlock_abi():
    """The kernel's Landlock ABI version, or 0 where Landlock is missing or disabled."""
    try:
        version = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (AttributeError, OSError):
        return 0
    return max(0, int(version))


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


def _fs_rights(abi):
    rights = _FS_V1
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def landlock(read_paths, write_paths, device_paths=()):
    """Restrict this process (and what it starts) to ``read_paths`` / ``write_paths``.

    Returns a short description of what is enforced, or ``None`` if Landlock is unavailable.
    """
    abi = landlock_abi()
    if abi < 1:
        return None
    fs = _fs_rights(abi)
    attr = _RulesetAttr(fs, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)  # net: bind+connect; scope: sockets+signals
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return None
    try:
        for paths, rights in ((read_paths, READ), (write_paths, fs & ~(_FS_IOCTL_DEV)), (device_paths, fs)):
            for path in paths:
                _allow(ruleset, path, rights)
        if prctl(PR_SET_NO_NEW_PRIVS, 1) != 0 or _libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset),
                                                                  ctypes.c_uint32(0)) != 0:
            return None
    finally:
        os.close(ruleset)
    return f"landlock ABI {abi}" + (", no TCP" if abi >= 4 else "") + (", scoped signals" if abi >= 6 else "")


def _allow(ruleset, path, rights):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= EXECUTE | WRITE_FILE | READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV  # file rights only
        rule = _PathBeneath(rights, fd)
        _libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                      ctypes.c_uint32(0))
    finally:
        os.close(fd)


def interpreter_paths():
    """Folders the interpreter and its packages live in (not the project around a venv)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths |= {p for p in sys.path if p and os.path.isdir(p) and ("site-packages" in p or "dist-packages" in p
                                                                  or p.startswith(tuple(paths)))}
    return sorted(paths)


def _vm_size():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def limit(cpu_s, memory_mb, file_size_mb, max_processes, user):
    """Resource limits for this process; ``memory_mb`` comes on top of what it already maps."""
    os.setsid()
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    address_space = _vm_size() + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    size = file_size_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))  # no POSIX message queue, even without root
    files = min(MAX_OPEN_FILES, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
    # RLIMIT_NPROC counts every process of the real user: as root (then the sandbox user) only
    # the workers'; otherwise leave room for what the user already runs.
    nproc = max_processes + (0 if user is not None else len(procs.owned_by(os.getuid())))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def private_namespaces():
    """As root: move this process (and what it starts) into IPC and network namespaces of its
    own, and forbid IPC objects there. Shared memory segments, message queues and semaphores
    would otherwise outlive the worker and hold memory no limit counts; the namespaces and
    anything in them vanish with the worker's last process. Returns a description, or
    ``None`` where this is not possible (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        if _libc.unshare(CLONE_NEWIPC | CLONE_NEWNET) != 0:
            return None
    except AttributeError:
        return None
    described = "private network (no interface) and IPC (no objects allowed) namespaces"
    for path, value in _NO_IPC:
        try:
            with open(path, "w") as setting:
                setting.write(value)
        except OSError:
            described = "private network and IPC namespaces"
    return described


def oom_first():
    """Make this process the OOM killer's first choice (``oom_score_adj`` 1000): under any
    memory limit the kernel ends a worker (that test fails as having used too much memory), not
    the session or the zygote. Raising it needs no privilege. Where root holds CAP_SYS_RESOURCE
    the value written is also the floor the worker may return to; in a container without it
    (Docker's default, hence Gradescope's) student code could set it back to the zygote's 0,
    which leaves the worker an ordinary candidate sized by what it maps (bounded by its
    address-space limit; memfd, the one way past that limit, is refused by the filter)."""
    return set_oom_score_adj(1000)


def set_oom_score_adj(value):
    """Write this process's ``oom_score_adj`` (inherited by what it forks); False if refused."""
    try:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write(str(value))
        return True
    except OSError:
        return False


def seccomp_filter():
    """Refuse :data:`DENIED_SYSCALLS` and namespace-making ``clone`` for this process and what it
    starts. Returns a description, or ``None`` where libseccomp or seccomp is missing."""
    if _seccomp is None:
        return None
    ctx = _seccomp.seccomp_init(_SCMP_ACT_ALLOW)
    if not ctx:
        return None
    try:
        denied = 0
        for name in DENIED_SYSCALLS:
            number = syscall_number(name)
            if number is not None and _seccomp.seccomp_rule_add_array(ctx, _scmp_errno(EPERM), number, 0, None) == 0:
                denied += 1
        clone, clone3 = syscall_number("clone"), syscall_number("clone3")
        for flag in CLONE_NAMESPACE_FLAGS if clone is not None else ():
            rule = _ArgCmp(0, _SCMP_CMP_MASKED_EQ, flag, flag)
            if _seccomp.seccomp_rule_add_array(ctx, _scmp_errno(EPERM), clone, 1, ctypes.byref(rule)) != 0:
                return None
        if clone3 is not None and _seccomp.seccomp_rule_add_array(ctx, _scmp_errno(ENOSYS), clone3, 0, None) != 0:
            return None
        if _seccomp.seccomp_load(ctx) != 0:
            return None
    finally:
        _seccomp.seccomp_release(ctx)
    return f"seccomp: {denied} system calls refused (keyrings, memfd, bpf, ptrace, io_uring, namespaces, mounts, ...)"


def memfd_refused():
    """Whether the filter is in force here (``memfd_create`` fails with EPERM); ``None`` without libc's wrapper."""
    try:
        fd = _libc.memfd_create(b"ps1-probe", 0)
    except AttributeError:
        return None
    if fd >= 0:
        os.close(fd)
        return False
    return ctypes.get_errno() == EPERM


KEYCTL_CLEAR, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = 7, -4, -5


def clear_keyrings():
    """Empty this uid's user and user-session keyrings (they outlive its processes). Workers
    cannot add keys (the seccomp filter); this covers a machine without libseccomp's filter
    but with its resolver, and is a no-op without either."""
    number = syscall_number("keyctl")
    if number is None:
        return False
    ok = True
    for ring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
        ok = _libc.syscall(ctypes.c_long(number), ctypes.c_long(KEYCTL_CLEAR), ctypes.c_long(ring)) == 0 and ok
    return ok


def drop_privileges(user):
    if user is None:
        return
    uid, gid = user
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
