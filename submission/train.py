"""Train MADE or PixelCNN on binary 28×28 images; report test NLL; save checkpoints, curves and samples.

    python -m submission.train made --dataset shapes --epochs 10
    python -m submission.train pixelcnn --dataset mnist --download
    python -m submission.train made --resume --epochs 20      # 10 more epochs of the run above

Writes into --out (default runs/<model>-<dataset>), after every epoch: checkpoint.pt (for
--resume), metrics.json (per-epoch train/test NLL in nats and bits/dim, learning rate, seconds)
and curves.png (train and test bits/dim per epoch); at the end: <model>.safetensors (the trained
weights, to upload with the graded files: the grader measures them on held-out MNIST digits)
and samples.png (a grid of samples).
Provided, not graded.
"""
import argparse
import json
import math
import os
import pickle
import shutil
import sys
import time
import traceback
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from .data import IMAGE_SHAPE, load_datasets
from .likelihood import bernoulli_nll, bits_per_dim
from .made import MADE
from .pixelcnn import PixelCNN
from .sampling import sample_made, sample_pixelcnn
from .training import evaluate, load_checkpoint, save_checkpoint, train_epoch

NUM_DIMS = math.prod(IMAGE_SHAPE)
# Model-shape options: their defaults, and the model they apply to. They default to None on the
# command line so that we can tell "given" from "left out" (a resumed run takes what it left out
# from the run it continues; giving one to the wrong model is an error, not silently ignored).
MODEL_OPTIONS = {"hidden": ("made", (512,)), "channels": ("pixelcnn", 64), "layers": ("pixelcnn", 5),
                 "kernel": ("pixelcnn", 7)}
# Run settings a resumed run takes from the run it continues unless given again (then it says so),
# with their defaults for a fresh run.
RESUMED_OPTIONS = {"num_train": None, "num_test": None, "batch_size": 128, "seed": 0, "num_samples": 64}
EVAL_BATCH = 512
EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

EPILOG = """\
learning-rate schedule: the learning rate of epoch e (counting from 0) of a run of E = --epochs
epochs is lr * (1 + cos(pi * e / E)) / 2: it starts at --lr and never reaches 0. A run resumed
with a larger --epochs follows the schedule it would have had, had it been started with that
--epochs: the learning rate rises again to that curve and decays over the new length.

exit status: 0 done; 1 the run failed (data missing or damaged, no network for --download, a
checkpoint that does not fit, a function not implemented yet, an error in your code); 2 a bad
argument (nothing was done); 130 interrupted (Ctrl-C; the last finished epoch is in checkpoint.pt).
No empty output folder is left behind.

progress bars (training and test images per second and the running bits/dim; sampling with
pixels done and time left) are shown only when stdout is a terminal; --quiet turns them off.
"""


class UsageError(Exception):
    """A bad argument or combination of arguments: exit status 2, before any work is done."""


class RunError(Exception):
    """An expected run-time failure (data, network, checkpoint) that one line explains: exit 1."""


# ---------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line instead of argparse's usage dump; the same exit status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _integer(minimum):
    """An argparse type: an integer >= ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def _odd(text):
    value = _integer(1)(text)
    if value % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be odd (the mask needs a centre pixel), got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _sizes(text):
    """'512,256' -> (512, 256); the message names the item that is not a positive integer."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise argparse.ArgumentTypeError("give at least one hidden layer width, e.g. 512 or 512,512")
    sizes = []
    for position, item in enumerate(items, start=1):
        if not item.isdigit() or int(item) < 1:
            raise argparse.ArgumentTypeError(
                f"item {position} of {text!r}, {item!r}, is not a positive integer (widths are comma-separated)")
        sizes.append(int(item))
    return tuple(sizes)


