"""Hidden tests of pixelcnn.py (section 4).

The student's code runs in a worker (the ``worker`` fixture); the tests draw weights and
inputs for this upload (``ex``), get plain data back and compare it here with the grader-only
references of :mod:`autograder.oracles`. Tests of ``MaskedConv2d`` and of PixelCNN's forward
load known-good masks; the integration tests (4.7, 4.8, 4.9) use the student's own masks.
"""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings, strategies as st

from autograder import examples, oracles
from tests.support import autoregressive, checks, devices, models

MASK_RULE = "rows above the centre are 1, the centre row is 1 left of the centre, the centre is 1 only for 'B'"


@weight(1)
@number("4.5")
@visibility("after_published")
@tags("pixelcnn", "causal_mask", "errors")
def test_causal_mask_all_sizes_and_errors(worker):
    """causal_mask: kernel sizes 1 to 9 of both types (float masks); ValueError for even, non-positive or unknown"""
    pixelcnn = worker.load("pixelcnn")
    for k in (1, 3, 5, 7, 9):
        for mask_type in ("A", "B"):
            what = f"causal_mask({k}, '{mask_type}')"
            checks.same_mask(pixelcnn.causal_mask(k, mask_type, what=what), oracles.causal_mask(k, mask_type), what,
                             MASK_RULE, "row", "col")
    for args, rule in [((4, "A"), "the kernel size must be odd"), ((0, "B"), "the kernel size must be positive"),
                       ((-3, "A"), "the kernel size must be positive"), ((3, "C"), "the type must be 'A' or 'B'")]:
        checks.raises_value_error(worker, "pixelcnn.causal_mask", *args, what=f"causal_mask({args[0]}, '{args[1]}')",
                                  rule=rule)


@weight(0.5)
@number("4.6")
@visibility("after_published")
@tags("pixelcnn", "MaskedConv2d")
def test_masked_conv_bias_and_gradients(worker, ex):
    """MaskedConv2d (known-good masks): types A and B, kernels 1 and 3; bias unmasked; exact gradients; bias=False"""
    worker.load("pixelcnn")
    gen = ex.generator("layers")
    for k, mask_type, bias in ((3, "B", True), (1, "B", True), (1, "A", True), (3, "A", False)):
        c_in, c_out = int(torch.randint(1, 4, (1,), generator=gen)), int(torch.randint(1, 4, (1,), generator=gen))
        what = f"MaskedConv2d('{mask_type}', {c_in}, {c_out}, {k}{'' if bias else ', bias=False'})"
        conv = worker.call("pixelcnn.MaskedConv2d", mask_type, c_in, c_out, k, bias=bias, what=what)
        mask = oracles.causal_mask(k, mask_type)
        worker.load_buffers(conv, {"mask": mask}, f"{what} with a known-good mask")
        params = {"weight": torch.randn(c_out, c_in, k, k, generator=gen) / k}
        if bias:
            params["bias"] = torch.randn(c_out, generator=gen)
        worker.load_params(conv, params, what)
        x = torch.randn(2, c_in, 4, 5, generator=gen)
        out = worker.call(conv, x, what=f"{what}(x)")
        checks.close(out, oracles.masked_conv(params, mask, x), f"{what}(x) with a known-good mask in its buffer",
                     rtol=1e-4, atol=1e-5, dtype=torch.float32,
                     hint="convolve with weight * mask, keep the bias unmasked (None with bias=False), pad by "
                          "kernel_size // 2.")
        # The gradient of sum(c * out) for a random c, computed in the worker, against the exact one.
        c = torch.randn(out.shape, generator=gen)
        result = worker.grad(conv, x, what=f"backward through {what}", wrt_params=["weight"], cotangent=c)
        grad = (result["grads"] or [None])[0]
        if grad is None:
            checks.fail(f"{what}: weight.grad is None after backward; use self.weight * self.mask in forward.")
        w = params["weight"].double().requires_grad_(True)
        reference = torch.autograd.grad((oracles.masked_conv({**params, "weight": w}, mask, x) * c.double()).sum(), w)[0]
        checks.close(grad, reference, f"{what}: the gradient of the weight", rtol=1e-4, atol=1e-5, dtype=torch.float32,
                     hint="masking the weight in place (e.g. self.weight.data *= self.mask) leaves non-zero "
                          "gradients at the masked positions, even when it is done on every call. Make the mask part "
                          "of the computation: convolve with self.weight * self.mask inside the convolution call "
                          "(self._conv_forward(x, self.weight * self.mask, self.bias)), so that autograd zeroes "
                          "those gradients.")


@st.composite
def pixel_configs(draw):
    channels = draw(st.integers(1, 3))
    height, width = draw(st.integers(3, 6)), draw(st.integers(3, 6))
    kernel = draw(st.sampled_from([3, 5]))
    layers = draw(st.integers(0, 2))
    return (channels, height, width), kernel, layers


