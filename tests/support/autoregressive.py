"""Checks of the autoregressive property, with pictures for the student.

The dependency of outputs on inputs is measured twice, over several random inputs and
re-randomised weights (drawn here, loaded into the student's model by name):

* by gradients, in the worker: ``J[i, j] = max over inputs of |∂f(x)_i / ∂x_j|``, exact zeros
  where the masks cut every path;
* by perturbation, judged here: the worker only runs the model on the inputs and on copies with
  one entry changed, and this module compares the outputs.

An output may depend only on inputs generated before it: both measurements must be zero
there. Where the architecture connects an input to an output, perturbing it must change the
output for some input and weights: that verdict rests on the outputs alone, never on the
worker's gradients (code that patched the probe library could report any gradient it likes;
a model that outputs zeros must not pass for one with every connection).
"""
import torch

from . import checks, pictures, tables

WEIGHT_DRAWS = 3
STEP = 1.0


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


def perturbed_dependency(worker, model, x, what, generator):
    """``max_b |f(x_b + STEP e_j)_i - f(x_b)_i|`` as an ``(out numel, in numel)`` matrix, from the
    model's outputs alone. The rows go in shuffled, so the batch has no layout to recognise."""
    batch, shape = x.shape[0], tuple(x.shape[1:])
    n = x[0].numel()
    flat = x.reshape(batch, 1, n).repeat(1, n + 1, 1)
    flat[:, 1:, :] += STEP * torch.eye(n, dtype=x.dtype)
    inputs = flat.reshape(batch * (n + 1), *shape)
    shuffle = torch.randperm(len(inputs), generator=generator)
    out = worker.call(model, inputs[shuffle], what=f"{what} on inputs of shape {tuple(inputs.shape)}")
    out = checks.tensor(out, f"{what}(x) with x of shape {tuple(inputs.shape)}", shape=inputs.shape)
    out = torch.empty_like(out).index_copy_(0, shuffle, out)  # back in the order built here
    out = out.double().reshape(batch, n + 1, n)
    change = (out[:, 1:, :] - out[:, :1, :]).abs().amax(0).T
    return change, out.abs().max()


def measure(worker, model, inputs_fn, generator, what):
    """``(present, shown)``: boolean dependency matrices, the union over weight draws of both
    measurements (for leaks), and of the perturbation one alone (for required connections)."""
    shapes = {name: tuple(p.shape) for name, p in worker.state(model, what)["params"].items()}
    present = shown = None
    for _ in range(WEIGHT_DRAWS):
        worker.load_params(model, tables.random_params(shapes, generator), what)
        x = inputs_fn()
        n = x[0].numel()
        jac = worker.jacobian(model, x, what=f"{what}: forward and backward passes on random inputs")
        jac = checks.tensor(jac, f"the gradients of {what}", shape=(n, n)).double()
        change, scale = perturbed_dependency(worker, model, x, what, generator)
        by_outputs = change > 1e-7 * max(1.0, float(scale))
        found = (jac > 0) | by_outputs
        present = found if present is None else present | found
        shown = by_outputs if shown is None else shown | by_outputs
    return present, shown


def made_verdict(present, shown, order, required, what):
    """Fail with a picture if ``present`` (D×D) breaks the MADE property for ``order``, or if
    ``shown`` (the dependencies seen in outputs) misses one of ``required``."""
    allowed = made_allowed(order)
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
    missing = required & ~shown
    if bool(missing.any()):
        d, j = (int(v) for v in missing.nonzero()[0])
        checks.fail(f"{what}: output {d} never depends on input {j}, although the masks of MADE connect "
                    f"them (output d must see every input generated before it when the hidden layers are wide "
                    f"enough).\n{pictures.side_by_side(required, shown, 'required', 'measured (marked)', 'out', 'in')}\n"
                    "Hint: check that the mask keeps every connection the degree rule allows (>= in hidden "
                    "layers) and that forward applies the mask to the weight, not the output.")


def check_made(worker, input_dim, hidden_sizes, order, generator, required=None, batch=48):
    """MADE(input_dim, hidden_sizes, order) is autoregressive in ``order`` and has every
    connection in ``required`` (default: every allowed one, which is what MADE's masks give
    when each hidden layer has at least input_dim - 1 units)."""
    if required is None:
        assert min(hidden_sizes, default=input_dim) >= input_dim - 1, "pass the required connections"
        required = made_allowed(order)
    what = f"MADE({input_dim}, {list(hidden_sizes)}, order={list(order)})"
    built = worker.call("made.MADE", input_dim, list(hidden_sizes), list(order), what=what)
    model = worker.convert(built, what=f"{what}.double()", dtype=torch.float64)
    probe = torch.zeros(2, input_dim, dtype=torch.float64)
    checks.tensor(worker.call(model, probe, what=f"{what}(x) with x of shape (2, {input_dim})"),
                  f"{what}(x) with x of shape (2, {input_dim})", shape=probe.shape)
    present, shown = measure(worker, model, lambda: torch.randn(batch, input_dim, generator=generator,
                                                                 dtype=torch.float64), generator, what)
    made_verdict(present, shown, list(order), required, what)


def pixel_verdict(present, shown, image_shape, what, required_neighbours=True):
    """Fail with a picture if ``present`` breaks raster-order causality, or if ``shown`` (the
    dependencies seen in outputs) misses a left or upper neighbour."""
    channels, height, width = image_shape
    allowed = pixel_allowed(channels, height, width)
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
                if not bool(shown.reshape(channels, n_pix, channels, n_pix)[:, p, :, q].any()):
                    need = torch.zeros(height, width, dtype=torch.bool)
                    need[nr, nc] = True
                    checks.fail(
                        f"{what}: output pixel ({r}, {c}) never depends on its {name} neighbour ({nr}, {nc}).\n"
                        f"{pictures.side_by_side(need | field(p, shown), field(p, shown), 'required', 'measured (marked)')}\n"
                        "Hint: the causal mask must keep the row above the centre and the centre row left of "
                        "the centre, and the padding must be kernel_size // 2.")


def check_pixelcnn(worker, image_shape, hidden, layers, kernel, generator, batch=6):
    channels, height, width = image_shape
    what = f"PixelCNN(in_channels={channels}, hidden_channels={hidden}, num_layers={layers}, kernel_size={kernel})"
    built = worker.call("pixelcnn.PixelCNN", channels, hidden, layers, kernel, what=what)
    model = worker.convert(built, what=f"{what}.double()", dtype=torch.float64)
    probe = torch.zeros(2, *image_shape, dtype=torch.float64)
    checks.tensor(worker.call(model, probe, what=f"{what}(x) with x of shape {tuple(probe.shape)}"),
                  f"{what}(x) with x of shape {tuple(probe.shape)}", shape=probe.shape)
    present, shown = measure(worker, model, lambda: torch.randn(batch, *image_shape, generator=generator,
                                                                 dtype=torch.float64), generator,
                             what + f" on {height}×{width} images")
    pixel_verdict(present, shown, image_shape, what + f" on {height}×{width} images")
