"""The reference solution's own contract: ValueErrors that name the argument and the rule, the
provided layers (parameter names, buffers) and the built-in data (the trainer: test_train_cli.py)."""
import pytest
import torch

from autograder.solution import data, likelihood, made, pixelcnn, probability, sampling
from autograder.selftests.conftest import ROOT

MNIST = ROOT.parent / "shared" / "data" / "mnist"


@pytest.mark.parametrize("call, words", [
    (lambda: made.made_degrees(1, [4]), ["input_dim", ">= 2"]),
    (lambda: made.made_degrees(4, [3, 0]), ["hidden size", ">= 1"]),
    (lambda: made.made_masks(3, [4], [0, 1, 1]), ["order", "permutation"]),
    (lambda: made.MaskedLinear(4, 3).set_mask(torch.ones(4, 3)), ["mask", "shape", "(3, 4)"]),
    (lambda: made.MADE(6, [8])(torch.zeros(2, 7)), ["x", "shape", "input_dim=6"]),
    (lambda: pixelcnn.causal_mask(4, "A"), ["kernel_size", "odd"]),
    (lambda: pixelcnn.causal_mask(0, "A"), ["kernel_size", "positive"]),
    (lambda: pixelcnn.causal_mask(3, "C"), ["mask_type", "'A' or 'B'"]),
    (lambda: pixelcnn.PixelCNN(2, 4, 1, 3)(torch.zeros(1, 1, 4, 4)), ["x", "in_channels=2"]),
    (lambda: likelihood.bernoulli_nll(torch.zeros(2, 3), torch.zeros(2, 4)), ["logits", "x", "shape"]),
    (lambda: probability.kl_divergence(torch.ones(2, 3), torch.ones(4, 5)), ["p", "q", "broadcast"]),
    (lambda: sampling.sample_made(made.MADE(3, [4]), 0), ["num_samples", "positive"]),
])
def test_value_errors_name_argument_and_rule(call, words):
    with pytest.raises(ValueError) as info:
        call()
    missing = [w for w in words if w not in str(info.value)]
    assert not missing, f"message {str(info.value)!r} lacks {missing}"


def test_provided_layers_have_fixed_parameter_names_and_mask_buffers():
    model = made.MADE(5, [7, 6])
    assert [n for n, _ in model.named_parameters()] == [
        "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight", "net.4.bias"]
    assert [n for n, _ in model.named_buffers()] == ["net.0.mask", "net.2.mask", "net.4.mask"]
    cnn = pixelcnn.PixelCNN(1, 4, 2, 5)
    types = [(m.mask_type, m.kernel_size[0]) for m in cnn.net if isinstance(m, pixelcnn.MaskedConv2d)]
    assert types == [("A", 5), ("B", 5), ("B", 5), ("B", 1), ("B", 1)]


def test_shapes_dataset_is_binary_and_deterministic():
    a = data.shapes_dataset(2000, seed=3)
    assert a.shape == (2000, 1, 28, 28) and a.dtype == torch.float32
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a, data.shapes_dataset(2000, seed=3))
    assert not torch.equal(a, data.shapes_dataset(2000, seed=4))
    assert 0.05 < a.mean() < 0.5, "images should be neither empty nor full"


@pytest.mark.skipif(not MNIST.exists(), reason="../shared/data/mnist is not here")
def test_mnist_test_set_split_8k_2k(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    train, test = data.load_datasets("mnist", MNIST)
    assert train.shape == (8000, 1, 28, 28) and test.shape == (2000, 1, 28, 28)
    assert set(train.unique().tolist()) == {0.0, 1.0}
    assert 0.08 < train.mean() < 0.2  # binarized digits are mostly background


def test_mnist_missing_files_give_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="--download"):
        data.load_datasets("mnist", tmp_path)
