"""Device portability: the same checks on every grader, plus GPU/CPU agreement where CUDA exists.

Always (so scores never depend on the grader's hardware): masks are buffers that follow
``.to()``, a float64 copy agrees with float32, and a forward pass on the ``meta`` device (shapes
only, no data) runs and stays on ``meta``. With CUDA present, a GPU copy must also agree with
the CPU model (TF32 off).
"""
import copy

import torch

from . import checks, student


def _mask_buffers(model, masked_types, what):
    for name, module in model.named_modules():
        if isinstance(module, masked_types):
            buffers = dict(module.named_buffers(recurse=False))
            if "mask" not in buffers:
                checks.fail(f"{what}: layer '{name}' has no buffer named 'mask'. Keep the provided "
                            "register_buffer('mask', ...) and copy new masks into it, so that .to(device) moves it.")


def check_portable(model, x, what, masked_types=()):
    _mask_buffers(model, masked_types, what)
    model = model.float().eval()
    with torch.no_grad():
        out32 = checks.tensor(student.call(model, x, what=f"{what}(x)"), f"{what}(x)", shape=x.shape)

        model64 = copy.deepcopy(model).double()
        out64 = student.call(model64, x.double(), what=f"{what}.double()(x.double())")
        checks.tensor(out64, f"{what}.double()(x.double())", shape=x.shape, dtype=torch.float64)
        checks.close(out64, out32.double(), f"{what} in float64 vs float32", rtol=1e-4, atol=1e-4,
                     hint="build every constant tensor (masks) as a buffer so .double() converts it, and "
                          "create new tensors with the input's dtype and device.")

        meta = copy.deepcopy(model).to("meta")
        out_meta = student.call(meta, x.to("meta"), what=f"{what} moved to the 'meta' device, called on a meta tensor")
        checks.tensor(out_meta, f"{what} on the 'meta' device", shape=x.shape, device="meta")

        if torch.cuda.is_available():
            gpu = copy.deepcopy(model).to("cuda")
            out_gpu = student.call(gpu, x.to("cuda"), what=f"{what} on CUDA")
            checks.tensor(out_gpu, f"{what} on CUDA", shape=x.shape, device="cuda")
            checks.close(out_gpu.cpu(), out32, f"{what}: GPU vs CPU outputs", rtol=1e-4, atol=1e-4,
                         hint="the same weights must give the same logits on every device.")
