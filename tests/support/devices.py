"""Device portability: the same checks on every grader, plus GPU/CPU agreement where CUDA exists.

Always (so scores never depend on the grader's hardware): masks are buffers that follow
``.to()``, a float64 copy agrees with float32, and a forward pass on the ``meta`` device (shapes
only, no data) runs and stays on ``meta``. With CUDA present, a GPU copy must also agree with
the CPU model (TF32 off).
"""
import torch

from tests.probes import wire

from . import checks


def _mask_buffers(worker, model, masked_class, what):
    state = worker.state(model, what)
    for name, kind in state["modules"].items():
        if kind.split(".")[-1] == masked_class and f"{name}.mask" not in state["buffers"]:
            checks.fail(f"{what}: layer '{name}' has no buffer named 'mask'. Keep the provided "
                        "register_buffer('mask', ...) and copy new masks into it, so that .to(device) moves it.")


def check_portable(worker, model, x, what, masked_class):
    """``model`` (a handle) gives the same outputs as float32, float64, on ``meta`` and on CUDA."""
    _mask_buffers(worker, model, masked_class, what)
    model32 = worker.convert(model, what=f"{what}.float().eval()", dtype=torch.float32, mode="eval")
    out32 = checks.tensor(worker.call(model32, x, what=f"{what}(x)"), f"{what}(x)", shape=x.shape)

    model64 = worker.convert(model, what=f"{what}.double()", dtype=torch.float64, mode="eval")
    out64 = worker.call(model64, x.double(), what=f"{what}.double()(x.double())")
    checks.tensor(out64, f"{what}.double()(x.double())", shape=x.shape, dtype=torch.float64)
    checks.close(out64, out32.double(), f"{what} in float64 vs float32", rtol=1e-4, atol=1e-4,
                 hint="build every constant tensor (masks) as a buffer so .double() converts it, and "
                      "create new tensors with the input's dtype and device.")

    meta = worker.convert(model, what=f"{what}.to('meta')", device=torch.device("meta"), mode="eval")
    out_meta = worker.call(meta, torch.empty(x.shape, device="meta"),
                           what=f"{what} moved to the 'meta' device, called on a meta tensor")
    checks.tensor(out_meta, f"{what} on the 'meta' device", shape=x.shape, device="meta")

    if torch.cuda.is_available():
        gpu = worker.convert(model, what=f"{what}.to('cuda')", device=torch.device("cuda"), mode="eval")
        out_gpu = worker.call(gpu, wire.Placed(x, "cuda"), what=f"{what} on CUDA")
        checks.tensor(out_gpu, f"{what} on CUDA", shape=x.shape, device="cuda")
        checks.close(out_gpu, out32, f"{what}: GPU vs CPU outputs", rtol=1e-4, atol=1e-4,
                     hint="the same weights must give the same logits on every device.")
