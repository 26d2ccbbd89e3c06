"""Train MADE or PixelCNN on binary images, report test NLL, save checkpoints and samples.

    python -m submission.train made --dataset shapes --epochs 10
    python -m submission.train pixelcnn --dataset mnist --data-dir data --download

Writes ``<out>/checkpoint.pt`` (resumable with ``--resume``), ``<out>/metrics.json`` (per-epoch
train/test NLL in nats and bits/dim) and ``<out>/samples.png`` (a grid of samples).
Provided, not graded.
"""
import argparse
import json
import math
import sys
import time
import traceback
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from .data import IMAGE_SHAPE, load_datasets
from .made import MADE
from .pixelcnn import PixelCNN
from .sampling import sample_made, sample_pixelcnn
from .training import evaluate, load_checkpoint, save_checkpoint, train_epoch


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m submission.train", description=__doc__.split("\n")[0])
    p.add_argument("model", choices=["made", "pixelcnn"])
    p.add_argument("--dataset", choices=["shapes", "mnist"], default="shapes")
    p.add_argument("--data-dir", default="data", help="folder with MNIST's raw IDX files (or where to download them)")
    p.add_argument("--download", action="store_true", help="download MNIST with torchvision if it is not in --data-dir")
    p.add_argument("--num-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--num-test", type=int, default=None, help="use only the first N test images")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (Adam, cosine decay to 0)")
    p.add_argument("--hidden", default="512", help="MADE hidden sizes, comma-separated (e.g. 512,512)")
    p.add_argument("--channels", type=int, default=64, help="PixelCNN hidden channels")
    p.add_argument("--layers", type=int, default=5, help="PixelCNN masked 'B' layers of size --kernel")
    p.add_argument("--kernel", type=int, default=7, help="PixelCNN kernel size (odd)")
    p.add_argument("--num-samples", type=int, default=64, help="samples drawn for the grid at the end")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default runs/<model>-<dataset>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    return p.parse_args(argv)


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda was requested but CUDA is not available")
    return torch.device(name)


def build_model(args):
    if args.model == "made":
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
        return MADE(math.prod(IMAGE_SHAPE), hidden)
    return PixelCNN(IMAGE_SHAPE[0], args.channels, args.layers, args.kernel)


def draw_samples(model, args, device):
    generator = torch.Generator(device=device).manual_seed(args.seed)
    if args.model == "made":
        return sample_made(model, args.num_samples, generator).reshape(-1, *IMAGE_SHAPE)
    return sample_pixelcnn(model, args.num_samples, IMAGE_SHAPE, generator)


def save_grid(images, path):
    from torchvision.utils import save_image

    nrow = max(1, int(math.sqrt(len(images))))
    save_image(images.float().cpu(), path, nrow=nrow, padding=2, pad_value=0.5)


def run(args):
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    out = Path(args.out or f"runs/{args.model}-{args.dataset}")
    out.mkdir(parents=True, exist_ok=True)

    train, test = load_datasets(args.dataset, args.data_dir, args.download, args.seed, args.num_train, args.num_test)
    train_loader = DataLoader(TensorDataset(train), batch_size=args.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(args.seed))
    test_loader = DataLoader(TensorDataset(test), batch_size=512)
    model = build_model(args).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, args.epochs))
    ckpt, metrics_path = out / "checkpoint.pt", out / "metrics.json"
    history, start = [], 0
    if args.resume and ckpt.exists():
        start = load_checkpoint(ckpt, model, optimizer, scheduler)
        if metrics_path.exists():
            history = json.loads(metrics_path.read_text())["epochs"][:start]
        print(f"resumed from {ckpt} at epoch {start}")

    params = sum(p.numel() for p in model.parameters())
    print(f"{args.model} ({params:,} parameters) on {args.dataset}: {len(train)} train / {len(test)} test "
          f"images, device {device}")
    started = time.perf_counter()
    for epoch in range(start, args.epochs):
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False, unit="batch")
        train_nll = train_epoch(model, bar, optimizer, device)
        scheduler.step()
        result = evaluate(model, test_loader, device)
        history.append({"epoch": epoch + 1, "train_nll": train_nll, "test_nll": result["nll"],
                        "test_bits_per_dim": result["bits_per_dim"], "lr": optimizer.param_groups[0]["lr"],
                        "seconds": time.perf_counter() - started})
        print(f"epoch {epoch + 1:3d}  train {train_nll:8.3f} nats  test {result['nll']:8.3f} nats "
              f"({result['bits_per_dim']:.4f} bits/dim)")
        save_checkpoint(ckpt, model, optimizer, scheduler, epoch + 1)
        metrics_path.write_text(json.dumps({"args": vars(args), "epochs": history}, indent=2))

    samples = draw_samples(model, args, device)
    save_grid(samples, out / "samples.png")
    print(f"saved {out / 'samples.png'}, {metrics_path} and {ckpt}")
    return history


def _not_implemented_hint(exc):
    """'file: function()' of the innermost frame that raised NotImplementedError."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}: {frame.name}()"


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except NotImplementedError as exc:
        print(f"Not implemented yet: {_not_implemented_hint(exc)} — fill it in (its docstring says how), "
              "then run `make check`.", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