def build_parser():
    p = _Parser(prog="python -m submission.train", description=__doc__.split("\n")[0],
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=["made", "pixelcnn"],
                   help="made: masked autoencoder (MADE); pixelcnn: masked convolutions (PixelCNN)")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=["shapes", "mnist"], default="shapes",
                      help="shapes: built-in procedural images, offline, made in seconds; mnist: binarized "
                           "digits from --data-dir (default: %(default)s)")
    data.add_argument("--data-dir", default=None, metavar="DIR",
                      help="mnist only: folder with MNIST's IDX files (train-images-idx3-ubyte, "
                           "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz is "
                           "fine), or where --download puts them (default: data)")
    data.add_argument("--download", action="store_true",
                      help="mnist only: fetch MNIST (about 11 MB) with torchvision if its files are not in "
                           "--data-dir (default: off)")
    data.add_argument("--num-train", type=_integer(1), default=None, metavar="N",
                      help="train on the first N images only (default: all: 20000 shapes; 60000 MNIST digits, "
                           "or 8000 when only MNIST's 10k test files are there; with --resume: the resumed run's)")
    data.add_argument("--num-test", type=_integer(1), default=None, metavar="N",
                      help="evaluate on the first N test images only (default: all: 4000 shapes; 10000 MNIST "
                           "digits, or 2000; with --resume: the resumed run's)")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=_integer(0), default=10, metavar="N",
                       help="passes over the training images in all (with --resume: including those done); "
                            "0: no training, evaluate and sample only (default: %(default)s)")
    train.add_argument("--batch-size", type=_integer(1), default=None, metavar="N",
                       help="training images per optimizer step (default: 128; with --resume: the resumed run's)")
    train.add_argument("--lr", type=_positive_float, default=None, metavar="LR",
                       help="peak learning rate of Adam, decayed by a cosine over --epochs, see below "
                            "(default: 0.001; with --resume: the resumed run's)")
    train.add_argument("--seed", type=_integer(0), default=None, metavar="S",
                       help="seed of the initial weights, the order of the training images, the shapes "
                            "dataset and the samples (default: 0; with --resume: the resumed run's)")
    model = p.add_argument_group("model shape (with --resume: taken from the resumed run unless given)")
    model.add_argument("--hidden", type=_sizes, default=None, metavar="W[,W...]",
                       help="made only: widths of the hidden layers in units, comma-separated (default: 512)")
    model.add_argument("--channels", type=_integer(1), default=None, metavar="N",
                       help="pixelcnn only: feature maps of each hidden layer (default: 64)")
    model.add_argument("--layers", type=_integer(0), default=None, metavar="N",
                       help="pixelcnn only: masked type-B layers of size --kernel after the first "
                            "(default: 5)")
    model.add_argument("--kernel", type=_odd, default=None, metavar="K",
                       help="pixelcnn only: kernel size in pixels, odd (default: 7)")
    run = p.add_argument_group("run")
    run.add_argument("--num-samples", type=_integer(1), default=None, metavar="N",
                     help="images drawn for samples.png at the end; sampling takes 784 network passes "
                          "(one per pixel) whatever N (default: 64; with --resume: the resumed run's)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                     help="auto: a CUDA GPU, else Apple's MPS, else the CPU; the others: that one or an "
                          "error (default: %(default)s)")
    run.add_argument("--threads", type=_integer(1), default=None, metavar="N",
                     help="CPU threads torch may use (default: torch's choice, about one per core)")
    run.add_argument("--out", default=None, metavar="DIR",
                     help="folder for checkpoint.pt, metrics.json, curves.png and samples.png "
                          "(default: runs/<model>-<dataset>)")
    resume = run.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoint.pt (an error if there is none); "
                             "its metrics.json goes on (default: off: start afresh)")
    resume.add_argument("--resume-if-present", action="store_true",
                        help="like --resume when --out holds a checkpoint.pt, else start afresh (default: off)")
    run.add_argument("--quiet", action="store_true",
                     help="no progress bars and no per-epoch lines; only errors and the final summary "
                          "(default: off)")
    return p


def _saved_args(out):
    """The arguments recorded in ``out/metrics.json`` by an earlier run ({} if none)."""
    try:
        return json.loads((out / "metrics.json").read_text()).get("args", {})
    except (OSError, ValueError, AttributeError):
        return {}


