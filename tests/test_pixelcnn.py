"""Public tests of pixelcnn.py (section 4)."""
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

from tests.support import autoregressive, checks, fixtures, oracles, student

FIXTURE = fixtures.load(fixtures.PUBLIC / "pixelcnn_nll.pt")


@weight(1)
@number("4.1")
@visibility("visible")
@tags("pixelcnn", "causal_mask")
def test_causal_mask_small_kernels():
    """causal_mask: types A and B for kernel sizes 3 and 5"""
    pixelcnn = student.load("pixelcnn")
    for k in (3, 5):
        for mask_type in ("A", "B"):
            what = f"causal_mask({k}, '{mask_type}')"
            got = student.call(pixelcnn.causal_mask, k, mask_type, what=what)
            checks.same_mask(got, oracles.causal_mask(k, mask_type), what,
                             "1 on every row above the centre and on the centre row left of the centre; "
                             "the centre itself is 1 only for type 'B'.", "row", "col")


@weight(1)
@number("4.2")
@visibility("visible")
@tags("pixelcnn", "MaskedConv2d")
def test_masked_conv_forward():
    """MaskedConv2d: same spatial size, convolves with weight * mask"""
    pixelcnn = student.load("pixelcnn")
    gen = torch.Generator().manual_seed(7)
    what = "MaskedConv2d('A', 2, 3, 5)"
    conv = student.call(pixelcnn.MaskedConv2d, "A", 2, 3, 5, what=what)
    x = torch.randn(2, 2, 6, 7, generator=gen)
    out = student.call(conv, x, what=f"{what}(x) with x of shape (2, 2, 6, 7)")
    expected = torch.nn.functional.conv2d(x, conv.weight.detach() * oracles.causal_mask(5, "A"),
                                          conv.bias.detach(), padding=2)
    checks.close(out, expected, f"{what}(x)", rtol=1e-4, atol=1e-5,
                 hint="convolve with self.weight * self.mask and padding kernel_size // 2 so the output "
                      "keeps the input's height and width.")


@weight(1)
@number("4.3")
@visibility("visible")
@tags("pixelcnn", "PixelCNN", "autoregressive")
def test_pixelcnn_is_autoregressive():
    """PixelCNN: each pixel depends only on earlier pixels, and on its left and upper neighbours"""
    pixelcnn = student.load("pixelcnn")
    gen = torch.Generator().manual_seed(8)
    autoregressive.check_pixelcnn(pixelcnn, (1, 5, 5), hidden=6, layers=2, kernel=3, generator=gen)


@weight(1)
@number("4.4")
@visibility("visible")
@tags("pixelcnn", "PixelCNN", "nll")
def test_pixelcnn_nll_matches_reference():
    """PixelCNN: logits and NLL match the reference model on fixed weights"""
    fixtures.check_nll(FIXTURE, hint="with the same weights your logits should equal the reference's: check the "
                                     "masks, the padding and that each layer multiplies its weight by its mask.")
