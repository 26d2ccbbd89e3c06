"""Hidden tests of pixelcnn.py (section 4).

The student's code runs in a worker (the ``worker`` fixture); the tests send inputs, get plain
data back and compare it here with the grader-only references of :mod:`autograder.oracles`.
"""
from pathlib import Path

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings, strategies as st

from autograder import oracles
from tests.probes import wire
from tests.support import autoregressive, checks, devices, fixtures

HIDDEN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = fixtures.load(HIDDEN_FIXTURES / "pixelcnn_nll.wire")


@weight(1)
@number("4.5")
@visibility("after_published")
@tags("pixelcnn", "causal_mask", "errors")
def test_causal_mask_all_sizes_and_errors(worker):
    """causal_mask: kernel sizes 1 to 9 of both types; ValueError for even, non-positive or unknown"""
    pixelcnn = worker.load("pixelcnn")
    for k in (1, 3, 7, 9):
        for mask_type in ("A", "B"):
            what = f"causal_mask({k}, '{mask_type}')"
            got = pixelcnn.causal_mask(k, mask_type, what=what)
            checks.same_mask(got, oracles.causal_mask(k, mask_type), what,
                             "rows above the centre are 1, the centre row is 1 left of the centre, the centre is "
                             "1 only for type 'B'; everything after the centre is 0.", "row", "col")
    for args, rule in [((4, "A"), "kernel_size 4 is even (no centre pixel)"),
                       ((0, "B"), "kernel_size must be positive"),
                       ((-3, "A"), "kernel_size must be positive"),
                       ((3, "C"), "mask_type must be 'A' or 'B'"),
                       ((3, "a"), "mask_type must be 'A' or 'B' (upper case)")]:
        checks.raises_value_error(worker, "pixelcnn.causal_mask", *args, what=f"causal_mask{args}", rule=rule)


@weight(0.5)
@number("4.6")
@visibility("after_published")
@tags("pixelcnn", "MaskedConv2d")
def test_masked_conv_bias_and_gradients(worker):
    """MaskedConv2d: type B, kernel 1 and 3; bias not masked; masked weights get zero gradient"""
    worker.load("pixelcnn")
    gen = torch.Generator().manual_seed(17)
    for k, mask_type in ((3, "B"), (1, "B"), (1, "A")):
        what = f"MaskedConv2d('{mask_type}', 2, 2, {k})"
        conv = worker.call("pixelcnn.MaskedConv2d", mask_type, 2, 2, k, what=what)
        # The test's own weights (drawn here, loaded by name): the expected output uses only
        # what the test sent.
        weight_, bias = torch.randn(2, 2, k, k, generator=gen) / k, torch.randn(2, generator=gen)
        worker.load_params(conv, {"weight": weight_, "bias": bias}, what)
        mask = oracles.causal_mask(k, mask_type)
        x = torch.randn(2, 2, 4, 5, generator=gen)
        out = worker.call(conv, x, what=f"{what}(x)")
        expected = torch.nn.functional.conv2d(x, weight_ * mask, bias, padding=k // 2)
        checks.close(out, expected, f"{what}(x)", rtol=1e-4, atol=1e-5,
                     hint="convolve with weight * mask, keep the bias unmasked, pad by kernel_size // 2.")
        # The gradient of out.sum() with respect to the layer's weight, computed in the worker
        # and judged here against the reference mask.
        result = worker.grad(conv, x, what=f"backward through {what}", wrt_params=["weight"])
        grad = (result["grads"] or [None])[0]
        if grad is None:
            checks.fail(f"{what}: weight.grad is None after backward; use self.weight * self.mask in forward.")
        grad = checks.tensor(grad, f"{what}: the weight gradient", shape=(2, 2, k, k))
        if isinstance(grad, wire.TensorInfo):
            checks.fail(f"{what}: the weight gradient is a tensor without data (on '{grad.device}').")
        checks.close(grad * (1 - mask), torch.zeros_like(grad),
                     f"{what}: weight gradient at masked positions",
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
def test_pixelcnn_autoregressive_any_shape(worker, config):
    """PixelCNN: exact causality for random image sizes, channels, depths and kernels (gradient check)"""
    worker.load("pixelcnn")
    shape, kernel, layers = config
    autoregressive.check_pixelcnn(worker, shape, hidden=4, layers=layers, kernel=kernel,
                                  generator=torch.Generator().manual_seed(sum(shape) * kernel + layers))


@weight(1)
@number("4.8")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "autoregressive")
def test_pixelcnn_corners_and_channels(worker):
    """PixelCNN: first pixel sees nothing; corners and every channel pair obey raster order"""
    worker.load("pixelcnn")
    gen = torch.Generator().manual_seed(23)
    autoregressive.check_pixelcnn(worker, (3, 4, 4), hidden=6, layers=1, kernel=7, generator=gen)
    autoregressive.check_pixelcnn(worker, (2, 1, 5), hidden=4, layers=1, kernel=3, generator=gen)
    autoregressive.check_pixelcnn(worker, (1, 5, 1), hidden=4, layers=1, kernel=3, generator=gen)


@weight(1)
@number("4.9")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "nll")
def test_pixelcnn_nll_two_channels(worker):
    """PixelCNN: logits and NLL of a 2-channel model match the reference with fixed weights"""
    worker.load("pixelcnn")
    logits, what = fixtures.check_logits(worker, FIXTURE, hint="every MaskedConv2d must convolve with weight * mask "
                                                               "and padding kernel_size // 2.")
    checks.close(oracles.nll(checks.tensor(logits, what), FIXTURE["x"]), FIXTURE["nll"],
                 f"NLL of {what} on the reference inputs", rtol=1e-4, atol=1e-3)


@weight(0.5)
@number("4.10")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "errors")
def test_pixelcnn_rejects_wrong_shapes(worker):
    """PixelCNN: ValueError for inputs that are not (B, in_channels, H, W)"""
    worker.load("pixelcnn")
    model = worker.call("pixelcnn.PixelCNN", 2, 4, 1, 3, what="PixelCNN(2, 4, 1, 3)")
    checks.raises_value_error(worker, model, torch.zeros(3, 1, 5, 5),
                              what="PixelCNN(in_channels=2)(x of shape (3, 1, 5, 5))",
                              rule="x has 1 channel but the model expects 2")
    checks.raises_value_error(worker, model, torch.zeros(2, 5, 5), what="PixelCNN(in_channels=2)(x of shape (2, 5, 5))",
                              rule="x must be 4-D (B, C, H, W)")


@weight(0.5)
@number("4.11")
@visibility("after_published")
@tags("pixelcnn", "PixelCNN", "devices")
def test_pixelcnn_device_portability(worker):
    """PixelCNN: GPU and CPU agree (with CUDA); otherwise masks follow .to(), float64 agrees, meta works"""
    worker.load("pixelcnn")
    model = worker.call("pixelcnn.PixelCNN", 1, 8, 2, 5, what="PixelCNN(1, 8, 2, 5)")
    devices.check_portable(worker, model, (torch.rand(3, 1, 6, 6) < 0.5).float(), "PixelCNN(1, 8, 2, 5)",
                           masked_class="MaskedConv2d")