def _resolve_model_options(args, saved):
    """Fill in the model-shape options: given > the resumed run's > the default; reject mismatches."""
    for name, (owner, default) in MODEL_OPTIONS.items():
        given, flag = getattr(args, name), "--" + name
        if given is not None and owner != args.model:
            raise UsageError(f"{flag} applies to {owner} only, not {args.model}")
        old = saved.get(name)
        old = tuple(old) if isinstance(old, list) else _sizes(old) if isinstance(old, str) else old
        if given is not None and old is not None and given != old:
            shown = lambda v: ",".join(map(str, v)) if isinstance(v, tuple) else v  # noqa: E731
            raise UsageError(f"{flag} {shown(given)} differs from the run being resumed ({flag} {shown(old)}); "
                             "a checkpoint only fits a model of the same shape: leave it out, or use another --out")
        if owner == args.model:
            setattr(args, name, given if given is not None else old if old is not None else default)


def check_args(args):
    """Everything that can be checked before any work; a problem is a :class:`UsageError`."""
    if args.dataset != "mnist":
        for given, flag in ((args.download, "--download"), (args.data_dir is not None, "--data-dir")):
            if given:
                raise UsageError(f"{flag} applies to --dataset mnist only")
    args.data_dir = args.data_dir or "data"
    out = Path(args.out or f"runs/{args.model}-{args.dataset}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    args.out = str(out)
    checkpoint = out / "checkpoint.pt"
    if args.resume and not checkpoint.is_file():
        raise UsageError(f"--resume: there is no checkpoint at {checkpoint} (train without --resume first, or "
                         "use --resume-if-present to start afresh when there is none)")
    args.resuming = (args.resume or args.resume_if_present) and checkpoint.is_file()
    saved = _saved_args(out) if args.resuming else {}
    if args.resuming and saved.get("model", args.model) != args.model:
        raise UsageError(f"--resume: the run in {out} trained {saved['model']}, not {args.model}")
    _resolve_model_options(args, saved)
    args.reused = []
    for name, default in RESUMED_OPTIONS.items():
        if getattr(args, name) is None and saved.get(name) is not None:
            setattr(args, name, saved[name])
            args.reused.append(f"--{name.replace('_', '-')} {saved[name]}")
        elif getattr(args, name) is None:
            setattr(args, name, default)
    args.lr_given = args.lr is not None
    args.lr = args.lr if args.lr is not None else 1e-3


def parse_args(argv=None):
    """Parsed and checked arguments; exits with status 2 and one line on a bad one."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except UsageError as exc:
        parser.error(str(exc))
    return args


def pick_device(name):
    """``(device, why)``; a device that is not available is a :class:`UsageError`."""
    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if name == "cuda" and not torch.cuda.is_available():
        why = (f"this torch ({torch.__version__}) is the CPU-only build (with an NVIDIA GPU, `rm -rf .venv && "
               "make check TORCH=cuda` installs the CUDA one)" if torch.version.cuda is None
               else "no NVIDIA GPU or driver was found")
        raise UsageError(f"--device cuda: CUDA is not available: {why}; use --device auto or cpu")
    if name == "mps" and not mps_ok:
        raise UsageError("--device mps: Apple's MPS backend is not available here (it needs a Mac with Apple "
                         "silicon); use --device auto or cpu")
    if name != "auto":
        return torch.device(name), "as asked"
    if torch.cuda.is_available():
        return torch.device("cuda"), f"auto: {torch.cuda.get_device_name(0)}"
    if mps_ok:
        return torch.device("mps"), "auto: Apple MPS"
    return torch.device("cpu"), "auto: no CUDA GPU or Apple MPS found"


# ---------------------------------------------------------------- output


class Console:
    """Progress bars and messages: bars only on a terminal, nothing but the summary when quiet."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.bars = not quiet and sys.stdout.isatty()

    def info(self, message):
        if not self.quiet:
            print(message, flush=True)

    def summary(self, message):
        print(message, flush=True)

    def bar(self, total, desc, unit):
        # A terminal that reports no size (`script`, some containers) would get no bar at all: assume 80×24.
        sized = self.bars and min(shutil.get_terminal_size((0, 0))) > 0
        return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=sized,
                    ncols=None if sized else 80, nrows=None if sized else 24, file=sys.stdout,
                    disable=not self.bars)


