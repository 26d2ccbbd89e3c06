"""The students' trainer (`python -m submission.train`, provided, not graded), driven as a
subprocess the way a student drives it: what it writes, what it says, its exit status (2: a bad
argument, nothing done; 1: the run failed), and that it leaves no empty folder behind. Plus the
handout Makefile's choice of torch build. Every run is tiny (a few seconds, one thread)."""
import fcntl
import gzip
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time

import pytest
import torch

from autograder.selftests.conftest import ROOT
from autograder.solution import data, made, pixelcnn, sampling
from autograder.solution import train as trainer

SOLUTION = "autograder.solution.train"
HANDOUT_MAKEFILE = ROOT / "autograder" / "handout" / "Makefile"
TINY = {"made": ["made", "--hidden", "16"],
        "pixelcnn": ["pixelcnn", "--channels", "4", "--layers", "1", "--kernel", "3"]}
SMALL_RUN = ["--num-train", "64", "--num-test", "32", "--batch-size", "32", "--num-samples", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def mpl_cache(tmp_path_factory):
    """One matplotlib font cache for every run (building it takes seconds)."""
    return tmp_path_factory.mktemp("mplconfig")


def _env(cwd, mpl_cache, extra=None):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd), "OMP_NUM_THREADS": "1",
           "MPLCONFIGDIR": str(mpl_cache)}
    return {**env, **(extra or {})}


def run_cli(*args, cwd, mpl_cache, module=SOLUTION, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=_env(cwd, mpl_cache, env))


