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
    Bug("kl_casts_float32", "probability.py",
        'p, q = _broadcast("p", p, "q", q)', 'p, q = _broadcast("p", p, "q", q)\n    p, q = p.float(), q.float()',
        "casts p and q to float32: float64 inputs give float32 results"),
    Bug("kl_zeros_on_cpu", "probability.py",
        "return torch.where(support, terms, torch.zeros_like(terms)).sum(dim)",
        "return torch.where(support, terms, torch.zeros(terms.shape)).sum(dim)",
        "torch.zeros(terms.shape) for the zero terms: a float32 CPU tensor whatever the inputs' device"),
    Bug("kl_threshold_support", "probability.py",
        "    support = p > 0\n", "    support = p > 1e-12\n",
        "treats p <= 1e-12 as 0, so a tiny p with q = 0 gives a finite KL instead of +inf"),
    Bug("kl_log_ratio_masked_after", "probability.py",
        "    # Substitute harmless values outside the support so that neither the forward pass\n"
        "    # nor the backward pass ever evaluates 0 * log 0.\n"
        "    p_safe = torch.where(support, p, torch.ones_like(p))\n"
        "    q_safe = torch.where(support, q, torch.ones_like(q))\n"
        "    terms = p_safe * (torch.log(p_safe) - torch.log(q_safe))\n"
        "    return torch.where(support, terms, torch.zeros_like(terms)).sum(dim)\n",
        "    return torch.where(support, p * torch.log(p / q), torch.zeros_like(p)).sum(dim)\n",
        "masks p * log(p / q) only after computing it: right values, but the gradient wrt q is NaN where p = 0"),
    Bug("kl_xlogy_cross_term", "probability.py",
        "terms = p_safe * (torch.log(p_safe) - torch.log(q_safe))\n    return torch.where(support, terms, torch.zeros_like(terms)).sum(dim)",
        "return (torch.xlogy(p, p) - p * torch.log(q)).sum(dim)",
        "xlogy for p log p but a plain p * log q: a term with p = 0 and q = 0 gives NaN"),
    Bug("kl_keepdim", "probability.py",
        "return torch.where(support, terms, torch.zeros_like(terms)).sum(dim)",
        "return torch.where(support, terms, torch.zeros_like(terms)).sum(dim, keepdim=True)",
        "keeps the summed axis (keepdim=True): shape (B, 1) instead of (B,)"),
    Bug("kl_no_validation", "probability.py",
        '    p, q = _broadcast("p", p, "q", q)\n    _check_dim(dim, p.dim())\n', "",
        "no checks: shapes that do not broadcast raise RuntimeError and a bad dim IndexError, not ValueError"),
    Bug("kl_requires_same_shape", "probability.py",
        'p, q = _broadcast("p", p, "q", q)',
        'if p.shape != q.shape:\n        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")',
        "raises ValueError unless p and q have the same shape, instead of broadcasting"),
    Bug("kl_logits_ignores_dim", "probability.py",
        "    log_p = torch.log_softmax(logits_p, dim=dim)\n    log_q = torch.log_softmax(logits_q, dim=dim)\n"
        "    return (log_p.exp() * (log_p - log_q)).sum(dim)",
        "    log_p = torch.log_softmax(logits_p, dim=-1)\n    log_q = torch.log_softmax(logits_q, dim=-1)\n"
        "    return (log_p.exp() * (log_p - log_q)).sum(-1)",
        "kl_divergence_logits normalises and sums over the last axis whatever dim is"),
    Bug("kl_logits_float32", "probability.py",
        'logits_p, logits_q = _broadcast("logits_p", logits_p, "logits_q", logits_q)',
        'logits_p, logits_q = _broadcast("logits_p", logits_p, "logits_q", logits_q)\n'
        "    logits_p, logits_q = logits_p.float(), logits_q.float()",
        "kl_divergence_logits casts the logits to float32: float64 in, float32 out"),
    Bug("kl_logits_requires_same_shape", "probability.py",
        'logits_p, logits_q = _broadcast("logits_p", logits_p, "logits_q", logits_q)',
        "if logits_p.shape != logits_q.shape:\n"
        '        raise ValueError(f"logits_p and logits_q must have the same shape, got {logits_p.shape} and {logits_q.shape}")',
        "kl_divergence_logits raises ValueError unless both logits have the same shape, instead of broadcasting"),
    Bug("gaussian_kl_exp_ratio", "probability.py",
        "+ torch.exp(logvar_p - logvar_q)", "+ torch.exp(logvar_p) / torch.exp(logvar_q)",
        "variance ratio as exp(logvar_p) / exp(logvar_q): inf or 0/0 for huge or tiny variances"),
    Bug("gaussian_kl_log_of_variances", "probability.py",
        "        logvar_q - logvar_p\n", "        torch.log(torch.exp(logvar_q)) - torch.log(torch.exp(logvar_p))\n",
        "takes the log of the variances exp(logvar): inf - inf or log 0 for huge or tiny variances"),
    Bug("gaussian_kl_requires_same_shape", "probability.py",
        "    try:\n        mu_p, logvar_p, mu_q, logvar_q = torch.broadcast_tensors(mu_p, logvar_p, mu_q, logvar_q)\n"
        "    except RuntimeError:\n",
        "    if not mu_p.shape == logvar_p.shape == mu_q.shape == logvar_q.shape:\n",
        "gaussian_kl raises ValueError unless its four arguments have the same shape, instead of broadcasting"),
    Bug("gaussian_kl_sums", "probability.py",
        "        - 1.0\n    )\n", "        - 1.0\n    ).sum(-1)\n",
        "sums the elementwise KL over the last axis (as in a VAE loss) instead of returning it elementwise"),
    Bug("gaussian_kl_float32", "probability.py",
        "    return 0.5 * (\n        logvar_q - logvar_p\n",
        "    mu_p, logvar_p, mu_q, logvar_q = mu_p.float(), logvar_p.float(), mu_q.float(), logvar_q.float()\n"
        "    return 0.5 * (\n        logvar_q - logvar_p\n",
        "gaussian_kl casts its arguments to float32: float64 in, float32 out"),
    Bug("gaussian_kl_ones_on_cpu", "probability.py",
        "        - 1.0\n    )\n", "        - torch.ones(mu_p.shape)\n    )\n",
        "subtracts torch.ones(mu_p.shape), a CPU tensor, for the - 1: fails for inputs on another device"),
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
    Bug("nll_float32", "likelihood.py",
        'nll = F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")',
        'nll = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")',
        "computes the NLL in float32 whatever the logits' dtype"),
    Bug("nll_accumulates_in_cpu_zeros", "likelihood.py",
        "    return nll.reshape(nll.shape[0], -1).sum(dim=1)\n",
        "    total = torch.zeros(nll.shape[0])\n    total += nll.reshape(nll.shape[0], -1).sum(dim=1)\n    return total\n",
        "accumulates into torch.zeros(B): a float32 CPU tensor whatever the logits' dtype and device"),
    Bug("bits_per_dim_hardcodes_784", "likelihood.py",
        "return nll / (num_dims * math.log(2))", "return nll / (784 * math.log(2))",
        "divides by 784 (MNIST's 28 x 28) instead of num_dims"),
    Bug("bits_per_dim_no_check", "likelihood.py",
        "    if isinstance(num_dims, bool) or int(num_dims) != num_dims or num_dims < 1:\n"
        '        raise ValueError(f"num_dims must be a positive integer, got {num_dims!r}")\n', "",
        "no ValueError for num_dims < 1 (divides by zero or returns a negative value)"),
    Bug("bits_per_dim_returns_tensor", "likelihood.py",
        "return nll / (num_dims * math.log(2))", "return torch.as_tensor(nll) / (num_dims * math.log(2))",
        "wraps nll in torch.as_tensor: a Python float in gives a 0-d tensor out"),
    Bug("bits_per_dim_float32_tensor", "likelihood.py",
        "return nll / (num_dims * math.log(2))",
        "return torch.as_tensor(nll, dtype=torch.float32) / (num_dims * math.log(2))",
        "converts nll to a float32 tensor: a float gives a tensor, a float64 tensor a float32 one"),
    Bug("nll_no_batch_check", "likelihood.py",
        "    if logits.dim() < 1:\n", "    if False:\n",
        "no ValueError for 0-d inputs without a batch dimension (an IndexError instead)"),
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
    Bug("degrees_int32", "made.py",
        "m0 = torch.empty(input_dim, dtype=torch.long)", "m0 = torch.empty(input_dim, dtype=torch.int32)",
        "input degrees are an int32 tensor, not a LongTensor",
        more=(("m0[order] = torch.arange(1, input_dim + 1)", "m0[order] = torch.arange(1, input_dim + 1, dtype=torch.int32)"),)),
    Bug("degrees_no_order_check", "made.py",
        "    order = _check_order(order, input_dim)\n    m0 = torch.empty",
        "    order = torch.arange(input_dim) if order is None else torch.as_tensor(order)\n    m0 = torch.empty",
        "made_degrees never checks that order is a permutation"),
    Bug("degrees_no_size_check", "made.py",
        "    hidden_sizes = _check_sizes(input_dim, hidden_sizes)\n    order = _check_order(order, input_dim)\n",
        "    hidden_sizes = list(hidden_sizes)\n    order = _check_order(order, input_dim)\n",
        "made_degrees never checks input_dim >= 2 and hidden sizes >= 1"),
    Bug("masks_bool", "made.py",
        "(m_out[:, None] >= m_in[None, :]).float()", "(m_out[:, None] >= m_in[None, :])",
        "made_masks returns bool masks (no .float())",
        more=(("(degrees[0][:, None] > degrees[-1][None, :]).float()", "(degrees[0][:, None] > degrees[-1][None, :])"),)),
    Bug("masks_no_hidden_geq", "made.py",
        "    degrees = made_degrees(input_dim, hidden_sizes, order)\n",
        "    degrees = made_degrees(input_dim, hidden_sizes, order)\n"
        "    if not hidden_sizes:\n        return [(degrees[0][:, None] >= degrees[0][None, :]).float()]\n",
        "without hidden layers the single mask uses >= : every output sees its own input"),
    Bug("masks_transposed", "made.py",
        "    masks = [(m_out[:, None] >= m_in[None, :]).float() for m_in, m_out in zip(degrees[:-1], degrees[1:])]\n"
        "    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())\n",
        "    masks = [(m_in[:, None] <= m_out[None, :]).float() for m_in, m_out in zip(degrees[:-1], degrees[1:])]\n"
        "    masks.append((degrees[-1][:, None] < degrees[0][None, :]).float())\n",
        "masks shaped (in_features, out_features), the transpose of the layer's weight"),
    Bug("masked_linear_bias_added_manually", "made.py",
        "return nn.functional.linear(x, self.weight * self.mask, self.bias)",
        "return nn.functional.linear(x, self.weight * self.mask) + self.bias",
        "adds self.bias by hand: fails for bias=False"),
    Bug("masked_linear_in_place_mask", "made.py",
        "        return nn.functional.linear(x, self.weight * self.mask, self.bias)\n",
        "        self.weight.data.mul_(self.mask)\n        return nn.functional.linear(x, self.weight, self.bias)\n",
        "masks the weight in place (weight.data.mul_): masked weights still get gradients, and are lost for good"),
    Bug("made_no_size_check", "made.py",
        "        if x.dim() < 2 or math.prod(x.shape[1:]) != self.input_dim:\n", "        if False:\n",
        "MADE.forward raises no ValueError for a wrong number of values per example"),
    Bug("made_forward_casts_float32", "made.py",
        "        return self.net(x.reshape(x.shape[0], self.input_dim)).reshape(x.shape)\n",
        "        x = x.float()\n        return self.net(x.reshape(x.shape[0], self.input_dim)).reshape(x.shape)\n",
        "MADE.forward casts x to float32: fails for a float64 model"),
    Bug("made_dropout_in_train_mode", "made.py",
        "        return self.net(x.reshape(x.shape[0], self.input_dim)).reshape(x.shape)\n",
        "        h = x.reshape(x.shape[0], self.input_dim)\n"
        "        for layer in self.net:\n"
        "            h = layer(h)\n"
        "            if isinstance(layer, nn.ReLU):\n"
        "                h = nn.functional.dropout(h, 0.1, self.training)  # regularisation\n"
        "        return h.reshape(x.shape)\n",
        "MADE.forward adds dropout after each ReLU in train mode: the outputs are another (random) function "
        "while training"),
    Bug("set_mask_assigns", "made.py",
        "        with torch.no_grad():\n            self.mask.copy_(mask)\n",
        "        self.mask = mask.float()\n",
        "set_mask replaces the buffer by the given tensor (on its device) instead of copying into it"),
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
    Bug("causal_mask_bool", "pixelcnn.py",
        "mask = torch.zeros(kernel_size, kernel_size)", "mask = torch.zeros(kernel_size, kernel_size, dtype=torch.bool)",
        "causal_mask returns a bool mask"),
    Bug("causal_mask_one_row_above", "pixelcnn.py",
        "    mask[:c, :] = 1\n", "    mask[c - 1, :] = 1\n",
        "opens only the row just above the centre, not every row above it"),
    Bug("causal_mask_accepts_unknown_type", "pixelcnn.py",
        "    if mask_type not in (\"A\", \"B\"):\n", "    if False:\n",
        "no ValueError for a mask type other than 'A' or 'B' (treated as 'A')"),
    Bug("causal_mask_accepts_negative", "pixelcnn.py",
        "or kernel_size < 1 or kernel_size % 2 == 0", "or kernel_size % 2 == 0",
        "checks only that kernel_size is odd: a negative size fails inside torch.zeros, not with ValueError"),
    Bug("masked_conv_adds_bias_manually", "pixelcnn.py",
        "return self._conv_forward(x, self.weight * self.mask, self.bias)",
        "return self._conv_forward(x, self.weight * self.mask, None) + self.bias.view(1, -1, 1, 1)",
        "adds the bias by hand: fails for bias=False"),
    Bug("conv_mask_in_place", "pixelcnn.py",
        "        return self._conv_forward(x, self.weight * self.mask, self.bias)\n",
        "        self.weight.data *= self.mask\n        return self._conv_forward(x, self.weight, self.bias)\n",
        "masks the weight in place (weight.data *= mask): masked weights still get gradients"),
    Bug("pixelcnn_forward_casts_float32", "pixelcnn.py",
        "        return self.net(x)\n", "        return self.net(x.float())\n",
        "PixelCNN.forward casts x to float32: fails for a float64 model"),
    Bug("pixelcnn_dropout_in_train_mode", "pixelcnn.py",
        "        return self.net(x)\n",
        "        for layer in self.net:\n"
        "            x = layer(x)\n"
        "            if isinstance(layer, nn.ReLU):\n"
        "                x = nn.functional.dropout2d(x, 0.1, self.training)  # regularisation\n"
        "        return x\n",
        "PixelCNN.forward adds channel dropout after each ReLU in train mode"),
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
    Bug("sample_returns_probabilities", "sampling.py",
        "x[:, d] = (_uniform(num_samples, probs, generator) < probs).to(dtype)",
        "x[:, d] = probs.to(dtype)",
        "sample_made stores each position's probability instead of a draw from it"),
    Bug("sample_pixelcnn_returns_probabilities", "sampling.py",
        "x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)",
        "x[:, :, r, c] = probs.to(dtype)",
        "sample_pixelcnn stores each pixel's probability instead of a draw from it"),
    Bug("sample_threshold_not_random", "sampling.py",
        "x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)",
        "x[:, :, r, c] = (probs > 0.5).to(dtype)",
        "thresholds the probabilities instead of drawing (argmax decoding)"),
    Bug("sample_made_no_no_grad", "sampling.py",
        "        with torch.no_grad():\n"
        "            x = torch.zeros(num_samples, model.input_dim, device=device, dtype=dtype)\n"
        "            for d in model.order.tolist():\n"
        "                probs = torch.sigmoid(model(x)[:, d])\n"
        "                x[:, d] = (_uniform(num_samples, probs, generator) < probs).to(dtype)\n",
        "        x = torch.zeros(num_samples, model.input_dim, device=device, dtype=dtype)\n"
        "        for d in model.order.tolist():\n"
        "            probs = torch.sigmoid(model(x)[:, d])\n"
        "            x[:, d] = (_uniform(num_samples, probs, generator) < probs).to(dtype)\n",
        "sample_made calls the model with autograd on (no torch.no_grad())"),
    Bug("sample_pixelcnn_no_no_grad", "sampling.py",
        "        with torch.no_grad():\n"
        "            x = torch.zeros(num_samples, channels, height, width, device=device, dtype=dtype)\n"
        "            for r in range(height):\n"
        "                for c in range(width):\n"
        "                    probs = torch.sigmoid(model(x)[:, :, r, c])\n"
        "                    x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)\n",
        "        x = torch.zeros(num_samples, channels, height, width, device=device, dtype=dtype)\n"
        "        for r in range(height):\n"
        "            for c in range(width):\n"
        "                probs = torch.sigmoid(model(x)[:, :, r, c])\n"
        "                x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)\n",
        "sample_pixelcnn calls the model with autograd on (no torch.no_grad())"),
    Bug("sample_made_no_eval", "sampling.py",
        "    model.eval()\n    try:\n        with torch.no_grad():\n            x = torch.zeros(num_samples, model.input_dim",
        "    try:\n        with torch.no_grad():\n            x = torch.zeros(num_samples, model.input_dim",
        "sample_made never calls model.eval() (but restores the mode)"),
    Bug("sample_pixelcnn_no_eval", "sampling.py",
        "    model.eval()\n    try:\n        with torch.no_grad():\n            x = torch.zeros(num_samples, channels",
        "    try:\n        with torch.no_grad():\n            x = torch.zeros(num_samples, channels",
        "sample_pixelcnn never calls model.eval() (but restores the mode)"),
    Bug("sample_pixelcnn_mode_not_restored", "sampling.py",
        "channels), probs, generator) < probs).to(dtype)\n    finally:\n        model.train(was_training)\n",
        "channels), probs, generator) < probs).to(dtype)\n    finally:\n        pass\n",
        "sample_pixelcnn leaves the model in eval mode"),
    Bug("sample_requires_generator", "sampling.py",
        "device = generator.device if generator is not None else like.device", "device = generator.device",
        "reads generator.device: crashes with the default generator=None"),
    Bug("sample_pixelcnn_first_channel_only", "sampling.py",
        "                    probs = torch.sigmoid(model(x)[:, :, r, c])\n"
        "                    x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)\n",
        "                    probs = torch.sigmoid(model(x)[:, 0, r, c])\n"
        "                    x[:, 0, r, c] = (_uniform(num_samples, probs, generator) < probs).to(dtype)\n",
        "draws only channel 0 of each pixel (the others stay 0)"),
    Bug("sample_pixelcnn_global_rng", "sampling.py",
        "x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)",
        "x[:, :, r, c] = torch.bernoulli(probs).to(dtype)",
        "sample_pixelcnn uses torch.bernoulli without the generator: the global RNG"),
    Bug("sample_pixelcnn_hardcoded_float32", "sampling.py",
        "x = torch.zeros(num_samples, channels, height, width, device=device, dtype=dtype)",
        "x = torch.zeros(num_samples, channels, height, width)",
        "sample_pixelcnn creates the images on the CPU in float32 whatever the model's device and dtype"),
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
    Bug("train_assumes_tuples", "training.py",
        "            x = _batch(item).to(device=device, dtype=dtype)\n            loss",
        "            x = item[0].to(device=device, dtype=dtype)\n            loss",
        "train_epoch takes item[0] of every batch: a plain tensor batch yields its first example"),
    Bug("train_no_train_mode", "training.py",
        "    was_training = model.training\n    model.train()\n", "    was_training = model.training\n",
        "train_epoch never calls model.train()"),
    Bug("train_device_required", "training.py",
        "    device, dtype = _device_dtype(model, device)\n    was_training = model.training\n    model.train()\n",
        "    device, dtype = torch.device(device), next(model.parameters()).dtype\n"
        "    was_training = model.training\n    model.train()\n",
        "train_epoch calls torch.device(device): crashes with the default device=None"),
    Bug("evaluate_device_required", "training.py",
        "    device, dtype = _device_dtype(model, device)\n    was_training = model.training\n    model.eval()\n",
        "    device, dtype = torch.device(device), next(model.parameters()).dtype\n"
        "    was_training = model.training\n    model.eval()\n",
        "evaluate calls torch.device(device): crashes with the default device=None"),
    Bug("train_empty_loader_zero_division", "training.py",
        '    if count == 0:\n        raise ValueError("loader yielded no batches")\n    return total / count\n',
        "    return total / count\n",
        "train_epoch raises no ValueError for an empty loader (ZeroDivisionError)"),
    Bug("train_returns_tensor", "training.py",
        "            total += loss.item() * x.shape[0]\n", "            total += loss.detach() * x.shape[0]\n",
        "train_epoch accumulates detached tensors: returns a 0-d tensor, not a float"),
    Bug("train_zero_grad_after_backward", "training.py",
        "            optimizer.zero_grad()\n            loss.backward()\n",
        "            loss.backward()\n            optimizer.zero_grad()\n",
        "calls zero_grad between backward and step: every step sees zero gradients"),
    Bug("train_sum_loss", "training.py",
        "            loss = bernoulli_nll(model(x), x).mean()\n", "            loss = bernoulli_nll(model(x), x).sum()\n",
        "the batch loss is the sum of the per-example NLLs, not their mean"),
    Bug("evaluate_no_no_grad", "training.py",
        "        with torch.no_grad():\n"
        "            for item in loader:\n"
        "                x = _batch(item).to(device=device, dtype=dtype)\n"
        "                total += bernoulli_nll(model(x), x).sum().item()\n"
        "                count += x.shape[0]\n"
        "                num_dims = math.prod(x.shape[1:])\n",
        "        for item in loader:\n"
        "            x = _batch(item).to(device=device, dtype=dtype)\n"
        "            total += bernoulli_nll(model(x), x).sum().item()\n"
        "            count += x.shape[0]\n"
        "            num_dims = math.prod(x.shape[1:])\n",
        "evaluate calls the model with autograd on (no torch.no_grad())"),
    Bug("evaluate_mode_not_restored", "training.py",
        "    finally:\n        model.train(was_training)\n    if count == 0:\n        raise ValueError(\"loader yielded no batches\")\n    nll",
        "    finally:\n        pass\n    if count == 0:\n        raise ValueError(\"loader yielded no batches\")\n    nll",
        "evaluate leaves the model in eval mode"),
    Bug("evaluate_num_dims_last_axis", "training.py",
        "num_dims = math.prod(x.shape[1:])", "num_dims = x.shape[-1]",
        "bits/dim with D = x.shape[-1] (the last axis) instead of every value of an example"),
    Bug("evaluate_empty_loader_zero_division", "training.py",
        '    if count == 0:\n        raise ValueError("loader yielded no batches")\n    nll = total / count\n',
        "    nll = total / count\n",
        "evaluate raises no ValueError for an empty loader (ZeroDivisionError)"),
    Bug("evaluate_returns_tensors", "training.py",
        "total += bernoulli_nll(model(x), x).sum().item()", "total += bernoulli_nll(model(x), x).sum()",
        "evaluate never calls .item(): returns tensors in the dict, not floats"),
    Bug("evaluate_bits_from_total", "training.py",
        'return {"nll": nll, "bits_per_dim": bits_per_dim(nll, num_dims)}',
        'return {"nll": nll, "bits_per_dim": bits_per_dim(total, num_dims)}',
        "bits/dim of the NLL summed over the loader instead of the per-example mean"),
    Bug("checkpoint_epoch_not_saved", "training.py",
        '            "epoch": int(epoch),\n', "",
        "saves no epoch, and load_checkpoint returns 0 when none was saved",
        more=(('return int(state["epoch"])', 'return int(state.get("epoch", 0))'),)),
    Bug("load_checkpoint_ignores_missing_state", "training.py",
        "        if obj is None:\n            continue\n        if state.get(name) is None:\n"
        '            raise ValueError(f"checkpoint {path} holds no {name} state, but a {name} was given")\n',
        "        if obj is None or state.get(name) is None:\n            continue\n",
        "load_checkpoint silently skips an optimizer or scheduler the checkpoint holds no state for"),
]


def render(edit):
    """``{file name: source}`` of the six graded files with ``edit`` applied: a :class:`Bug` or a
    correct variant (``autograder/corpus/correct.py``), each one file's ``(old, new)`` edits."""
    files = {name: (SOLUTION / name).read_text() for name in GRADED}
    source = files[edit.file]
    for old, new in ((edit.old, edit.new), *edit.more):
        if source.count(old) != 1:
            raise ValueError(f"{edit.name}: the edit's text occurs {source.count(old)} times in {edit.file}")
        source = source.replace(old, new)
    files[edit.file] = source
    return files


def write(edit, dest):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, source in render(edit).items():
        (dest / name).write_text(source)
    return dest
