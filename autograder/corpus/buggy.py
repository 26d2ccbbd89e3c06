"""Realistic buggy submissions: the reference solution with exactly one bug, as students make them.

Each bug is one textual edit of one solution file (``old`` must occur exactly once). The
self-test ``test_corpus.py`` grades every one and checks that it loses points in the section
where the bug lives and nowhere else; ``docs/corpus.md`` lists which tests catch each bug.
"""
from dataclasses import dataclass
from pathlib import Path

from ..harness.staging import GRADED

SOLUTION = Path(__file__).resolve().parents[1] / "solution"
SECTION_OF = {"probability.py": 1, "likelihood.py": 2, "made.py": 3, "pixelcnn.py": 4, "sampling.py": 5,
              "training.py": 6}


@dataclass(frozen=True)
class Bug:
    name: str
    file: str
    old: str
    new: str
    description: str
    more: tuple = ()   # further (old, new) edits of the same file, for bugs that span two places

    @property
    def section(self):
        return SECTION_OF[self.file]


BUGS = [
    # --- probability.py ------------------------------------------------------------------------
    Bug("kl_arguments_swapped", "probability.py",
        'p, q = _broadcast("p", p, "q", q)', 'q, p = _broadcast("p", p, "q", q)',
        "computes KL(q || p) instead of KL(p || q)"),
    Bug("kl_naive_0log0_nan", "probability.py",
        "    support = p > 0\n",
        "    return (p * (torch.log(p) - torch.log(q))).sum(dim)\n    support = p > 0\n",
        "naive p * (log p - log q): 0 * log 0 gives NaN"),
    Bug("kl_clamps_q", "probability.py",
        "terms = p_safe * (torch.log(p_safe) - torch.log(q_safe))",
        "terms = p_safe * (torch.log(p_safe) - torch.log(q_safe.clamp_min(1e-12)))",
        "clamps q to avoid log 0, so p > 0 with q = 0 gives a large finite KL instead of +inf"),
    Bug("kl_ignores_dim", "probability.py",
        "return torch.where(support, terms, torch.zeros_like(terms)).sum(dim)",
        "return torch.where(support, terms, torch.zeros_like(terms)).sum(-1)",
        "always sums over the last axis"),
    Bug("kl_logits_softmax_then_log", "probability.py",
        "    log_p = torch.log_softmax(logits_p, dim=dim)\n    log_q = torch.log_softmax(logits_q, dim=dim)\n",
        "    log_p = torch.log(torch.softmax(logits_p, dim=dim))\n    log_q = torch.log(torch.softmax(logits_q, dim=dim))\n",
        "softmax then log: underflows to log 0 for large logits"),
    Bug("kl_logits_not_log_softmaxed", "probability.py",
        "    log_p = torch.log_softmax(logits_p, dim=dim)\n    log_q = torch.log_softmax(logits_q, dim=dim)\n",
        "    log_p = logits_p\n    log_q = logits_q\n",
        "treats raw logits as log-probabilities"),
    Bug("gaussian_kl_logvar_as_logstd", "probability.py",
        "+ torch.exp(logvar_p - logvar_q)", "+ torch.exp(2 * (logvar_p - logvar_q))",
        "treats logvar as log sigma in the variance ratio"),
    Bug("gaussian_kl_swapped", "probability.py",
        "        logvar_q - logvar_p\n        + torch.exp(logvar_p - logvar_q)\n        + (mu_p - mu_q) ** 2 * torch.exp(-logvar_q)",
        "        logvar_p - logvar_q\n        + torch.exp(logvar_q - logvar_p)\n        + (mu_p - mu_q) ** 2 * torch.exp(-logvar_p)",
        "computes KL(q || p) for the Gaussians"),
    # --- likelihood.py -------------------------------------------------------------------------
    Bug("nll_mean_over_pixels", "likelihood.py",
        "return nll.reshape(nll.shape[0], -1).sum(dim=1)", "return nll.reshape(nll.shape[0], -1).mean(dim=1)",
        "averages over pixels instead of summing"),
    Bug("nll_naive_log_sigmoid", "likelihood.py",
        'nll = F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")',
        "p = torch.sigmoid(logits)\n    nll = -(x * torch.log(p) + (1 - x) * torch.log(1 - p))",
        "log(sigmoid) and log(1 - sigmoid): infinite for large logits"),
    Bug("nll_no_shape_check", "likelihood.py",
        "    if logits.shape != x.shape:\n", "    if False:\n",
        "no shape check and a hand-written stable formula: mismatched shapes broadcast silently",
        more=(('nll = F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")',
               "nll = F.softplus(logits) - x * logits"),)),
    Bug("nll_sums_batch_too", "likelihood.py",
        "return nll.reshape(nll.shape[0], -1).sum(dim=1)", "return nll.sum()",
        "returns one number for the whole batch"),
    Bug("bits_per_dim_without_ln2", "likelihood.py",
        "return nll / (num_dims * math.log(2))", "return nll / num_dims",
        "forgets the ln 2 (nats per dim, not bits)"),
    # --- made.py -------------------------------------------------------------------------------
    Bug("degrees_zero_based", "made.py",
        "m0[order] = torch.arange(1, input_dim + 1)", "m0[order] = torch.arange(input_dim)",
        "input degrees start at 0"),
    Bug("degrees_ignore_order", "made.py",
        "m0[order] = torch.arange(1, input_dim + 1)", "m0 = torch.arange(1, input_dim + 1)",
        "input degrees ignore order"),
    Bug("degrees_order_not_inverted", "made.py",
        "m0[order] = torch.arange(1, input_dim + 1)", "m0 = order + 1",
        "uses order[d] + 1 as the degree of d (order read as positions, not inverted)"),
    Bug("hidden_degrees_mod_D", "made.py",
        "[1 + torch.arange(h) % (input_dim - 1) for h in hidden_sizes]",
        "[1 + torch.arange(h) % input_dim for h in hidden_sizes]",
        "hidden degrees run up to D"),
    Bug("hidden_mask_strict", "made.py",
        "(m_out[:, None] >= m_in[None, :])", "(m_out[:, None] > m_in[None, :])",
        "hidden masks use > where >= is needed"),
    Bug("output_mask_not_strict", "made.py",
        "(degrees[0][:, None] > degrees[-1][None, :])", "(degrees[0][:, None] >= degrees[-1][None, :])",
        "output mask uses >= where > is needed: an output sees its own input"),
    Bug("made_mask_not_applied", "made.py",
        "return nn.functional.linear(x, self.weight * self.mask, self.bias)",
        "return nn.functional.linear(x, self.weight, self.bias)",
        "forward ignores the mask"),
    Bug("made_mask_on_bias", "made.py",
        "return nn.functional.linear(x, self.weight * self.mask, self.bias)",
        "return nn.functional.linear(x, self.weight * self.mask, self.bias * (self.mask.sum(1) > 0))",
        "also masks the bias of units with an all-zero mask row"),
    Bug("mask_plain_attribute", "made.py",
        "        with torch.no_grad():\n            self.mask.copy_(mask)\n",
        "        self._mask = mask.clone().float()\n",
        "stores the mask as a plain attribute, so .to(device) leaves it behind",
        more=(("return nn.functional.linear(x, self.weight * self.mask, self.bias)",
               "return nn.functional.linear(x, self.weight * self._mask, self.bias)"),)),
    Bug("set_mask_no_shape_check", "made.py",
        "        if mask.shape != self.mask.shape:\n", "        if False:\n",
        "set_mask accepts any shape (copy_ fails with a RuntimeError or broadcasts)"),
    Bug("made_forward_no_reshape", "made.py",
        "return self.net(x.reshape(x.shape[0], self.input_dim)).reshape(x.shape)",
        "return self.net(x.reshape(x.shape[0], self.input_dim))",
        "returns (B, D) logits for (B, *shape) inputs"),
    # --- pixelcnn.py ---------------------------------------------------------------------------
    Bug("mask_types_swapped", "pixelcnn.py",
        '    if mask_type == "B":\n        mask[c, c] = 1', '    if mask_type == "A":\n        mask[c, c] = 1',
        "type A and type B swapped"),
    Bug("centre_in_type_A", "pixelcnn.py",
        '    if mask_type == "B":\n        mask[c, c] = 1', "    mask[c, c] = 1",
        "the centre is visible in type A too"),
    Bug("centre_row_fully_open", "pixelcnn.py",
        "    mask[c, :c] = 1\n", "    mask[c, :] = 1\n    mask[c, c] = 0\n",
        "the whole centre row is open, including pixels right of the centre"),
    Bug("mask_transposed", "pixelcnn.py",
        "    mask[:c, :] = 1\n    mask[c, :c] = 1\n", "    mask[:, :c] = 1\n    mask[:c, c] = 1\n",
        "column-major causality (left columns and the column above) instead of raster order"),
    Bug("conv_padding_fixed_1", "pixelcnn.py",
        "return self._conv_forward(x, self.weight * self.mask, self.bias)",
        "return F.conv2d(x, self.weight * self.mask, self.bias, padding=1)",
        "padding hard-coded to 1: wrong for kernels other than 3"),
    Bug("conv_mask_not_applied", "pixelcnn.py",
        "return self._conv_forward(x, self.weight * self.mask, self.bias)",
        "return self._conv_forward(x, self.weight, self.bias)",
        "forward ignores the mask"),
    Bug("causal_mask_accepts_even", "pixelcnn.py",
        "or kernel_size < 1 or kernel_size % 2 == 0", "or kernel_size < 1",
        "no ValueError for even kernel sizes"),
    Bug("pixelcnn_no_shape_check", "pixelcnn.py",
        "    if x.dim() != 4 or x.shape[1] != self.in_channels:\n", "    if False:\n",
        "no ValueError for inputs of the wrong shape"),
    # --- sampling.py ---------------------------------------------------------------------------
    Bug("sample_ignores_earlier", "sampling.py",
        "probs = torch.sigmoid(model(x)[:, d])", "probs = torch.sigmoid(model(torch.zeros_like(x))[:, d])",
        "every position is drawn from the model applied to zeros: earlier samples are ignored"),
    Bug("sample_all_at_once", "sampling.py",
        "            for d in model.order.tolist():\n                probs = torch.sigmoid(model(x)[:, d])\n"
        "                x[:, d] = (_uniform(num_samples, probs, generator) < probs).to(dtype)\n",
        "            probs = torch.sigmoid(model(x))\n"
        "            x = (_uniform(probs.shape, probs, generator) < probs).to(dtype)\n",
        "samples all positions at once from a single forward pass"),
    Bug("sample_made_index_order", "sampling.py",
        "for d in model.order.tolist():", "for d in range(model.input_dim):",
        "samples in index order, ignoring model.order"),
    Bug("sample_global_rng", "sampling.py",
        "x[:, d] = (_uniform(num_samples, probs, generator) < probs).to(dtype)",
        "x[:, d] = torch.bernoulli(probs).to(dtype)",
        "torch.bernoulli without the generator: uses the global RNG"),
    Bug("sample_hardcoded_cpu_float32", "sampling.py",
        "x = torch.zeros(num_samples, model.input_dim, device=device, dtype=dtype)",
        "x = torch.zeros(num_samples, model.input_dim)",
        "creates the samples on the CPU in float32 whatever the model's device and dtype"),
    Bug("sample_mode_not_restored", "sampling.py",
        "    finally:\n        model.train(was_training)\n    return x\n    # END SOLUTION\n\n\ndef sample_pixelcnn",
        "    finally:\n        pass\n    return x\n    # END SOLUTION\n\n\ndef sample_pixelcnn",
        "leaves the model in eval mode"),
    Bug("sample_pixelcnn_column_major", "sampling.py",
        "            for r in range(height):\n                for c in range(width):\n",
        "            for c in range(width):\n                for r in range(height):\n",
        "draws pixels column by column instead of in raster order"),
    Bug("sample_threshold_not_random", "sampling.py",
        "x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)",
        "x[:, :, r, c] = (probs > 0.5).to(dtype)",
        "thresholds the probabilities instead of drawing (argmax decoding)"),
    # --- training.py ---------------------------------------------------------------------------
    Bug("train_missing_zero_grad", "training.py",
        "            optimizer.zero_grad()\n", "",
        "never calls optimizer.zero_grad(): gradients accumulate"),
    Bug("train_unweighted_batch_mean", "training.py",
        "            total += loss.item() * x.shape[0]\n            count += x.shape[0]\n",
        "            total += loss.item()\n            count += 1\n",
        "returns the mean of batch means (a short last batch counts fully)"),
    Bug("train_returns_last_loss", "training.py",
        "    return total / count\n    # END SOLUTION\n\n\ndef evaluate",
        "    return loss.item()\n    # END SOLUTION\n\n\ndef evaluate",
        "returns the last batch's loss"),
    Bug("evaluate_mean_of_batch_means", "training.py",
        "                total += bernoulli_nll(model(x), x).sum().item()\n                count += x.shape[0]\n",
        "                total += bernoulli_nll(model(x), x).mean().item()\n                count += 1\n",
        "averages batch means"),
    Bug("evaluate_no_eval_mode", "training.py",
        "    model.eval()\n    total, count, num_dims = 0.0, 0, None\n",
        "    total, count, num_dims = 0.0, 0, None\n",
        "evaluates in train mode"),
    Bug("checkpoint_without_optimizer", "training.py",
        '"optimizer": optimizer.state_dict() if optimizer is not None else None,',
        '"optimizer": None,',
        "saves no optimizer state"),
    Bug("checkpoint_loads_nothing", "training.py",
        'model.load_state_dict(state["model"])', 'state["model"]',
        "load_checkpoint reads the file but never loads the weights into the model"),
    Bug("checkpoint_ignores_scheduler", "training.py",
        '"scheduler": scheduler.state_dict() if scheduler is not None else None,',
        '"scheduler": None,',
        "saves no scheduler state"),
]


def render(bug):
    """``{file name: source}`` of the six graded files with ``bug`` applied."""
    files = {name: (SOLUTION / name).read_text() for name in GRADED}
    source = files[bug.file]
    for old, new in ((bug.old, bug.new), *bug.more):
        if source.count(old) != 1:
            raise ValueError(f"bug {bug.name}: the edit's text occurs {source.count(old)} times in {bug.file}")
        source = source.replace(old, new)
    files[bug.file] = source
    return files


def write(bug, dest):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, source in render(bug).items():
        (dest / name).write_text(source)
    return dest