def _first(item):
    return item[0] if isinstance(item, (tuple, list)) else item


class TrackedLoader:
    """A loader that advances ``bar`` by the images of each batch once that batch is done.

    Everything else (``len``, ``.dataset``, ``.batch_size``) is the wrapped loader's, so
    ``train_epoch`` and ``evaluate`` see an ordinary loader.
    """

    def __init__(self, loader, bar):
        self.loader, self.bar = loader, bar

    def __iter__(self):
        for item in self.loader:
            yield item
            self.bar.update(len(_first(item)))  # runs when the next batch is asked for: this one is done

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        if name == "loader":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)


class RunningBits:
    """A forward hook that keeps the running mean bits/dim of the batches the model has seen.

    Display only: it uses your ``bernoulli_nll`` on detached tensors, and any error in it (a
    stub, a bug) just leaves the bar without a number.
    """

    def __init__(self, bar):
        self.bar, self.total, self.count = bar, 0.0, 0

    def __call__(self, module, inputs, output):
        try:
            x = inputs[0].detach()
            bits = bits_per_dim(bernoulli_nll(output.detach(), x), math.prod(x.shape[1:]))
            self.total += float(torch.as_tensor(bits).sum())
            self.count += len(x)
            self.bar.set_postfix_str(f"{self.total / self.count:.4f} bits/dim", refresh=False)
        except Exception:  # noqa: BLE001 — the bar must never break training
            pass


class SamplingProgress(nn.Module):
    """Wraps the model handed to a sampler and advances ``bar`` once per forward pass.

    The samplers call ``model(x)`` once per position and read ``model.input_dim`` and
    ``model.order``; those (and any other attribute) are the wrapped model's. Its parameters
    (so device and dtype) and train/eval mode are the wrapped model's too.
    """

    def __init__(self, model, bar):
        super().__init__()
        self.model = model
        self.bar = bar
        self.train(model.training)  # the sampler restores *this* mode afterwards: keep the model's

    def forward(self, x):
        out = self.model(x)
        self.bar.update(1)
        return out

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model":  # not set yet: no recursion
                raise
            return getattr(self.model, name)


