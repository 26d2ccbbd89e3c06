"""PixelCNN (van den Oord et al., 2016) with masked convolutions — 10 points.

Pixels are generated in raster order (row by row, left to right). A type-``'A'`` mask (first
layer) hides the current pixel and everything after it; type-``'B'`` masks (later layers)
also let a position see itself, which is safe because after layer A "itself" already only
carries information about earlier pixels. The same spatial mask is used for every channel
pair, so the channels of one pixel are conditionally independent given the earlier pixels.
"""
import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["causal_mask", "MaskedConv2d", "PixelCNN"]


def causal_mask(kernel_size, mask_type):
    """A ``(k, k)`` float mask: 1 on every row above the centre and on the centre row left of
    the centre; the centre itself is 1 only for ``mask_type == 'B'``.

    For ``k = 3``::

        type A      type B
        1 1 1       1 1 1
        1 0 0       1 1 0
        0 0 0       0 0 0

    Raises ``ValueError`` for an even or non-positive ``kernel_size`` or a type other than
    ``'A'``/``'B'``.
    """
    # BEGIN SOLUTION: start from zeros, fill the rows above the centre and the left part of the centre row
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:c, :] = 1
    mask[c, :c] = 1
    if mask_type == "B":
        mask[c, c] = 1
    return mask
    # END SOLUTION


class MaskedConv2d(nn.Conv2d):
    r"""A same-size 2-D convolution whose kernel is multiplied by a causal mask.

    .. math:: y = (W \odot M) \star x + b, \qquad M = \mathrm{causal\_mask}(k, \text{type})

    with padding ``k // 2``; ``mask`` is a ``(k, k)`` buffer broadcast over channels.
    """

    def __init__(self, mask_type, in_channels, out_channels, kernel_size, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type))

    def forward(self, x):
        # BEGIN SOLUTION: self._conv_forward(x, weight, bias) convolves with this layer's padding
        return self._conv_forward(x, self.weight * self.mask, self.bias)
        # END SOLUTION


class PixelCNN(nn.Module):
    """PixelCNN for binary images: ``(B, C, H, W)`` → Bernoulli logits of the same shape.

    ``self.net``: ``MaskedConv2d('A', C, h, k)``, ReLU, ``num_layers`` × [``MaskedConv2d('B',
    h, h, k)``, ReLU], ``MaskedConv2d('B', h, h, 1)``, ReLU, ``MaskedConv2d('B', h, C, 1)``.
    Outputs follow the parameters' dtype and device (``model.double()`` gives float64 logits),
    and they are the same function of ``x`` for every batch (binary or real-valued, of any
    size), in train and eval mode, with or without autograd.
    """

    def __init__(self, in_channels=1, hidden_channels=64, num_layers=5, kernel_size=7):
        super().__init__()
        self.in_channels = in_channels
        h, k = hidden_channels, kernel_size
        layers = [MaskedConv2d("A", in_channels, h, k), nn.ReLU()]
        for _ in range(num_layers):
            layers += [MaskedConv2d("B", h, h, k), nn.ReLU()]
        layers += [MaskedConv2d("B", h, h, 1), nn.ReLU(), MaskedConv2d("B", h, in_channels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        """Logits of the same shape as ``x`` ``(B, C, H, W)``; ``ValueError`` on another shape."""
        # BEGIN SOLUTION: check the shape, then run self.net
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"PixelCNN(in_channels={self.in_channels}) expects x of shape "
                f"(B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        return self.net(x)
        # END SOLUTION
