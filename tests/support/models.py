"""Building the student's MADE and PixelCNN in the worker, and what the model tests share.

Every model test loads weights it drew itself (by parameter name) and requires the outputs of
the architecture in the docstring for them, on every batch it sends. Tests of one layer's or
one model's forward load known-good masks into the mask buffers (and say so), so that a bug
in ``made_masks`` or ``causal_mask`` costs points only in the mask tests and in the tests
labelled *integration*, which use the student's masks and say which test to fix first.
"""
import torch

from . import checks, tables

ARCHITECTURE = {
    "made": "MADE's architecture (net = MaskedLinear → ReLU → … → MaskedLinear, masks from made_masks; forward "
            "flattens x to (B, D), runs self.net and reshapes the logits to x's shape)",
    "pixelcnn": "PixelCNN's architecture (net = MaskedConv2d('A', C, h, k), ReLU, num_layers × [MaskedConv2d('B', "
                "h, h, k), ReLU], MaskedConv2d('B', h, h, 1), ReLU, MaskedConv2d('B', h, C, 1); each layer convolves "
                "with weight * mask, padding k // 2)",
}
KNOWN_GOOD = "known-good masks loaded into its mask buffers"


def made_what(config):
    order = config.get("order")
    if order is None:
        shown = ""
    elif len(order) > 20:  # MNIST's 784: the first entries say enough
        shown = f", order=[{', '.join(str(int(o)) for o in order[:6])}, …] (a permutation of range({len(order)}))"
    else:
        shown = f", order={list(order)}"
    return f"MADE({config['input_dim']}, {list(config['hidden_sizes'])}{shown})"


def pixelcnn_what(config):
    return ("PixelCNN(in_channels={in_channels}, hidden_channels={hidden_channels}, num_layers={num_layers}, "
            "kernel_size={kernel_size})").format(**config)


def build_made(worker, config):
    """``(handle, description)`` of the student's MADE for ``config``."""
    what = made_what(config)
    return worker.call("made.MADE", config["input_dim"], list(config["hidden_sizes"]), config.get("order"),
                       what=what), what


def build_pixelcnn(worker, config):
    what = pixelcnn_what(config)
    return worker.call("pixelcnn.PixelCNN", what=what, **config), what


def known_good(worker, config, buffers, shapes, gen):
    """``(handle, description, params)``: the student's model for ``config`` with known-good
    mask ``buffers`` and float32 weights of ``shapes`` drawn from ``gen``, loaded by name."""
    model, what = (build_made if "input_dim" in config else build_pixelcnn)(worker, config)
    worker.load_buffers(model, buffers, f"{what} with {KNOWN_GOOD}")
    params = tables.random_params(shapes, gen, dtype=torch.float32)
    worker.load_params(model, params, what)
    return model, what, params


def _same_values(got, expected):
    return (isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(expected.shape)
            and torch.equal(got.double(), expected.double()))


def made_mask_note(worker, config, masks):
    """A preface for an integration test of MADE: empty if the student's ``made_masks`` gives
    ``masks`` (the reference's) for ``config``, else which test to fix first."""
    what = f"made_masks({config['input_dim']}, {list(config['hidden_sizes'])}, order={list(config['order'])})"
    got, error = worker.attempt("made.made_masks", config["input_dim"], list(config["hidden_sizes"]),
                                list(config["order"]), what=what)
    if error is None and isinstance(got, (list, tuple)) and len(got) == len(masks) and all(
            _same_values(g, m) for g, m in zip(got, masks)):
        return ""
    return (f"This integration test builds {made_what(config)} with your made_masks, and {what} does not give the "
            "masks the docstring defines (tests 3.2 and 3.5 show how): fix made_masks first.")


