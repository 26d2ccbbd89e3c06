"""Checks of the autoregressive property, with pictures for the student.

A case (:mod:`tests.support.examples`) holds a configuration and several draws of float64
weights and inputs with the reference architecture's outputs and Jacobian for them. For each
draw the weights are loaded into the student's model by name, and on the same batch:

* the worker measures ``J[i, j] = max over the batch of |∂f(x)_i / ∂x_j|`` by gradients. An
  output may depend only on inputs generated before it: ``J`` must be exactly zero there (NaN
  or inf counts as a dependency), non-zero wherever the reference's is (the connections the
  architecture makes for these weights), and equal to the reference's;
* the outputs must be the reference's for those weights, row by row: on that batch (float64,
  autograd on, random rows mixed with copies redrawn from a random step on, shuffled) and on
  the batches a float32 copy meets as training and sampling call it (train mode with autograd
  on and optimizer steps, then eval mode under ``no_grad`` through an input written in place;
  :func:`models.check_in_use`). Nothing tells a model that it is being measured, and a
  stand-in with the right dependency pattern but another function fails here, whatever a
  worker reports about its gradients.
"""
import torch

from . import checks, models, pictures


def made_allowed(order):
    """``A[d, j]``: True where output d may depend on input j (j generated before d)."""
    pos = torch.empty(len(order), dtype=torch.long)
    pos[torch.as_tensor(order)] = torch.arange(len(order))
    return pos[:, None] > pos[None, :]


def pixel_allowed(channels, height, width):
    """``A[out, in]`` over flattened ``(C, H, W)``: True where the input pixel comes strictly
    before the output pixel in raster order (any channels)."""
    pixel = torch.arange(height * width).repeat(channels)
    return pixel[:, None] > pixel[None, :]


def measure(worker, built, case, what, kind, on_leak, on_missing):
    """Load each draw's weights, judge the gradients (``on_leak`` fails on a forbidden
    dependency, ``on_missing(required, present)`` on a missing one) and the outputs."""
    model = worker.convert(built, what=f"{what}.double()", dtype=torch.float64)
    present = required = None
    jacobians = []
    for draw in case["draws"]:
        worker.load_params(model, draw["params"], what)
        x = draw["x"]
        n = x[0].numel()
        shape = f"x of shape {tuple(x.shape)}"
        answer = worker.jacobian(model, x, what=f"{what}: forward and backward passes on random inputs ({shape})")
        if not isinstance(answer, dict):
            checks.fail(f"{what}: the gradient measurement returned {checks.kind_of(answer)}.")
        out = checks.tensor(answer.get("out"), f"{what}(x) with {shape}", shape=x.shape)
        jac = answer.get("jacobian")
        if jac is None:
            checks.fail(f"{what}(x) returned {checks.kind_of(out)}, expected logits of the shape of x.")
        jac = checks.with_data(jac, f"the gradients of {what}", shape=(n, n)).double()
        found = (jac != 0) | ~torch.isfinite(jac)
        on_leak(found)
        if not bool(torch.isfinite(jac).all()):
            checks.fail(f"{what}: the gradients of the outputs with respect to the inputs are not finite "
                        f"(NaN or inf) for some inputs; {models.ARCHITECTURE[kind]} has finite gradients everywhere.")
        models.check_outputs(out, draw["out"], f"{what}(x) with {shape} and the test's weights (loaded by name)",
                             kind, torch.float64)
        present = found if present is None else present | found
        needed = draw["jacobian"] != 0
        required = needed if required is None else required | needed
        jacobians.append((jac, draw["jacobian"]))
    models.check_in_use(worker, model, case["in_use"], what, kind)  # the last draw's weights are loaded
    on_missing(required, present)
    for jac, expected in jacobians:
        checks.close(jac, expected, f"{what}: the gradients of the outputs with respect to the inputs", rtol=1e-6,
                     atol=1e-9, dtype=torch.float64,
                     hint=f"these are not the gradients of {models.ARCHITECTURE[kind]} for the test's weights.")


def made_leaks(order, what):
    allowed = made_allowed(order)

    def on_leak(found):
        leaks = found & ~allowed
        if not bool(leaks.any()):
            return
        d, j = (int(v) for v in leaks.nonzero()[0])
        pos = {int(o): i for i, o in enumerate(order)}
        why = ("its own input; the output layer's mask must use a strict > (m0[d] > m_L[k])" if d == j else
               f"input {j}, which is generated at step {pos[j] + 1} of `order`, not before output {d} "
               f"(step {pos[d] + 1}); degrees must follow `order` and masks must compare them "
               "(>= in hidden layers, > at the output)")
        checks.fail(f"{what}: output {d} depends on {why}.\n"
                    f"Dependencies of outputs (rows) on inputs (columns), measured with gradients:\n"
                    f"{pictures.side_by_side(allowed, found, 'allowed', 'measured (marked)', 'out', 'in')}")
    return on_leak


