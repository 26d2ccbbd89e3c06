"""Public tests of pixelcnn.py (section 4). Locally the examples are recorded from the reference
solution (tests/fixtures/examples.wire); on the grader they are drawn fresh for your upload,
with the same checks and messages."""
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import autoregressive, checks, models


@weight(1)
@number("4.1")
@visibility("visible")
@tags("pixelcnn", "causal_mask")
def test_causal_mask_small_kernels(worker, ex):
    """causal_mask: types A and B for two odd kernel sizes"""
    pixelcnn = worker.load("pixelcnn")
    for e in ex.get("causal_mask"):
        what = f"causal_mask({e['k']}, '{e['type']}')"
        got = pixelcnn.causal_mask(e["k"], e["type"], what=what)
        checks.same_mask(got, e["out"], what,
                         "1 on every row above the centre and on the centre row left of the centre; "
                         "the centre itself is 1 only for type 'B'.", "row", "col")


@weight(1)
@number("4.2")
@visibility("visible")
@tags("pixelcnn", "MaskedConv2d")
def test_masked_conv_forward(worker, ex):
    """MaskedConv2d (known-good mask): same spatial size, convolves with weight * mask"""
    worker.load("pixelcnn")
    e = ex.get("masked_conv")
    what = f"MaskedConv2d('{e['type']}', {e['in_channels']}, {e['out_channels']}, {e['kernel_size']})"
    conv = worker.call("pixelcnn.MaskedConv2d", e["type"], e["in_channels"], e["out_channels"], e["kernel_size"],
                       what=what)
    worker.load_buffers(conv, {"mask": e["mask"]}, f"{what} with a {models.KNOWN_GOOD[:-1]}")
    worker.load_params(conv, e["params"], what)
    x = e["x"]
    out = worker.call(conv, x, what=f"{what}(x) with x of shape {tuple(x.shape)}")
    checks.close(out, e["out"], f"{what}(x) with a known-good mask in its buffer", rtol=1e-4, atol=1e-5,
                 hint="convolve with self.weight * self.mask and padding kernel_size // 2 so the output "
                      "keeps the input's height and width.")


@weight(1)
@number("4.3")
@visibility("visible")
@tags("pixelcnn", "PixelCNN", "autoregressive")
def test_pixelcnn_is_autoregressive(worker, ex):
    """PixelCNN (integration): each pixel depends only on earlier pixels and its neighbours; PixelCNN's outputs"""
    worker.load("pixelcnn")
    autoregressive.check_pixelcnn(worker, ex.get("pixelcnn_autoregressive"))


@weight(1)
@number("4.4")
@visibility("visible")
@tags("pixelcnn", "PixelCNN", "nll")
def test_pixelcnn_nll_matches_reference(worker, ex):
    """PixelCNN (integration): logits match the reference model on fixed weights"""
    worker.load("pixelcnn")
    case = ex.get("pixelcnn_nll")
    with checks.preface(models.pixelcnn_mask_note(worker, case["masks"])):
        models.check_logits(worker, case, hint="with the same weights your logits should equal the reference's: check "
                                               "that each layer multiplies its weight by its mask and pads by "
                                               "kernel_size // 2.")
