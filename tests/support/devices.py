"""Device portability: the same checks on every grader, plus GPU/CPU agreement where CUDA exists.

Always (so scores never depend on the grader's hardware): a model with the test's weights
computes the reference outputs in float32 and, converted with ``.double()``, in float64 (its
outputs float64 too: masks are buffers that follow ``.to()``), and a forward pass on the
``meta`` device (shapes only, no data) runs and stays on ``meta``. With CUDA present, a GPU copy
must compute the same outputs (TF32 off).
"""
import torch

from tests.probes import wire

from . import checks, models

HINT = ("build every constant tensor (masks) as a buffer so .to() and .double() convert it, and create new "
        "tensors with the input's dtype and device.")


def check_portable(worker, model, x, expected, what, kind):
    """``model`` (a handle, with the test's weights and known-good masks) gives ``expected`` (the
    reference's float64 outputs) in float32, float64, on ``meta`` and on CUDA."""
    model32 = worker.convert(model, what=f"{what}.float().eval()", dtype=torch.float32, mode="eval")
    out32 = worker.call_no_grad(model32, x, what=f"{what}(x)")
    models.check_outputs(out32, expected, f"{what}(x) with x of shape {tuple(x.shape)}", kind, torch.float32)

    model64 = worker.convert(model, what=f"{what}.double()", dtype=torch.float64, mode="eval")
    out64 = worker.call_no_grad(model64, x.double(), what=f"{what}.double()(x.double())")
    models.check_outputs(out64, expected, f"{what}.double()(x.double())", kind, torch.float64, hint=HINT)

    meta = worker.convert(model, what=f"{what}.to('meta')", device=torch.device("meta"), mode="eval")
    out_meta = worker.call_no_grad(meta, torch.empty(x.shape, device="meta"),
                           what=f"{what} moved to the 'meta' device, called on a meta tensor")
    checks.tensor(out_meta, f"{what} on the 'meta' device", shape=x.shape, device="meta", dtype=torch.float32)

    if torch.cuda.is_available():
        gpu = worker.convert(model, what=f"{what}.to('cuda')", device=torch.device("cuda"), mode="eval")
        out_gpu = worker.call_no_grad(gpu, wire.Placed(x, "cuda"), what=f"{what} on CUDA")
        models.check_outputs(out_gpu, expected, f"{what}: GPU outputs", kind, torch.float32, device="cuda",
                             hint="the same weights must give the same logits on every device.")
