"""Gradient-based checks of the autoregressive property, with pictures for the student.

For a model f, ``J[i, j] = max over random inputs of |∂f(x)_i / ∂x_j|``. An output may depend
only on the inputs generated before it: those entries of J must be exactly zero, whatever the
weights. Where the architecture connects an input to an output, J must be non-zero for some
random input and weights.
"""
import torch

from . import checks, oracles, pictures, student


def measure(model, inputs_fn, generator, weight_draws=3):
    """Union over ``weight_draws`` re-randomisations of the model's dependency matrix."""
    total = None
    for _ in range(weight_draws):
        oracles.rerandomize_(model, generator)
        x = inputs_fn()
        dep = oracles.dependency(lambda t: model(t), x)
        total = dep if total is None else torch.maximum(total, dep)
    return total


def made_verdict(dep, order, required, what):
    """Fail with a picture if ``dep`` (D×D) breaks the MADE property for ``order``."""
    allowed = oracles.made_allowed(order)
    present = dep > 0
    leaks = present & ~allowed
    if bool(leaks.any()):
        d, j = (int(v) for v in leaks.nonzero()[0])
        pos = {int(o): i for i, o in enumerate(order)}
        why = ("its own input; the output layer's mask must use a strict > (m0[d] > m_L[k])" if d == j else
               f"input {j}, which is generated at step {pos[j] + 1} of `order`, not before output {d} "
               f"(step {pos[d] + 1}); degrees must follow `order` and masks must compare them "
               "(>= in hidden layers, > at the output)")
        checks.fail(f"{what}: output {d} depends on {why}.\n"
                    f"Dependencies of outputs (rows) on inputs (columns), measured with gradients:\n"
                    f"{pictures.side_by_side(allowed, present, 'allowed', 'measured (marked)', 'out', 'in')}")
    missing = required & ~present
    if bool(missing.any()):
        d, j = (int(v) for v in missing.nonzero()[0])
        checks.fail(f"{what}: output {d} never depends on input {j}, although the masks of MADE connect "
                    f"them (output d must see every input generated before it when the hidden layers are wide "
                    f"enough).\n{pictures.side_by_side(required, present, 'required', 'measured (marked)', 'out', 'in')}\n"
                    "Hint: check that the mask keeps every connection the degree rule allows (>= in hidden "
                    "layers) and that forward applies the mask to the weight, not the output.")


def check_made(made, input_dim, hidden_sizes, order, generator, batch=48):
    what = f"MADE({input_dim}, {list(hidden_sizes)}, order={list(order)})"
    model = student.call(made.MADE, input_dim, list(hidden_sizes), list(order), what=what).double()
    probe = torch.zeros(2, input_dim, dtype=torch.float64)
    checks.tensor(student.call(model, probe, what=f"{what}(x) with x of shape (2, {input_dim})"),
                  f"{what}(x) with x of shape (2, {input_dim})", shape=probe.shape)
    dep = student.call(measure, model, lambda: torch.randn(batch, input_dim, generator=generator,
                                                           dtype=torch.float64), generator,
                       what=f"{what} forward pass on random inputs")
    required = oracles.connectivity(oracles.made_masks(input_dim, list(hidden_sizes), list(order)))
    made_verdict(dep, list(order), required, what)


def pixel_verdict(dep, image_shape, what, required_neighbours=True):
    channels, height, width = image_shape
    allowed = oracles.pixel_allowed(channels, height, width)
    present = dep > 0
    n_pix = height * width

    def field(out_pixel, matrix):
        """H×W picture of which input pixels output pixel ``out_pixel`` sees (any channel)."""
        rows = matrix.reshape(channels, n_pix, channels, n_pix)[:, out_pixel].any(0).any(0)
        return rows.reshape(height, width)

    leaks = present & ~allowed
    if bool(leaks.any()):
        o, i = (int(v) for v in leaks.nonzero()[0])
        (oc, op), (ic, ip) = divmod(o, n_pix), divmod(i, n_pix)
        r, c, ri, ci = op // width, op % width, ip // width, ip % width
        why = ("itself (the first layer must use a type 'A' mask, which hides the centre)" if ip == op else
               f"input pixel ({ri}, {ci}), which comes later in raster order; check the causal mask rows/columns "
               "and that every layer applies its mask")
        checks.fail(f"{what}: output channel {oc} at pixel ({r}, {c}) depends on channel {ic} of {why}.\n"
                    f"Receptive field of output pixel ({r}, {c}) (rows × columns of the input image):\n"
                    f"{pictures.side_by_side(field(op, allowed), field(op, present), 'allowed', 'measured (marked)')}")
    if required_neighbours:
        for p in range(n_pix):
            r, c = divmod(p, width)
            for (nr, nc), name in (((r, c - 1), "left"), ((r - 1, c), "upper")):
                if nr < 0 or nc < 0:
                    continue
                q = nr * width + nc
                if not bool(present.reshape(channels, n_pix, channels, n_pix)[:, p, :, q].any()):
                    need = torch.zeros(height, width, dtype=torch.bool)
                    need[nr, nc] = True
                    checks.fail(
                        f"{what}: output pixel ({r}, {c}) never depends on its {name} neighbour ({nr}, {nc}).\n"
                        f"{pictures.side_by_side(need | field(p, present), field(p, present), 'required', 'measured (marked)')}\n"
                        "Hint: the causal mask must keep the row above the centre and the centre row left of "
                        "the centre, and the padding must be kernel_size // 2.")


def check_pixelcnn(pixelcnn, image_shape, hidden, layers, kernel, generator, batch=6):
    channels, height, width = image_shape
    what = f"PixelCNN(in_channels={channels}, hidden_channels={hidden}, num_layers={layers}, kernel_size={kernel})"
    model = student.call(pixelcnn.PixelCNN, channels, hidden, layers, kernel, what=what).double()
    probe = torch.zeros(2, *image_shape, dtype=torch.float64)
    checks.tensor(student.call(model, probe, what=f"{what}(x) with x of shape {tuple(probe.shape)}"),
                  f"{what}(x) with x of shape {tuple(probe.shape)}", shape=probe.shape)
    dep = student.call(measure, model, lambda: torch.randn(batch, *image_shape, generator=generator,
                                                           dtype=torch.float64), generator,
                       what=f"{what} forward pass on random {height}×{width} images")
    pixel_verdict(dep, image_shape, what + f" on {height}×{width} images")
