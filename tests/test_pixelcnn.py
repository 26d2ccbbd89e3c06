"""Public tests of pixelcnn.py (section 4). Expected values are recorded from the reference
solution (tests/fixtures/); the causality check needs no reference."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import autoregressive, checks, fixtures

EXAMPLES = fixtures.examples()
FIXTURE = fixtures.load(fixtures.PUBLIC / "pixelcnn_nll.wire")


@weight(1)
@number("4.1")
@visibility("visible")
@tags("pixelcnn", "causal_mask")
def test_causal_mask_small_kernels(worker):
    """causal_mask: types A and B for kernel sizes 3 and 5"""
    pixelcnn = worker.load("pixelcnn")
    for ex in EXAMPLES["causal_mask"]:
        what = f"causal_mask({ex['k']}, '{ex['type']}')"
        got = pixelcnn.causal_mask(ex["k"], ex["type"], what=what)
        checks.same_mask(got, ex["out"], what,
                         "1 on every row above the centre and on the centre row left of the centre; "
                         "the centre itself is 1 only for type 'B'.", "row", "col")


@weight(1)
@number("4.2")
@visibility("visible")
@tags("pixelcnn", "MaskedConv2d")
def test_masked_conv_forward(worker):
    """MaskedConv2d: same spatial size, convolves with weight * mask"""
    worker.load("pixelcnn")
    ex = EXAMPLES["masked_conv"]
    what = "MaskedConv2d('A', 2, 3, 5)"
    conv = worker.call("pixelcnn.MaskedConv2d", "A", 2, 3, 5, what=what)
    worker.load_params(conv, ex["params"], what)
    out = worker.call(conv, ex["x"], what=f"{what}(x) with x of shape (2, 2, 6, 7)")
    checks.close(out, ex["out"], f"{what}(x)", rtol=1e-4, atol=1e-5,
                 hint="convolve with self.weight * self.mask and padding kernel_size // 2 so the output "
                      "keeps the input's height and width.")


@weight(1)
@number("4.3")
@visibility("visible")
@tags("pixelcnn", "PixelCNN", "autoregressive")
def test_pixelcnn_is_autoregressive(worker):
    """PixelCNN: each pixel depends only on earlier pixels, and on its left and upper neighbours"""
    worker.load("pixelcnn")
    gen = torch.Generator().manual_seed(8)
    autoregressive.check_pixelcnn(worker, (1, 5, 5), hidden=6, layers=2, kernel=3, generator=gen)


@weight(1)
@number("4.4")
@visibility("visible")
@tags("pixelcnn", "PixelCNN", "nll")
def test_pixelcnn_nll_matches_reference(worker):
    """PixelCNN: logits and NLL match the reference model on fixed weights"""
    worker.load("pixelcnn")
    fixtures.check_logits(worker, FIXTURE, hint="with the same weights your logits should equal the reference's: "
                                               "check the masks, the padding and that each layer multiplies its "
                                               "weight by its mask.")