def run_on_terminal(*args, cwd, mpl_cache, timeout=300):
    """Run the trainer with stdout on a pseudo-terminal (100 columns); return (status, output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", SOLUTION, *map(str, args)], cwd=cwd, stdout=slave,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env(cwd, mpl_cache))
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        proc.kill() if proc.poll() is None else None
    return proc.wait(), b"".join(chunks).decode(errors="replace")


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, f"expected one line on stderr, got:\n{stderr}"
    return lines[0]


def is_png(path):
    return path.is_file() and path.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- a run, resumed


def test_made_run_writes_everything_and_resumes_exactly(tmp_path, mpl_cache):
    """1 epoch, then --resume --epochs 2, equals 2 epochs in one go: same data order, same
    learning rates (the cosine of the new length, never 0), same numbers; metrics.json goes on."""
    pieces, straight = tmp_path / "pieces", tmp_path / "straight"
    common = [*SMALL_RUN, "--seed", "3"]
    proc = run_cli(*TINY["made"], *common, "--epochs", "1", "--out", pieces, cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"wrote checkpoint.pt, metrics.json, curves.png, made.safetensors, samples.png in {pieces}" in proc.stdout
    assert "samples.png: 2 samples of made after epoch 1, test " in proc.stdout  # the grid's label
    assert "\r" not in proc.stdout and "%|" not in proc.stdout, "no progress bars when stdout is not a terminal"
    assert "sampling 2 images: 784 network passes" in proc.stdout
    assert is_png(pieces / "samples.png") and is_png(pieces / "curves.png") and (pieces / "checkpoint.pt").is_file()

    from PIL import Image

    with Image.open(pieces / "samples.png") as picture:  # 2 samples side by side, each pixel 4 x 4
        assert picture.width >= 4 * 2 * 28 and picture.height >= 4 * 28, picture.size

    # Only the model and the new length: a resumed run takes the model's shape and every recorded
    # setting (data sizes, batch size, seed, samples) from the run it continues, and says so.
    proc = run_cli("made", "--threads", "1", "--epochs", "2", "--resume", "--out", pieces, cwd=tmp_path,
                   mpl_cache=mpl_cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (f"resumed {pieces / 'checkpoint.pt'} after epoch 1 (with the run's --num-train 64 --num-test 32 "
            "--batch-size 32 --seed 3 --num-samples 2)") in proc.stdout, proc.stdout
    assert "64 train / 32 test images" in proc.stdout and "samples.png: 2 samples" in proc.stdout, proc.stdout
    proc = run_cli(*TINY["made"], *common, "--epochs", "2", "--out", straight, cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 0, proc.stderr[-2000:]

    a, b = (json.loads((d / "metrics.json").read_text())["epochs"] for d in (straight, pieces))
    assert [e["epoch"] for e in b] == [1, 2] and b[1]["seconds"] >= b[0]["seconds"]
    assert [e["lr"] for e in a] == pytest.approx([1e-3, 1e-3 * trainer.cosine(1, 2)])
    for key in ("lr", "train_nll", "test_nll", "test_bits_per_dim"):
        assert [e[key] for e in b] == pytest.approx([e[key] for e in a], rel=1e-6, abs=1e-9), key


def test_pixelcnn_progress_on_a_terminal_then_resumed_off_it(tmp_path, mpl_cache):
    out = tmp_path / "run"
    status, output = run_on_terminal(*TINY["pixelcnn"], *SMALL_RUN, "--epochs", "1", "--out", out,
                                     cwd=tmp_path, mpl_cache=mpl_cache)
    assert status == 0, output[-2000:]
    # Training and test bars: images/s and the running bits/dim; sampling: pixels done [elapsed<left].
    assert "epoch 1/1 train" in output and "img/s" in output and "bits/dim" in output
    assert "epoch 1/1 test" in output
    assert "sampling 2 images" in output and "pixel/s" in output and "/784 [" in output
    assert is_png(out / "samples.png") and is_png(out / "curves.png")

    proc = run_cli("pixelcnn", *SMALL_RUN, "--epochs", "3", "--resume", "--out", out, cwd=tmp_path,
                   mpl_cache=mpl_cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "%|" not in proc.stdout and "\r" not in proc.stdout
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert epochs[2]["lr"] == pytest.approx(1e-3 * trainer.cosine(2, 3)) and epochs[2]["lr"] > 0


def test_cosine_rule():
    assert trainer.cosine(0, 10) == 1.0
    assert 0 < trainer.cosine(9, 10) < 0.03  # the last epoch still learns
    assert trainer.cosine(5, 20) == pytest.approx(trainer.cosine(10, 40))


# ---------------------------------------------------------------- --epochs 0, --resume(-if-present)


def test_epochs_0_evaluates_and_samples_only(tmp_path, mpl_cache):
    out = tmp_path / "eval"
    proc = run_cli(*TINY["made"], *SMALL_RUN, "--epochs", "0", "--resume-if-present", "--out", out,
                   cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "starting afresh" in proc.stdout
    assert "--epochs 0: no training; evaluating and sampling the untrained model" in proc.stdout
    assert f"wrote made.safetensors, samples.png in {out}" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["made.safetensors", "samples.png"], "it claims only what it wrote"


def test_resume_without_a_checkpoint_is_an_error(tmp_path, mpl_cache):
    out = tmp_path / "runs" / "none"
    proc = run_cli(*TINY["made"], "--resume", "--out", out, cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert "no checkpoint" in line and str(out / "checkpoint.pt") in line and "--resume-if-present" in line
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- bad arguments: 2, one line, nothing done


@pytest.mark.parametrize("args, words", [
    (["--num-train", "0"], ["--num-train", ">= 1", "got 0"]),
    (["--num-samples", "0"], ["--num-samples", ">= 1"]),
    (["--hidden", "12,x"], ["--hidden", "item 2", "'x'", "positive integer"]),
    (["--epochs", "abc"], ["--epochs", "'abc'", "integer"]),
])
def test_bad_arguments_stop_before_any_work(args, words, tmp_path, mpl_cache):
    out = tmp_path / "runs" / "x"
    proc = run_cli("made", *args, "--out", out, cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert all(w in line for w in words), line
    assert proc.stdout == "", "nothing may run before the arguments are checked"
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_unavailable_device_is_one_line(tmp_path, mpl_cache):
    proc = run_cli("made", "--device", "cuda", "--out", tmp_path / "r", cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--device cuda: CUDA is not available" in one_line(proc.stderr)
    assert not (tmp_path / "r").exists()


def _usage_error(argv, capsys):
    """In-process: (exit status, the one line on stderr) of main(argv)."""
    try:
        status = trainer.main(argv)
    except SystemExit as exc:
        status = exc.code
    return status, one_line(capsys.readouterr().err)


def _fake_run(folder, **args):
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"not read")
    (folder / "metrics.json").write_text(json.dumps({"args": args, "epochs": []}))
    return folder


@pytest.mark.parametrize("argv, words", [
    (["made", "--num-test", "0"], ["--num-test", ">= 1"]),
    (["made", "--batch-size", "0"], ["--batch-size", ">= 1"]),
    (["made", "--epochs", "-1"], ["--epochs", ">= 0"]),
    (["made", "--hidden", ""], ["--hidden", "at least one"]),
    (["made", "--hidden", "64,0"], ["--hidden", "item 2", "'0'"]),
    (["pixelcnn", "--kernel", "4"], ["--kernel", "odd"]),
    (["pixelcnn", "--kernel", "0"], ["--kernel", ">= 1"]),
    (["pixelcnn", "--channels", "0"], ["--channels", ">= 1"]),
    (["pixelcnn", "--layers", "-1"], ["--layers", ">= 0"]),
    (["made", "--threads", "0"], ["--threads", ">= 1"]),
    (["made", "--lr", "0"], ["--lr", "positive"]),
    (["made", "--lr", "nan"], ["--lr", "positive"]),
    (["made", "--seed", "-1"], ["--seed", ">= 0"]),
    (["made", "--kernel", "3"], ["--kernel", "pixelcnn only"]),
    (["pixelcnn", "--hidden", "8"], ["--hidden", "made only"]),
    (["made", "--download"], ["--download", "--dataset mnist"]),
    (["made", "--data-dir", "x"], ["--data-dir", "--dataset mnist"]),
    (["made", "--resume", "--resume-if-present"], ["not allowed"]),
    (["made", "--device", "tpu"], ["--device", "invalid choice"]),
    (["gan"], ["invalid choice", "'gan'"]),
])
def test_every_argument_is_checked(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, line = _usage_error(argv, capsys)
    assert status == 2 and all(w in line for w in words), line
    assert not (tmp_path / "runs").exists()


def test_resume_checks_the_run_it_continues(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = _fake_run(tmp_path / "old", model="made", hidden=[32])
    status, line = _usage_error(["made", "--resume", "--hidden", "64", "--out", str(old)], capsys)
    assert status == 2 and "--hidden 64 differs" in line and "--hidden 32" in line
    status, line = _usage_error(["pixelcnn", "--resume", "--out", str(old)], capsys)
    assert status == 2 and "trained made, not pixelcnn" in line
    (tmp_path / "file").write_text("")
    status, line = _usage_error(["made", "--out", "file"], capsys)
    assert status == 2 and "is a file" in line


def test_a_damaged_checkpoint_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_text("not a checkpoint")
    status = trainer.main(["made", "--resume", "--epochs", "0", "--num-train", "8", "--num-test", "8",
                           "--out", str(run)])
    assert status == 1
    line = one_line(capsys.readouterr().err)
    assert line == f"error: cannot resume from {run / 'checkpoint.pt'}: the file is damaged or not a checkpoint " \
                   "(UnpicklingError)"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt"]


def test_mps_is_accepted_where_available(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if torch.backends.mps.is_available():
        assert trainer.pick_device("mps")[0].type == "mps"
        return
    status, line = _usage_error(["made", "--device", "mps", "--out", "r"], capsys)
    assert status == 2 and "--device mps" in line and "not available" in line
    assert not (tmp_path / "r").exists()


def test_auto_device_says_what_it_picked():
    device, why = trainer.pick_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert device.type == expected and why.startswith("auto")


# ---------------------------------------------------------------- run-time failures: 1, one line, no folders


def test_missing_mnist_is_one_line_and_leaves_no_folder(tmp_path, mpl_cache):
    out = tmp_path / "a" / "b" / "c"
    proc = run_cli("made", "--dataset", "mnist", "--data-dir", tmp_path / "nodata", "--out", out,
                   cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert "t10k-images-idx3-ubyte" in line and "--download" in line and str(tmp_path / "nodata") in line
    assert not (tmp_path / "a").exists(), "a failed run leaves no empty folder"


def test_download_without_network_is_one_line(tmp_path, mpl_cache):
    # A proxy on a closed port: every download fails at once, network or not.
    offline = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    data_dir = tmp_path / "fresh" / "data"
    proc = run_cli("made", "--dataset", "mnist", "--download", "--data-dir", data_dir, "--out", tmp_path / "r",
                   cwd=tmp_path, mpl_cache=mpl_cache, env=offline)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith("error: could not download MNIST") and f"in {data_dir}/" in line
    assert all(name in line for names in data.MNIST_FILES.values() for name in names), line
    assert not (tmp_path / "fresh").exists() and not (tmp_path / "r").exists()


def _idx(header, sizes, body):
    return bytes(header) + b"".join(s.to_bytes(4, "big") for s in sizes) + bytes(body)


def _write_mnist(folder, images=None, labels=None, count=10, gz=False):
    """A tiny, well-formed MNIST test split (``count`` digits), with either file replaceable."""
    folder.mkdir(parents=True, exist_ok=True)
    images = images if images is not None else _idx([0, 0, 8, 3], [count, 28, 28], [200] * (count * 784))
    labels = labels if labels is not None else _idx([0, 0, 8, 1], [count], [7] * count)
    for stem, content in zip(data.MNIST_FILES["test"], (images, labels)):
        path = folder / (stem + ".gz" if gz else stem)
        path.write_bytes(gzip.compress(content) if gz else content)
    return folder


@pytest.mark.parametrize("images, words", [
    (_idx([0, 0, 8, 3], [10, 28, 28], [0] * 5000), ["truncated", "10×28×28", "download it again"]),
    (_idx([0, 0, 8, 3], [10, 28, 28], [0] * 9000), ["too long"]),
    (_idx([0, 0, 8, 1], [10], [0] * 10), ["not an MNIST IDX file with 3 dimension", "00 00 08 01"]),
    (b"", ["not an MNIST IDX file", "an empty file"]),
    (_idx([0, 0, 8, 3], [10, 32, 32], [0] * 10240), ["32×32, not 28×28"]),
])
def test_damaged_idx_file_is_a_clear_error_naming_it(images, words, tmp_path):
    folder = _write_mnist(tmp_path / "mnist", images=images)
    with pytest.raises(ValueError) as info:
        data.load_datasets("mnist", folder)
    message = str(info.value)
    assert str(folder / "t10k-images-idx3-ubyte") in message and all(w in message for w in words), message


def test_mismatched_labels_and_cut_gzip_are_named(tmp_path):
    folder = _write_mnist(tmp_path / "m1", labels=_idx([0, 0, 8, 1], [9], [1] * 9))
    with pytest.raises(ValueError, match="holds 9 labels but .* holds 10 images"):
        data.load_datasets("mnist", folder)
    folder = _write_mnist(tmp_path / "m2", gz=True)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: not a complete gzip file"):
        data.load_datasets("mnist", folder)


def test_small_idx_files_load_and_split_80_20(tmp_path):
    train, test = data.load_datasets("mnist", _write_mnist(tmp_path / "ok", count=10, gz=True))
    assert train.shape == (8, 1, 28, 28) and test.shape == (2, 1, 28, 28)
    assert train.unique().tolist() == [1.0]  # 200/255 > 0.5


def test_truncated_idx_file_through_the_cli(tmp_path, mpl_cache):
    folder = _write_mnist(tmp_path / "mnist", images=_idx([0, 0, 8, 3], [10, 28, 28], [0] * 100))
    proc = run_cli("made", "--dataset", "mnist", "--data-dir", folder, "--out", tmp_path / "r", cwd=tmp_path,
                   mpl_cache=mpl_cache)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith(f"error: {folder / 't10k-images-idx3-ubyte'}: truncated"), line
    assert not (tmp_path / "r").exists()


def test_on_the_skeleton_the_first_stub_is_named_in_one_line(tmp_path, mpl_cache):
    proc = run_cli("made", "--num-train", "8", "--num-test", "8", "--epochs", "1", "--out", tmp_path / "run",
                   cwd=tmp_path, mpl_cache=mpl_cache, module="submission.train")
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith("Not implemented yet: submission/made.py: made_masks()"), line
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- quiet, help


def test_quiet_prints_only_the_summary(tmp_path, mpl_cache):
    status, output = run_on_terminal(*TINY["made"], *SMALL_RUN, "--epochs", "0", "--quiet", "--out",
                                     tmp_path / "r", cwd=tmp_path, mpl_cache=mpl_cache)
    assert status == 0, output[-2000:]
    assert "%|" not in output and "\r" not in output.replace("\r\n", "\n"), output
    lines = output.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("samples.png: 2 samples of made untrained"), lines
    assert lines[1].strip() == f"wrote made.safetensors, samples.png in {tmp_path / 'r'}"


def test_help_explains_every_option_with_its_default(tmp_path, mpl_cache):
    parser = trainer.build_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help and len(action.help) > 20, f"{action.dest} has no real help"
        if action.option_strings:
            assert "default:" in action.help, f"{action.option_strings[0]}: say its default"
    proc = run_cli("--help", cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 0
    for words in ("exit status", "learning-rate schedule", "--resume-if-present", "--quiet", "mps", "pixels"):
        assert words in proc.stdout, words


# ---------------------------------------------------------------- the sampling progress wrapper


class Counter:
    def __init__(self):
        self.n = 0

    def update(self, n=1):
        self.n += n


@pytest.mark.parametrize("training", [True, False])
def test_sampling_progress_counts_passes_and_changes_nothing(training):
    torch.manual_seed(0)
    model = made.MADE(6, [10], order=[3, 1, 0, 5, 2, 4]).train(training)
    bar = Counter()
    wrapped = trainer.SamplingProgress(model, bar)
    assert wrapped.input_dim == 6 and torch.equal(wrapped.order, model.order)
    got = sampling.sample_made(wrapped, 5, torch.Generator().manual_seed(1))
    want = sampling.sample_made(model, 5, torch.Generator().manual_seed(1))
    assert torch.equal(got, want) and bar.n == 6 and model.training == training

    net, bar = pixelcnn.PixelCNN(1, 4, 1, 3).train(training), Counter()
    got = sampling.sample_pixelcnn(trainer.SamplingProgress(net, bar), 2, (1, 3, 4), torch.Generator().manual_seed(2))
    want = sampling.sample_pixelcnn(net, 2, (1, 3, 4), torch.Generator().manual_seed(2))
    assert torch.equal(got, want) and bar.n == 12 and net.training == training


# ---------------------------------------------------------------- the handout Makefile


@pytest.fixture()
def handout(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(HANDOUT_MAKEFILE, tmp_path / "Makefile")
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    return tmp_path


def make(folder, *args, path="/usr/bin:/bin"):
    return subprocess.run(["make", *args], cwd=folder, capture_output=True, text=True, timeout=60,
                          env={"PATH": path, "HOME": str(folder)})


def _pins():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return " ".join(line for line in lines if line.startswith(("torch==", "torchvision==")))


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS always gets the standard wheel")
def test_make_installs_the_torch_build_that_fits(handout):
    cpu = make(handout, "-n", "venv", "TORCH=cpu").stdout
    assert f"--index-url https://download.pytorch.org/whl/cpu {_pins()}" in cpu
    assert "-r requirements.txt" in cpu and "echo cpu >" in cpu
    cuda = make(handout, "-n", "venv", "TORCH=cuda").stdout
    assert "--index-url" not in cuda and "-r requirements.txt" in cuda and "echo cuda >" in cuda
    assert "echo cpu >" in make(handout, "-n", "venv").stdout, "auto, no nvidia-smi: the CPU build"
    fake = handout / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: A fake GPU'\n")
    (fake / "nvidia-smi").chmod(0o755)
    assert "echo cuda >" in make(handout, "-n", "venv", path=f"{fake}:/usr/bin:/bin").stdout


def test_make_rejects_an_unknown_build_and_a_switch_in_place(handout):
    choices = "TORCH=gpu is not a choice: use TORCH=cpu, TORCH=cuda or TORCH=auto"
    proc = make(handout, "venv", "TORCH=gpu")
    assert proc.returncode != 0 and choices in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert not (handout / ".venv").exists()
    venv = handout / ".venv"
    venv.mkdir()
    (venv / ".installed").write_text("cpu\n")  # newer than requirements.txt: up to date
    proc = make(handout, "check", "TORCH=gpu")  # a typo with a working venv: never "remove it"
    assert proc.returncode != 0 and choices in proc.stdout + proc.stderr and "rm -rf" not in proc.stdout + proc.stderr
    proc = make(handout, "venv", "TORCH=cuda")
    assert proc.returncode != 0 and "has the cpu build of torch, not cuda" in proc.stdout
    assert "rm -rf .venv" in proc.stdout


@pytest.mark.parametrize("target", ["train-made", "train-pixelcnn"])
def test_make_train_targets_pass_valid_arguments(target, handout, tmp_path, monkeypatch):
    venv = handout / ".venv"
    venv.mkdir()
    (venv / ".installed").write_text("cpu\n")
    commands = make(handout, "-n", target).stdout.splitlines()
    command = next(c for c in commands if "-m submission.train" in c)
    monkeypatch.chdir(tmp_path)
    args = trainer.parse_args(command.split("-m submission.train", 1)[1].split())
    assert args.out == f"runs/{args.model}-shapes"


@pytest.mark.parametrize("epochs", [1, 2, 7])
def test_the_curve_is_drawn_on_whole_epochs(epochs, monkeypatch, mpl_cache):
    """A one-epoch run's curve has one tick, 1 (matplotlib's integer locator falls back to
    0.5, 0.6, ..., 1.5 when it finds fewer than two whole numbers)."""
    monkeypatch.setenv("MPLCONFIGDIR", str(mpl_cache))
    history = [{"epoch": e, "train_bits_per_dim": 0.3, "test_bits_per_dim": 0.2} for e in range(1, epochs + 1)]
    fig = trainer.curves_figure(history, "made")
    fig.canvas.draw()
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks), f"x ticks {ticks} for {epochs} epoch(s)"


def test_the_exported_weights_are_the_checkpoints(tmp_path, mpl_cache):
    """made.safetensors holds the checkpoint's parameters (float32, no masks) and the model's
    hyperparameters; the grader's reader accepts it (but for the dataset: these are shapes)."""
    from safetensors import safe_open

    from autograder import trained

    out = tmp_path / "r"
    proc = run_cli(*TINY["made"], *SMALL_RUN, "--epochs", "1", "--out", out, cwd=tmp_path, mpl_cache=mpl_cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    state = next(v for v in checkpoint.values() if isinstance(v, dict) and "net.0.weight" in v)
    with safe_open(str(out / "made.safetensors"), "pt") as f:
        meta, exported = f.metadata(), {name: f.get_tensor(name) for name in f.keys()}
    assert set(exported) == {name for name in state if not name.endswith("mask")}
    assert all(torch.equal(exported[name], state[name].float()) for name in exported)
    assert meta["model"] == "made" and json.loads(meta["hidden_sizes"]) == [16] and meta["dataset"] == "shapes"
    model = trained.read((out / "made.safetensors").read_bytes(), "made")
    assert model.dataset == "shapes" and model.config["hidden_sizes"] == [16]
