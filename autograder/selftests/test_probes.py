"""The workers' gradient probe (``op_jacobian``, tests/probes/server.py) measures what its
docstring defines, ``J[i, j] = max_b |∂ out_b[i] / ∂ in_b[j]|``, whether its backward passes
are batched or, where a model's backward cannot be batched, taken one output at a time."""
import pytest
import torch

from autograder.solution import made, pixelcnn
from tests.probes.server import Server


def by_definition(model, x):
    """One backward pass per output position: the definition, written out."""
    x = x.detach().clone().requires_grad_(True)
    flat = model(x).reshape(x.shape[0], -1)
    rows = []
    for i in range(flat.shape[1]):
        (grad,) = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True, allow_unused=True)
        grad = torch.zeros_like(x) if grad is None else grad
        rows.append(grad.reshape(x.shape[0], -1).abs().amax(0))
    return torch.stack(rows)


class _ItemInBackward(torch.autograd.Function):
    """Doubles its input; the backward reads a Python float, which no batched pass can do."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * (2.0 + 0.0 * float(grad.sum()))


class Unbatchable(torch.nn.Module):
    def forward(self, x):
        return _ItemInBackward.apply(x).cumsum(1)  # output i depends on inputs 0..i


class IgnoresInput(torch.nn.Module):
    def __init__(self, size):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(size))

    def forward(self, x):
        return x.detach() * self.w  # outputs with gradients, none of them through x


def _models():
    torch.manual_seed(0)
    yield "MADE, reversed order", made.MADE(10, [20, 20], order=list(range(10))[::-1]).double(), \
        torch.randn(5, 10, dtype=torch.float64)
    yield "MADE, 130 inputs (3 batched passes)", made.MADE(130, [40]).double(), torch.randn(3, 130, dtype=torch.float64)
    yield "PixelCNN, 3 channels", pixelcnn.PixelCNN(3, 8, 2, 5).double(), torch.randn(2, 3, 6, 5, dtype=torch.float64)
    yield "PixelCNN, one image", pixelcnn.PixelCNN(1, 4, 1, 3), torch.randn(1, 1, 4, 4)
    yield "a backward that cannot be batched", Unbatchable(), torch.randn(2, 5)


@pytest.mark.parametrize("what, model, x", list(_models()), ids=lambda v: v if isinstance(v, str) else "")
def test_jacobian_probe_is_the_definition(what, model, x):
    got = Server(".").op_jacobian(model, x)["jacobian"]
    expected = by_definition(model, x)
    assert got.shape == expected.shape and got.dtype == x.dtype, f"{what}: {got.shape} {got.dtype}"
    assert torch.equal(got != 0, expected != 0), f"{what}: the probe sees other dependencies than the definition"
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0, msg=lambda m: f"{what}: {m}")


def test_unbatchable_backward_really_is_unbatched():
    """The fallback above is exercised: this model's backward fails when batched."""
    x = torch.randn(2, 5, requires_grad=True)
    flat = Unbatchable()(x)
    with pytest.raises(Exception):
        torch.autograd.grad(flat, x, torch.eye(5)[:, None, :].expand(5, 2, 5), is_grads_batched=True)


def test_outputs_not_through_the_input_have_zero_jacobian():
    x = torch.randn(3, 4)
    answer = Server(".").op_jacobian(IgnoresInput(4), x)
    assert torch.equal(answer["jacobian"], torch.zeros(4, 4))
    answer = Server(".").op_jacobian(lambda inputs: inputs.detach() * 2, x)  # no gradient at all
    assert torch.equal(answer["jacobian"], torch.zeros(4, 4))
