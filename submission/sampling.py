r"""Ancestral sampling from autoregressive models of binary data (6 points).

Both samplers draw one position at a time, in generation order, each from a Bernoulli whose
logit the model computes from the positions drawn so far:

.. math:: x_{\pi(i)} \sim \mathrm{Bernoulli}\big(\sigma(f(x_{\pi(<i)})_{\pi(i)})\big)

They rely only on ``model(x)`` (and ``model.input_dim``, ``model.order`` for MADE), take all
randomness from ``generator`` (never from torch's global generator, unless ``generator`` is
None), call the model in eval mode (``model.eval()``) under ``torch.no_grad()``, return samples
(every entry 0. or 1.) on the device and in the dtype of the model's parameters, and restore the
model's train/eval mode afterwards.
"""
import torch

__all__ = ["sample_made", "sample_pixelcnn"]


def _check_count(num_samples):
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")


def _device_dtype(model):
    """Device and dtype of the model's first parameter (or buffer); CPU float32 if it has none."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _uniform(shape, like, generator):
    """Uniform noise drawn from ``generator`` on the generator's own device, moved to ``like``."""
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def sample_made(model, num_samples, generator=None):
    """Draw ``num_samples`` samples ``(N, D)`` from a MADE-like model by ancestral sampling.

    Position ``model.order[i]`` is drawn at step ``i`` from one forward pass on the samples so far.
    """
    raise NotImplementedError('Hint: start from zeros; for each position in model.order run the model and draw that position only')


def sample_pixelcnn(model, num_samples, image_shape, generator=None):
    """Draw ``num_samples`` images ``(N, C, H, W)`` from a PixelCNN-like model.

    Pixels are drawn in raster order, one forward pass each; the ``C`` channels of a pixel are
    drawn together (they are conditionally independent given the earlier pixels).
    """
    raise NotImplementedError('Hint: loop over rows then columns; draw all channels of pixel (r, c) from one forward pass')