@weight(1.5)
@number("4.7")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "autoregressive")
@settings(max_examples=8)
@given(config=pixel_configs())
def test_pixelcnn_autoregressive_any_shape(worker, ex, config):
    """PixelCNN (integration): exact causality and PixelCNN's outputs for random sizes, channels, depths, kernels"""
    worker.load("pixelcnn")
    shape, kernel, layers = config
    case = examples.pixelcnn_case(ex.generator(shape, kernel, layers), examples.OracleReference, shape, hidden=4,
                                  layers=layers, kernel=kernel)
    autoregressive.check_pixelcnn(worker, case)


@weight(1)
@number("4.8")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "autoregressive")
def test_pixelcnn_corners_and_channels(worker, ex):
    """PixelCNN (integration): first pixel sees nothing; corners and every channel pair obey raster order"""
    worker.load("pixelcnn")
    for i, (shape, hidden, kernel) in enumerate((((3, 4, 4), 6, 7), ((2, 1, 5), 4, 3), ((1, 5, 1), 4, 3))):
        case = examples.pixelcnn_case(ex.generator(i), examples.OracleReference, shape, hidden=hidden, layers=1,
                                      kernel=kernel)
        autoregressive.check_pixelcnn(worker, case)


@weight(1)
@number("4.9")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "nll")
def test_pixelcnn_nll_two_channels(worker, ex):
    """PixelCNN (integration): logits and NLL of a 2-channel model, and of a batch of one, match the reference"""
    worker.load("pixelcnn")
    gen = ex.generator("case")
    config = {"in_channels": 2, "hidden_channels": 8, "num_layers": 3, "kernel_size": 3}
    case = examples.nll_case(gen, examples.OracleReference, "pixelcnn", config,
                             [int(torch.randint(24, 49, (1,), generator=gen)), 2, 7, 7])
    with checks.preface(models.pixelcnn_mask_note(worker, examples.pixelcnn_masks(examples.OracleReference, 3))):
        hint = "every MaskedConv2d must convolve with weight * mask and padding kernel_size // 2."
        models.check_nll(worker, case, hint, oracles.nll)


@weight(0.5)
@number("4.10")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "errors")
def test_pixelcnn_rejects_wrong_shapes(worker, ex):
    """PixelCNN (known-good masks): outputs for square, non-square and single images; ValueError for other shapes"""
    worker.load("pixelcnn")
    gen = ex.generator("weights")
    config = {"in_channels": 2, "hidden_channels": 4, "num_layers": 1, "kernel_size": 3}
    model, what, params = models.known_good(worker, config, oracles.pixelcnn_mask_buffers(**config),
                                              oracles.pixelcnn_param_shapes(**config), gen)
    for shape in [(3, 2, 5, 5), (1, 2, 4, 6), (2, 2, 6, 3)]:
        x = (torch.rand(shape, generator=gen) < 0.5).float()
        models.check_outputs(worker.call_no_grad(model, x, what=f"{what}(x) with x of shape {shape}"),
                             oracles.pixelcnn_forward(config, params, x),
                             f"{what}(x) with x of shape {shape} ({models.KNOWN_GOOD})", "pixelcnn", torch.float32)
    models.check_in_use(worker, model, examples.in_use(gen, lambda x: oracles.pixelcnn_forward(config, params, x),
                                                       (2, 5, 4)), f"{what} with {models.KNOWN_GOOD}", "pixelcnn")
    checks.raises_value_error(worker, model, torch.zeros(3, 1, 5, 5), what=f"{what}(x of shape (3, 1, 5, 5))",
                              rule="x has 1 channel but the model expects 2")
    checks.raises_value_error(worker, model, torch.zeros(2, 5, 5), what=f"{what}(x of shape (2, 5, 5))",
                              rule="x must be 4-D (B, C, H, W)")


@weight(0.5)
@number("4.11")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "devices")
def test_pixelcnn_device_portability(worker, ex):
    """PixelCNN (known-good masks): GPU and CPU agree (with CUDA); float32 and float64 outputs; meta works"""
    worker.load("pixelcnn")
    gen = ex.generator("weights")
    config = {"in_channels": 1, "hidden_channels": 8, "num_layers": 2, "kernel_size": 5}
    model, what, params = models.known_good(worker, config, oracles.pixelcnn_mask_buffers(**config),
                                              oracles.pixelcnn_param_shapes(**config), gen)
    x = (torch.rand(3, 1, 6, 6, generator=gen) < 0.5).float()
    devices.check_portable(worker, model, x, oracles.pixelcnn_forward(config, params, x),
                           f"{what} with {models.KNOWN_GOOD}", "pixelcnn")
    models.check_in_use(worker, model, examples.in_use(gen, lambda x: oracles.pixelcnn_forward(config, params, x),
                                                       (1, 28, 28), train_rows=96, eval_rows=64),
                        f"{what} with {models.KNOWN_GOOD}", "pixelcnn")