def check_made(worker, case):
    """Integration test: the student's MADE for ``case["config"]`` (built by the provided
    ``__init__`` with the student's masks) is autoregressive in its order, has every connection
    its masks make, and computes MADE for the loaded weights."""
    config = case["config"]
    built, what = models.build_made(worker, config)
    with checks.preface(models.made_mask_note(worker, config, case["masks"])):
        def on_missing(required, present):
            missing = required & ~present
            if bool(missing.any()):
                d, j = (int(v) for v in missing.nonzero()[0])
                checks.fail(f"{what}: output {d} never depends on input {j}, although MADE connects them for the "
                            "test's weights.\n"
                            f"{pictures.side_by_side(required, present, 'required', 'measured (marked)', 'out', 'in')}"
                            "\nHint: check that the mask keeps every connection the degree rule allows (>= in hidden "
                            "layers)" + ("." if checks.prefaced() else
                                         " and that forward applies the mask to the weight, not the output."))

        measure(worker, built, case, what, "made", made_leaks(config["order"], what), on_missing)


def check_pixelcnn(worker, case):
    """Integration test: the student's PixelCNN is causal in raster order (first pixel, corners,
    every channel pair), sees its left and upper neighbours, and computes PixelCNN."""
    channels, height, width = case["image_shape"]
    n_pix = height * width
    built, what = models.build_pixelcnn(worker, case["config"])
    what += f" on {height}×{width} images"
    allowed = pixel_allowed(channels, height, width)

    def field(out_pixel, matrix):
        """H×W picture of which input pixels output pixel ``out_pixel`` sees (any channel)."""
        return matrix.reshape(channels, n_pix, channels, n_pix)[:, out_pixel].any(0).any(0).reshape(height, width)

    def on_leak(found):
        leaks = found & ~allowed
        if not bool(leaks.any()):
            return
        o, i = (int(v) for v in leaks.nonzero()[0])
        (oc, op), (ic, ip) = divmod(o, n_pix), divmod(i, n_pix)
        r, c, ri, ci = op // width, op % width, ip // width, ip % width
        why = ("itself (the first layer must use a type 'A' mask, which hides the centre)" if ip == op else
               f"input pixel ({ri}, {ci}), which comes later in raster order; check the causal mask rows/columns "
               "and that every layer applies its mask")
        checks.fail(f"{what}: output channel {oc} at pixel ({r}, {c}) depends on channel {ic} of {why}.\n"
                    f"Receptive field of output pixel ({r}, {c}) (rows × columns of the input image):\n"
                    f"{pictures.side_by_side(field(op, allowed), field(op, found), 'allowed', 'measured (marked)')}")

    with checks.preface(models.pixelcnn_mask_note(worker, case["masks"])):
        def on_missing(required, present):
            """Every left and upper neighbour the reference sees must be seen."""
            grid = present.reshape(channels, n_pix, channels, n_pix)
            needed = required.reshape(channels, n_pix, channels, n_pix)
            for p in range(n_pix):
                r, c = divmod(p, width)
                for (nr, nc), name in (((r, c - 1), "left"), ((r - 1, c), "upper")):
                    q = nr * width + nc
                    if nr < 0 or nc < 0 or bool(grid[:, p, :, q].any()) or not bool(needed[:, p, :, q].any()):
                        continue
                    need = torch.zeros(height, width, dtype=torch.bool)
                    need[nr, nc] = True
                    checks.fail(
                        f"{what}: output pixel ({r}, {c}) never depends on its {name} neighbour ({nr}, {nc}).\n"
                        f"{pictures.side_by_side(need | field(p, present), field(p, present), 'required', 'measured (marked)')}\n"
                        "Hint: the causal mask must keep the row above the centre and the centre row left of "
                        "the centre, and the padding must be kernel_size // 2.")
            missing = required & ~present
            if bool(missing.any()):
                o, i = (int(v) for v in missing.nonzero()[0])
                checks.fail(f"{what}: output {divmod(o, n_pix)} (channel, pixel) never depends on input "
                            f"{divmod(i, n_pix)}, although PixelCNN connects them for the test's weights.")

        measure(worker, built, case, what, "pixelcnn", on_leak, on_missing)