def save_grid(images, path, padding=2, pad_value=0.5, scale=4):
    """Save images ``(N, C, H, W)`` in [0, 1] as one PNG grid, about square, gray between them,
    each pixel drawn as a ``scale`` × ``scale`` square."""
    import numpy as np
    from PIL import Image

    images = images.detach().float().cpu().clamp(0, 1)
    n, channels, height, width = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (height + padding) + padding, cols * (width + padding) + padding, channels),
                   pad_value, dtype=np.float32)
    for i, image in enumerate(images.numpy()):
        top, left = padding + (i // cols) * (height + padding), padding + (i % cols) * (width + padding)
        grid[top:top + height, left:left + width] = image.transpose(1, 2, 0)
    pixels = (grid * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)  # one pixel: scale²
    _replace(path, lambda tmp: picture.save(tmp, format="PNG"))


def _replace(path, write):
    """``write(tmp)`` then rename over ``path``: Ctrl-C never leaves half a picture."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


EXPORT_FORMAT = "ps1-model-1"


def export_model(model, args, path, final):
    """The trained weights as ``made.safetensors`` / ``pixelcnn.safetensors``: to upload with the
    graded files (the grader measures them on held-out MNIST digits). safetensors holds tensors
    and a table of strings, no code: the hyperparameters go in its metadata, the masks not at
    all (the grader builds them). Returns False (with a note) where safetensors is missing."""
    try:
        from safetensors.torch import save_file
    except ImportError:
        return False
    if args.model == "made":
        shape = {"input_dim": str(model.input_dim), "hidden_sizes": json.dumps(list(model.hidden_sizes)),
                 "order": json.dumps([int(o) for o in model.order])}
    else:
        shape = {"in_channels": str(IMAGE_SHAPE[0]), "hidden_channels": str(args.channels),
                 "num_layers": str(args.layers), "kernel_size": str(args.kernel)}
    metadata = {"format": EXPORT_FORMAT, "model": args.model, "dataset": args.dataset, "epoch": str(final["epoch"]),
                "test_bits_per_dim": f"{final['test_bits_per_dim']:.6f}", **shape}
    tensors = {name: p.detach().to("cpu", torch.float32).contiguous() for name, p in model.named_parameters()}
    _replace(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return True


def save_curves(history, path, title):
    """Train and test bits/dim per epoch as a PNG (matplotlib's Agg canvas: no display needed)."""
    fig = curves_figure(history, title)
    _replace(path, lambda tmp: fig.savefig(tmp, format="png"))


def curves_figure(history, title):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    epochs = [e["epoch"] for e in history]
    ax.plot(epochs, [e["train_bits_per_dim"] for e in history], "o-", label="train (during the epoch)")
    ax.plot(epochs, [e["test_bits_per_dim"] for e in history], "s-", label="test")
    ax.set(xlabel="epoch", ylabel="bits/dim", title=title)
    ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)  # whole epochs, even for a run of one
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one epoch: one tick, not 0.5, 0.6, ...
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _write_json(path, data):
    """Write through a temporary file so that Ctrl-C never leaves half a metrics.json."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


# ---------------------------------------------------------------- the run


def build_model(args):
    if args.model == "made":
        return MADE(NUM_DIMS, args.hidden)
    return PixelCNN(IMAGE_SHAPE[0], args.channels, args.layers, args.kernel)


def cosine(epoch, total):
    """The learning-rate factor of ``epoch`` (from 0) in a run of ``total`` epochs (see --help)."""
    return 0.5 * (1.0 + math.cos(math.pi * epoch / total))


def load_data(args):
    try:
        return load_datasets(args.dataset, args.data_dir, args.download, args.seed, args.num_train, args.num_test)
    except (OSError, ValueError) as exc:  # FileNotFoundError, ConnectionError, a damaged IDX file
        raise RunError(str(exc)) from None


def resume(args, ckpt, model, optimizer, scheduler):
    """Load the checkpoint; put the schedule on the curve of the new --epochs. Returns the epoch."""
    try:
        start = load_checkpoint(ckpt, model, optimizer, scheduler)
    except (RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        # A damaged file, or one of a model of another shape: say so in one line. Other errors
        # (a bug in load_checkpoint) keep their traceback.
        if isinstance(exc, (EOFError, pickle.UnpicklingError)):  # torch's own text here is a page long
            detail = f"the file is damaged or not a checkpoint ({type(exc).__name__})"
        else:
            detail = " ".join(line.strip() for line in str(exc).splitlines()[:2]) or type(exc).__name__
        raise RunError(f"cannot resume from {ckpt}: {detail[:300]}") from None
    if 0 < args.epochs < start:
        raise UsageError(f"--epochs {args.epochs} is fewer than the {start} epochs the checkpoint in {args.out} "
                         f"has done; give the new total (>= {start}), or 0 to evaluate and sample only")
    if optimizer is None:  # evaluate and sample only
        return start
    if args.lr_given:
        scheduler.base_lrs = [args.lr] * len(optimizer.param_groups)
    args.lr = scheduler.base_lrs[0]  # what metrics.json records
    scheduler.last_epoch = start
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * cosine(start, max(args.epochs, start))
    return start


def _metrics_history(out, start):
    try:
        epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [e for e in epochs if e.get("epoch", 0) <= start]


def train_epochs(args, console, model, optimizer, scheduler, train, test_loader, device, out, start, history):
    """Train from epoch ``start`` to ``args.epochs``; after each: checkpoint, metrics, curves.

    Returns the history and whether curves.png could be drawn."""
    order = torch.Generator()
    train_loader = DataLoader(TensorDataset(train), batch_size=args.batch_size, shuffle=True, generator=order)
    ckpt, metrics_path, curves_path = out / "checkpoint.pt", out / "metrics.json", out / "curves.png"
    seconds = history[-1].get("seconds", 0.0) if history else 0.0
    curves_ok = True
    for epoch in range(start, args.epochs):
        # The order of epoch e depends only on (seed, e): a resumed run sees what an unbroken one would.
        order.manual_seed(args.seed * 1_000_003 + epoch)
        started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        desc = f"epoch {epoch + 1}/{args.epochs}"
        train_nll = _tracked(console, model, len(train), f"{desc} train",
                             lambda loader: train_epoch(model, loader, optimizer, device), train_loader)
        scheduler.step()
        result = evaluate_with_bar(console, model, test_loader, device, f"{desc} test")
        seconds += time.perf_counter() - started
        train_bits = float(bits_per_dim(torch.tensor(train_nll), NUM_DIMS))
        history.append({"epoch": epoch + 1, "train_nll": train_nll, "train_bits_per_dim": train_bits,
                        "test_nll": result["nll"], "test_bits_per_dim": result["bits_per_dim"], "lr": lr,
                        "seconds": round(seconds, 2)})
        console.info(f"epoch {epoch + 1:3d}/{args.epochs}  train {train_bits:.4f} bits/dim  test "
                     f"{result['bits_per_dim']:.4f} bits/dim ({result['nll']:.2f} nats)  lr {lr:.2e}  "
                     f"{seconds:6.1f} s")
        out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(ckpt, model, optimizer, scheduler, epoch + 1)
        args.saved_epoch = epoch + 1
        _write_json(metrics_path, {"args": _recorded(args), "epochs": history})
        if curves_ok:
            curves_ok = _try_curves(console, history, curves_path, args)
    return history, curves_ok


def _tracked(console, model, total, desc, step, loader):
    """Run ``step(loader)`` with a bar over ``total`` images showing images/s and running bits/dim."""
    with console.bar(total, desc, "img") as bar:
        handle = model.register_forward_hook(RunningBits(bar))
        try:
            return step(TrackedLoader(loader, bar))
        finally:
            handle.remove()


def evaluate_with_bar(console, model, test_loader, device, desc):
    return _tracked(console, model, len(test_loader.dataset), desc,
                    lambda loader: evaluate(model, loader, device), test_loader)


def _try_curves(console, history, path, args):
    """Draw the learning curves; without matplotlib say so once and go on (it is only a picture)."""
    title = (f"{args.model} on {args.dataset}: test {history[-1]['test_bits_per_dim']:.4f} bits/dim "
             f"after epoch {history[-1]['epoch']}")
    try:
        save_curves(history, path, title)
    except ImportError:
        console.info("note: matplotlib is not installed, so no curves.png (pip install matplotlib)")
        return False
    return True


def _recorded(args):
    keep = ("model", "dataset", "data_dir", "num_train", "num_test", "epochs", "batch_size", "lr", "seed",
            "hidden", "channels", "layers", "kernel", "num_samples", "device")
    return {k: getattr(args, k) for k in keep}


def draw_samples(console, model, args, device):
    """Samples ``(N, 1, 28, 28)`` with a bar of pixels done and time left (one pass per pixel)."""
    generator = torch.Generator(device=device).manual_seed(args.seed)
    passes = NUM_DIMS if args.model == "made" else IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
    if not console.bars:
        console.info(f"sampling {_count(args.num_samples, 'image')}: {passes} network passes, one per pixel ...")
    with console.bar(passes, f"sampling {_count(args.num_samples, 'image')}", "pixel") as bar:
        tracked = SamplingProgress(model, bar)
        if args.model == "made":
            return sample_made(tracked, args.num_samples, generator).reshape(-1, *IMAGE_SHAPE)
        return sample_pixelcnn(tracked, args.num_samples, IMAGE_SHAPE, generator)


def run(args, console):
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device, why = pick_device(args.device)
    out = Path(args.out)
    model = build_model(args).to(device)  # before the data: a stub in the model stops us at once
    optimizer = scheduler = None  # --epochs 0 needs neither (and Adam takes seconds to set up)
    if args.epochs > 0:
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: cosine(epoch, args.epochs))
    start, history = 0, []
    if args.resuming:
        start = resume(args, out / "checkpoint.pt", model, optimizer, scheduler)
        args.saved_epoch = start
        history = _metrics_history(out, start)
        reused = f" (with the run's {' '.join(args.reused)})" if args.reused else ""
        console.info(f"resumed {out / 'checkpoint.pt'} after epoch {start}{reused}")
    elif args.resume_if_present:
        console.info(f"no checkpoint in {out}: starting afresh")
    elif (out / "checkpoint.pt").exists() and args.epochs > 0:
        console.info(f"note: starting afresh; the run in {out} will be overwritten (--resume continues it)")

    train, test = load_data(args)
    test_loader = DataLoader(TensorDataset(test), batch_size=EVAL_BATCH)
    params = sum(p.numel() for p in model.parameters())
    console.info(f"{args.model} ({params:,} parameters) on {args.dataset}: {len(train)} train / {len(test)} test "
                 f"images; device {device} ({why})")
    written = []
    if args.epochs <= start:
        state = f"the checkpoint of epoch {start}" if start else "the untrained model"
        console.info(f"--epochs {args.epochs}: no training; evaluating and sampling {state}")
        result = evaluate_with_bar(console, model, test_loader, device, "test")
        final = {"epoch": start, "test_bits_per_dim": result["bits_per_dim"], "test_nll": result["nll"]}
        if history and _try_curves(console, history, out / "curves.png", args):
            written.append("curves.png")  # redrawn: an interrupted run may have left it an epoch behind
    else:
        history, curves = train_epochs(args, console, model, optimizer, scheduler, train, test_loader, device,
                                       out, start, history)
        final = history[-1]
        written += ["checkpoint.pt", "metrics.json"] + (["curves.png"] if curves else [])

    out.mkdir(parents=True, exist_ok=True)
    exported = f"{args.model}.safetensors"
    if export_model(model, args, out / exported, final):
        written.append(exported)
    else:
        console.info(f"note: {exported} not written (the safetensors package is missing: make check installs it)")
    started = time.perf_counter()
    samples = draw_samples(console, model, args, device)
    out.mkdir(parents=True, exist_ok=True)
    save_grid(samples, out / "samples.png")
    written.append("samples.png")
    when = f"after epoch {final['epoch']}" if final["epoch"] else "untrained"
    console.summary(f"samples.png: {_count(args.num_samples, 'sample')} of {args.model} {when}, test "
                    f"{final['test_bits_per_dim']:.4f} bits/dim ({final['test_nll']:.2f} nats); sampled in "
                    f"{time.perf_counter() - started:.1f} s")
    console.summary(f"wrote {', '.join(written)} in {out}")
    return history


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _not_implemented_hint(exc):
    """'file: function()' of the innermost frame that raised NotImplementedError."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}: {frame.name}()"


def _missing_folders(path):
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _remove_if_empty(folders):
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _interrupted_line(args):
    saved = getattr(args, "saved_epoch", 0)
    if not saved:
        return f"interrupted before any epoch finished; nothing was saved in {args.out}"
    dataset = f" --dataset {args.dataset}" if args.dataset != "shapes" else ""
    return (f"interrupted; {args.out}/checkpoint.pt holds epoch {saved} of {args.epochs}. Continue with: "
            f"python -m submission.train {args.model}{dataset} --out {args.out} --resume --epochs {args.epochs}")


def main(argv=None):
    args = parse_args(argv)  # exits with status 2 on a bad argument
    console = Console(args.quiet)
    new_folders = _missing_folders(Path(args.out))
    try:
        run(args, console)
        return 0
    except UsageError as exc:
        print(f"{build_parser().prog}: error: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except NotImplementedError as exc:
        print(f"Not implemented yet: {_not_implemented_hint(exc)} — fill it in (its docstring says how), "
              "then run `make check`.", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        print("\n" + _interrupted_line(args), file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        _remove_if_empty(new_folders)  # a failed run leaves no empty folder behind


if __name__ == "__main__":
    sys.exit(main())