def pixelcnn_mask_note(worker, masks):
    """The same for PixelCNN and ``causal_mask`` (``masks``: ``[{k, type, mask}]``)."""
    for case in masks:
        what = f"causal_mask({case['k']}, '{case['type']}')"
        got, error = worker.attempt("pixelcnn.causal_mask", case["k"], case["type"], what=what)
        if error is not None or not _same_values(got, case["mask"]):
            return (f"This integration test uses your causal_mask through PixelCNN's layers, and {what} is not the "
                    "mask the docstring defines (tests 4.1 and 4.5 show how): fix causal_mask first.")
    return ""


def check_outputs(actual, expected, what, model, dtype, hint="", device="cpu"):
    """The model's outputs are the reference architecture's for the weights the test loaded.
    Where the student's masks are already known to be wrong (a preface says so), the hint
    points there, not at the forward pass."""
    tol = {torch.float64: (1e-7, 1e-9)}.get(dtype, (1e-4, 1e-4))
    if checks.prefaced():
        hint = "your masks are wrong (see the first line): fix them first, then run this test again."
    checks.close(actual, expected, what, rtol=tol[0], atol=tol[1], dtype=dtype, device=device,
                 hint=hint or f"these are not the outputs of {ARCHITECTURE[model]} for the weights the test loaded.")


def check_in_use(worker, model, uses, what, kind, hint=""):
    """A float32 copy of ``model``, called as training and sampling call it (``worker.in_use``:
    train mode with autograd on and an optimizer step after each batch, then eval mode under
    ``no_grad`` through one input tensor written in place), gives the reference outputs on
    every batch of ``uses`` (``{"train": [...], "evaluate": [...]}`` of ``{label, x, out}``;
    see ``examples.in_use``)."""
    plain = worker.convert(model, what=f"{what}.float()", dtype=torch.float32)
    shown = f"{what}.float() as training and sampling call it"
    got = worker.in_use(plain, shown, train=[use["x"] for use in uses["train"]],
                        evaluate=[use["x"] for use in uses["evaluate"]])
    if not isinstance(got, dict) or any(not isinstance(got.get(phase), list) or len(got[phase]) != len(uses[phase])
                                        for phase in uses):
        checks.fail(f"{shown}: returned {checks.kind_of(got)}, expected the model's outputs for each batch.")
    how = {"train": "in train mode with autograd on", "evaluate": "in eval mode under no_grad"}
    for phase in uses:
        for use, out in zip(uses[phase], got[phase]):
            call = f"{what}.float()(x) {how[phase]}, with x {use['label']}"
            check_outputs(out, use["out"], call, kind, torch.float32, hint=hint)


def check_logits(worker, case, hint):
    """The student's model (float32, with the case's parameters loaded, never its masks) gives
    the reference logits on the case's inputs; returns them and the model's description."""
    build = build_made if case["model"] == "made" else build_pixelcnn
    model, what = build(worker, case["config"])
    worker.load_params(model, case["params"], what)
    x = case["x"]
    logits = worker.call_no_grad(model, x, what=f"{what}(x) with x of shape {tuple(x.shape)}")
    check_outputs(logits, case["logits"], f"{what}(x) with the reference weights", case["model"], torch.float32,
                  hint=hint)
    check_in_use(worker, model, case["in_use"], f"{what} with the reference weights", case["model"], hint=hint)
    return logits, what


def check_nll(worker, case, hint, nll):
    """:func:`check_logits`, then the NLL of those logits (``nll(logits, x)``, the grader's) and
    a batch of one on a freshly built model with the case's parameters."""
    logits, what = check_logits(worker, case, hint)
    checks.close(nll(checks.with_data(logits, what), case["x"]), case["nll"], f"NLL of {what} on the reference inputs",
                 rtol=1e-4, atol=1e-3, dtype=torch.float64)
    model, _ = (build_made if case["model"] == "made" else build_pixelcnn)(worker, case["config"])
    worker.load_params(model, case["params"], what)
    one = case["x"][:1]
    check_outputs(worker.call_no_grad(model, one, what=f"{what}(x) with x of shape {tuple(one.shape)}"),
                  case["logits"][:1], f"{what}(x) with a batch of one", case["model"], torch.float32, hint=hint)
