"""Correct alternative submissions: the reference solution with one part rewritten in another
correct style, as students write it.

The grader judges students, so a correct solution written differently from the reference must
score full marks just as surely as a bug must cost points. Each variant is one or more textual
edits of one solution file (each ``old`` must occur exactly once, like the bugs of
:mod:`.buggy`); the self-test ``test_correct_variants.py`` grades every one through the real
command line and requires 40/40 with every test passed.

``python -m autograder.corpus.correct [--keys N] [--jobs J] [NAME ...]`` runs every suite
in-process on each variant under ``N`` random grading keys (as
:mod:`autograder.corpus.stability` does) and prints every variant that fails a test, with the
key: a correct upload must pass whatever examples the grader draws.
"""
import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .buggy import GRADED, SECTION_OF, SOLUTION, render, write


@dataclass(frozen=True)
class Variant:
    name: str
    file: str
    old: str
    new: str
    description: str
    more: tuple = ()   # further (old, new) edits of the same file

    @property
    def section(self):
        return SECTION_OF[self.file]


# --- text of the solution that several variants rewrite --------------------------------------

KL_TERMS = (
    "    support = p > 0\n"
    "    # Substitute harmless values outside the support so that neither the forward pass\n"
    "    # nor the backward pass ever evaluates 0 * log 0.\n"
    "    p_safe = torch.where(support, p, torch.ones_like(p))\n"
    "    q_safe = torch.where(support, q, torch.ones_like(q))\n"
    "    terms = p_safe * (torch.log(p_safe) - torch.log(q_safe))\n"
    "    return torch.where(support, terms, torch.zeros_like(terms)).sum(dim)\n"
)
KL_LOGITS_BODY = (
    '    logits_p, logits_q = _broadcast("logits_p", logits_p, "logits_q", logits_q)\n'
    "    _check_dim(dim, logits_p.dim())\n"
    "    log_p = torch.log_softmax(logits_p, dim=dim)\n"
    "    log_q = torch.log_softmax(logits_q, dim=dim)\n"
    "    return (log_p.exp() * (log_p - log_q)).sum(dim)\n"
)
GAUSSIAN_RETURN = (
    "    return 0.5 * (\n"
    "        logvar_q - logvar_p\n"
    "        + torch.exp(logvar_p - logvar_q)\n"
    "        + (mu_p - mu_q) ** 2 * torch.exp(-logvar_q)\n"
    "        - 1.0\n"
    "    )\n"
)
GAUSSIAN_BROADCAST = (
    "    try:\n"
    "        mu_p, logvar_p, mu_q, logvar_q = torch.broadcast_tensors(mu_p, logvar_p, mu_q, logvar_q)\n"
    "    except RuntimeError:\n"
    "        shapes = [tuple(t.shape) for t in (mu_p, logvar_p, mu_q, logvar_q)]\n"
    '        raise ValueError(f"mu_p, logvar_p, mu_q, logvar_q have shapes {shapes}, which do not broadcast") from None\n'
)
NLL_TERMS = 'nll = F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")'
BITS_BODY = (
    "    if isinstance(num_dims, bool) or int(num_dims) != num_dims or num_dims < 1:\n"
    '        raise ValueError(f"num_dims must be a positive integer, got {num_dims!r}")\n'
    "    return nll / (num_dims * math.log(2))\n"
)
DEGREES_BODY = (
    "    m0 = torch.empty(input_dim, dtype=torch.long)\n"
    "    m0[order] = torch.arange(1, input_dim + 1)\n"
    "    return [m0] + [1 + torch.arange(h) % (input_dim - 1) for h in hidden_sizes]\n"
)
DEGREES_CHECKS = (
    "    hidden_sizes = _check_sizes(input_dim, hidden_sizes)\n"
    "    order = _check_order(order, input_dim)\n"
)
MASKS_BODY = (
    "    masks = [(m_out[:, None] >= m_in[None, :]).float() for m_in, m_out in zip(degrees[:-1], degrees[1:])]\n"
    "    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())\n"
    "    return masks\n"
)
SET_MASK_BODY = (
    "        mask = torch.as_tensor(mask)\n"
    "        if mask.shape != self.mask.shape:\n"
    "            raise ValueError(\n"
    '                f"mask has shape {tuple(mask.shape)}, but this layer\'s weight has shape "\n'
    '                f"{tuple(self.mask.shape)} (out_features, in_features)"\n'
    "            )\n"
    "        with torch.no_grad():\n"
    "            self.mask.copy_(mask)\n"
)
LINEAR_FORWARD = "        return nn.functional.linear(x, self.weight * self.mask, self.bias)\n"
MADE_FORWARD = (
    "        if x.dim() < 2 or math.prod(x.shape[1:]) != self.input_dim:\n"
    "            raise ValueError(\n"
    '                f"MADE(input_dim={self.input_dim}) expects x of shape (B, {self.input_dim}) or "\n'
    '                f"(B, *shape) with prod(shape) == {self.input_dim}, got {tuple(x.shape)}"\n'
    "            )\n"
    "        return self.net(x.reshape(x.shape[0], self.input_dim)).reshape(x.shape)\n"
)
CAUSAL_BODY = (
    "    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:\n"
    '        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")\n'
    '    if mask_type not in ("A", "B"):\n'
    '        raise ValueError(f"mask_type must be \'A\' or \'B\', got {mask_type!r}")\n'
    "    c = kernel_size // 2\n"
    "    mask = torch.zeros(kernel_size, kernel_size)\n"
    "    mask[:c, :] = 1\n"
    "    mask[c, :c] = 1\n"
    '    if mask_type == "B":\n'
    "        mask[c, c] = 1\n"
    "    return mask\n"
)
CAUSAL_CHECKS = (
    "    if kernel_size < 1 or kernel_size % 2 == 0:\n"
    '        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")\n'
    '    if mask_type not in ("A", "B"):\n'
    '        raise ValueError(f"mask_type must be \'A\' or \'B\', got {mask_type!r}")\n'
)
CONV_FORWARD = "        return self._conv_forward(x, self.weight * self.mask, self.bias)\n"
MADE_LOOP = (
    "            x = torch.zeros(num_samples, model.input_dim, device=device, dtype=dtype)\n"
    "            for d in model.order.tolist():\n"
    "                probs = torch.sigmoid(model(x)[:, d])\n"
    "                x[:, d] = (_uniform(num_samples, probs, generator) < probs).to(dtype)\n"
)
PIXEL_LOOP = (
    "            x = torch.zeros(num_samples, channels, height, width, device=device, dtype=dtype)\n"
    "            for r in range(height):\n"
    "                for c in range(width):\n"
    "                    probs = torch.sigmoid(model(x)[:, :, r, c])\n"
    "                    x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)\n"
)
SAMPLE_MADE_BODY = (
    "    _check_count(num_samples)\n"
    "    device, dtype = _device_dtype(model)\n"
    "    was_training = model.training\n"
    "    model.eval()\n"
    "    try:\n"
    "        with torch.no_grad():\n"
    + MADE_LOOP
    + "    finally:\n"
    "        model.train(was_training)\n"
    "    return x\n"
    "    # END SOLUTION\n\n\ndef sample_pixelcnn"
)
SAMPLE_PIXEL_BODY = (
    "    device, dtype = _device_dtype(model)\n"
    "    was_training = model.training\n"
    "    model.eval()\n"
    "    try:\n"
    "        with torch.no_grad():\n"
    + PIXEL_LOOP
    + "    finally:\n"
    "        model.train(was_training)\n"
    "    return x\n"
    "    # END SOLUTION\n"
)
TRAIN_BODY = (
    "    device, dtype = _device_dtype(model, device)\n"
    "    was_training = model.training\n"
    "    model.train()\n"
    "    total, count = 0.0, 0\n"
    "    try:\n"
    "        for item in loader:\n"
    "            x = _batch(item).to(device=device, dtype=dtype)\n"
    "            loss = bernoulli_nll(model(x), x).mean()\n"
    "            optimizer.zero_grad()\n"
    "            loss.backward()\n"
    "            optimizer.step()\n"
    "            total += loss.item() * x.shape[0]\n"
    "            count += x.shape[0]\n"
    "    finally:\n"
    "        model.train(was_training)\n"
    "    if count == 0:\n"
    '        raise ValueError("loader yielded no batches")\n'
    "    return total / count\n"
)
EVAL_BODY = (
    "    device, dtype = _device_dtype(model, device)\n"
    "    was_training = model.training\n"
    "    model.eval()\n"
    "    total, count, num_dims = 0.0, 0, None\n"
    "    try:\n"
    "        with torch.no_grad():\n"
    "            for item in loader:\n"
    "                x = _batch(item).to(device=device, dtype=dtype)\n"
    "                total += bernoulli_nll(model(x), x).sum().item()\n"
    "                count += x.shape[0]\n"
    "                num_dims = math.prod(x.shape[1:])\n"
    "    finally:\n"
    "        model.train(was_training)\n"
    "    if count == 0:\n"
    '        raise ValueError("loader yielded no batches")\n'
    "    nll = total / count\n"
    '    return {"nll": nll, "bits_per_dim": bits_per_dim(nll, num_dims)}\n'
)
SAVE_BODY = (
    "    torch.save(\n"
    "        {\n"
    '            "model": model.state_dict(),\n'
    '            "optimizer": optimizer.state_dict() if optimizer is not None else None,\n'
    '            "scheduler": scheduler.state_dict() if scheduler is not None else None,\n'
    '            "epoch": int(epoch),\n'
    "        },\n"
    "        path,\n"
    "    )\n"
)
LOAD_BODY = (
    "    device = next(model.parameters()).device\n"
    "    state = torch.load(path, map_location=device, weights_only=True)\n"
    '    model.load_state_dict(state["model"])\n'
    '    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):\n'
    "        if obj is None:\n"
    "            continue\n"
    "        if state.get(name) is None:\n"
    '            raise ValueError(f"checkpoint {path} holds no {name} state, but a {name} was given")\n'
    "        obj.load_state_dict(state[name])\n"
    '    return int(state["epoch"])\n'
)
LIKELIHOOD_IMPORT = "from .likelihood import bernoulli_nll, bits_per_dim\n"


VARIANTS = [
    # --- probability.py ------------------------------------------------------------------------
    Variant("kl_xlogy", "probability.py", KL_TERMS,
            "    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum(dim)\n",
            "KL as xlogy(p, p) - xlogy(p, q): xlogy gives 0 where p = 0 and its gradient in q is p / q"),
    Variant("kl_where_on_result", "probability.py", KL_TERMS,
            "    kl = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))\n"
            "    return kl.sum(dim)\n",
            "torch.where on the terms only: the NaN of 0 * log 0 is replaced, and the gradient in q "
            "(the only one the docstring asks for) is 0 where p = 0"),
    Variant("kl_logits_kl_div", "probability.py",
            "    log_p = torch.log_softmax(logits_p, dim=dim)\n"
            "    log_q = torch.log_softmax(logits_q, dim=dim)\n"
            "    return (log_p.exp() * (log_p - log_q)).sum(dim)\n",
            "    log_p = F.log_softmax(logits_p, dim=dim)\n"
            "    log_q = F.log_softmax(logits_q, dim=dim)\n"
            '    return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(dim)\n',
            "kl_divergence_logits through F.kl_div(log_q, log_p, log_target=True)",
            more=(("import torch\n", "import torch\nimport torch.nn.functional as F\n"),)),
    Variant("kl_logits_softmax_weights_no_checks", "probability.py", KL_LOGITS_BODY,
            "    log_p = logits_p.log_softmax(dim)\n"
            "    log_q = logits_q.log_softmax(dim)\n"
            "    return (logits_p.softmax(dim) * (log_p - log_q)).sum(dim)\n",
            "kl_divergence_logits weighting by softmax(logits_p), broadcasting by itself (its docstring "
            "asks for no ValueError)"),
    Variant("gaussian_kl_variance_ratio_division", "probability.py", GAUSSIAN_RETURN,
            "    var_ratio = torch.exp(logvar_p - logvar_q)\n"
            "    return 0.5 * (var_ratio + (mu_p - mu_q) ** 2 / torch.exp(logvar_q) - 1 + logvar_q - logvar_p)\n",
            "gaussian_kl with a variance ratio and (mu_p - mu_q) ** 2 / exp(logvar_q)"),
    Variant("gaussian_kl_plain_elementwise", "probability.py", GAUSSIAN_BROADCAST + GAUSSIAN_RETURN,
            "    diff = mu_p - mu_q\n"
            "    return 0.5 * (logvar_q - logvar_p) + 0.5 * (torch.exp(logvar_p - logvar_q) "
            "+ diff.pow(2) * torch.exp(-logvar_q)) - 0.5\n",
            "gaussian_kl without broadcast_tensors: the elementwise operations broadcast by themselves"),
    # --- likelihood.py -------------------------------------------------------------------------
    Variant("nll_softplus", "likelihood.py", NLL_TERMS, "nll = F.softplus(logits) - x * logits",
            "bernoulli_nll as softplus(l) - x l, keeping the shape check"),
    Variant("nll_logsigmoid", "likelihood.py",
            NLL_TERMS + "\n    return nll.reshape(nll.shape[0], -1).sum(dim=1)\n",
            "nll = -(x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits))\n"
            "    return nll.view(len(nll), -1).sum(-1)\n",
            "bernoulli_nll from log-sigmoids, summed with view(B, -1)"),
    Variant("bits_per_dim_chained_division", "likelihood.py", BITS_BODY,
            "    if num_dims < 1:\n"
            '        raise ValueError("num_dims must be at least 1")\n'
            "    return nll / num_dims / math.log(2)\n",
            "bits_per_dim as nll / num_dims / ln 2 with a plain num_dims < 1 check"),
    Variant("bits_per_dim_numpy", "likelihood.py", BITS_BODY,
            "    if num_dims <= 0:\n"
            '        raise ValueError(f"num_dims must be positive, got {num_dims}")\n'
            "    return nll * np.log2(np.e) / num_dims\n",
            "bits_per_dim with numpy's log2(e) (a float nll gives a numpy float64)",
            more=(("import torch\n", "import numpy as np\nimport torch\n"),)),
    # --- made.py -------------------------------------------------------------------------------
    Variant("degrees_argsort", "made.py", DEGREES_BODY,
            "    m0 = torch.argsort(order) + 1\n"
            "    return [m0] + [torch.arange(h) % (input_dim - 1) + 1 for h in hidden_sizes]\n",
            "input degrees as argsort(order) + 1"),
    Variant("degrees_loops_own_checks", "made.py", DEGREES_CHECKS + DEGREES_BODY,
            "    if input_dim < 2:\n"
            '        raise ValueError("input_dim must be at least 2")\n'
            "    if any(h < 1 for h in hidden_sizes):\n"
            '        raise ValueError("hidden sizes must be at least 1")\n'
            "    order = list(range(input_dim)) if order is None else [int(i) for i in order]\n"
            "    if sorted(order) != list(range(input_dim)):\n"
            '        raise ValueError(f"order must be a permutation of range({input_dim})")\n'
            "    m0 = torch.zeros(input_dim, dtype=torch.long)\n"
            "    for i, d in enumerate(order):\n"
            "        m0[d] = i + 1\n"
            "    degrees = [m0]\n"
            "    for h in hidden_sizes:\n"
            "        degrees.append(torch.tensor([1 + k % (input_dim - 1) for k in range(h)], dtype=torch.long))\n"
            "    return degrees\n",
            "degrees filled in Python loops, with the student's own argument checks"),
    Variant("masks_loops", "made.py", MASKS_BODY,
            "    masks = []\n"
            "    for m_in, m_out in zip(degrees[:-1], degrees[1:]):\n"
            "        m_in, m_out = m_in.tolist(), m_out.tolist()\n"
            "        mask = torch.zeros(len(m_out), len(m_in))\n"
            "        for k in range(len(m_out)):\n"
            "            for j in range(len(m_in)):\n"
            "                if m_out[k] >= m_in[j]:\n"
            "                    mask[k, j] = 1.0\n"
            "        masks.append(mask)\n"
            "    m0, m_last = degrees[0].tolist(), degrees[-1].tolist()\n"
            "    mask = torch.zeros(len(m0), len(m_last))\n"
            "    for d in range(len(m0)):\n"
            "        for k in range(len(m_last)):\n"
            "            if m0[d] > m_last[k]:\n"
            "                mask[d, k] = 1.0\n"
            "    masks.append(mask)\n"
            "    return masks\n",
            "masks filled entry by entry with explicit comparisons"),
    Variant("masks_ge_gt", "made.py", MASKS_BODY,
            "    masks = []\n"
            "    for m_in, m_out in zip(degrees[:-1], degrees[1:]):\n"
            "        masks.append(torch.ge(m_out.unsqueeze(1), m_in.unsqueeze(0)).to(torch.float32))\n"
            "    masks.append(torch.gt(degrees[0].unsqueeze(1), degrees[-1].unsqueeze(0)).to(torch.float32))\n"
            "    return masks\n",
            "masks with torch.ge / torch.gt on unsqueezed degrees"),
    Variant("degrees_numpy", "made.py", DEGREES_BODY,
            "    m0 = torch.from_numpy(np.argsort(order.numpy()) + 1)\n"
            "    return [m0] + [torch.from_numpy(np.arange(h) % (input_dim - 1) + 1) for h in hidden_sizes]\n",
            "degrees computed in numpy (int64 arrays) and wrapped with torch.from_numpy",
            more=(("import torch\n", "import numpy as np\nimport torch\n"),)),
    Variant("masks_numpy_float64", "made.py", MASKS_BODY,
            "    masks = []\n"
            "    for m_in, m_out in zip(degrees[:-1], degrees[1:]):\n"
            "        masks.append(torch.from_numpy((m_out.numpy()[:, None] >= m_in.numpy()[None, :]).astype(float)))\n"
            "    m0, m_last = degrees[0].numpy(), degrees[-1].numpy()\n"
            "    masks.append(torch.from_numpy((m0[:, None] > m_last[None, :]).astype(float)))\n"
            "    return masks\n",
            "masks built in numpy, returned as float64 tensors (floating, as the docstring asks)",
            more=(("import torch\n", "import numpy as np\nimport torch\n"),)),
    Variant("set_mask_data_copy", "made.py",
            "        with torch.no_grad():\n            self.mask.copy_(mask)\n",
            "        self.mask.data.copy_(mask)\n",
            "set_mask with self.mask.data.copy_(mask)"),
    Variant("set_mask_slice_assign_matmul_forward", "made.py", SET_MASK_BODY,
            "        if tuple(mask.shape) != tuple(self.weight.shape):\n"
            '            raise ValueError(f"mask shape {tuple(mask.shape)} != weight shape {tuple(self.weight.shape)}")\n'
            "        self.mask[:] = mask\n",
            "set_mask with self.mask[:] = mask; forward as x @ (W * M).T + b, handling bias=False",
            more=((LINEAR_FORWARD,
                   "        out = x @ (self.weight * self.mask).T\n"
                   "        if self.bias is not None:\n"
                   "            out = out + self.bias\n"
                   "        return out\n"),)),
    Variant("linear_functional_import", "made.py", LINEAR_FORWARD,
            "        masked_weight = self.mask * self.weight\n"
            "        return F.linear(x, masked_weight, self.bias)\n",
            "forward with F.linear imported as torch.nn.functional",
            more=(("from torch import nn\n", "from torch import nn\nimport torch.nn.functional as F\n"),)),
    Variant("made_forward_view", "made.py",
            "        return self.net(x.reshape(x.shape[0], self.input_dim)).reshape(x.shape)\n",
            "        out = self.net(x.view(x.shape[0], -1))\n"
            "        return out.view(*x.shape)\n",
            "MADE.forward with x.view(B, -1) and view back"),
    Variant("made_forward_flatten", "made.py", MADE_FORWARD,
            "        if x.dim() < 2 or x[0].numel() != self.input_dim:\n"
            '            raise ValueError(f"expected {self.input_dim} values per example, got shape {tuple(x.shape)}")\n'
            "        return self.net(torch.flatten(x, 1)).view_as(x)\n",
            "MADE.forward with torch.flatten(x, 1), view_as(x) and an x[0].numel() check"),
    # --- pixelcnn.py ---------------------------------------------------------------------------
    Variant("causal_mask_flat", "pixelcnn.py", CAUSAL_BODY,
            CAUSAL_CHECKS
            + "    mask = torch.ones(kernel_size * kernel_size)\n"
            '    mask[kernel_size * kernel_size // 2 + (mask_type == "B"):] = 0\n'
            "    return mask.view(kernel_size, kernel_size)\n",
            "causal mask by the flat trick: ones, zero from the centre (or just after it) onwards"),
    Variant("causal_mask_ones_then_zero", "pixelcnn.py", CAUSAL_BODY,
            CAUSAL_CHECKS
            + "    c = kernel_size // 2\n"
            "    mask = torch.ones(kernel_size, kernel_size)\n"
            '    mask[c, c + (mask_type == "B"):] = 0\n'
            "    mask[c + 1:, :] = 0\n"
            "    return mask\n",
            "causal mask from ones, zeroing the right part of the centre row and the rows below"),
    Variant("causal_mask_loops", "pixelcnn.py", CAUSAL_BODY,
            CAUSAL_CHECKS
            + "    c = kernel_size // 2\n"
            "    mask = torch.zeros(kernel_size, kernel_size)\n"
            "    for i in range(kernel_size):\n"
            "        for j in range(kernel_size):\n"
            '            if i < c or (i == c and j < c) or (i == c and j == c and mask_type == "B"):\n'
            "                mask[i, j] = 1.0\n"
            "    return mask\n",
            "causal mask entry by entry"),
    Variant("conv_functional", "pixelcnn.py", CONV_FORWARD,
            "        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)\n",
            "MaskedConv2d.forward with F.conv2d(..., padding=self.padding)"),
    Variant("conv_functional_all_args", "pixelcnn.py", CONV_FORWARD,
            "        weight = self.weight * self.mask[None, None]\n"
            "        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)\n",
            "MaskedConv2d.forward with F.conv2d and every Conv2d setting, the mask broadcast explicitly"),
    # --- sampling.py ---------------------------------------------------------------------------
    Variant("sample_bernoulli_generator", "sampling.py", MADE_LOOP,
            "            x = torch.zeros(num_samples, model.input_dim, device=device, dtype=dtype)\n"
            "            for i in range(model.input_dim):\n"
            "                d = model.order[i]\n"
            "                logits = model(x)\n"
            "                x[:, d] = torch.bernoulli(torch.sigmoid(logits[:, d]), generator=generator)\n",
            "both samplers draw with torch.bernoulli(probs, generator=generator)",
            more=((PIXEL_LOOP,
                   "            x = torch.zeros(num_samples, channels, height, width, device=device, dtype=dtype)\n"
                   "            for r in range(height):\n"
                   "                for c in range(width):\n"
                   "                    probs = torch.sigmoid(model(x))[:, :, r, c]\n"
                   "                    x[:, :, r, c] = torch.bernoulli(probs, generator=generator)\n"),)),
    Variant("sample_noise_up_front", "sampling.py", MADE_LOOP,
            "            x = torch.zeros(num_samples, model.input_dim, device=device, dtype=dtype)\n"
            "            noise = torch.rand(num_samples, model.input_dim, generator=generator).to(device, dtype)\n"
            "            for d in model.order.tolist():\n"
            "                probs = torch.sigmoid(model(x)[:, d])\n"
            "                x[:, d] = (noise[:, d] < probs).to(dtype)\n",
            "both samplers draw all their uniform noise from the generator before the loop",
            more=((PIXEL_LOOP,
                   "            x = torch.zeros(num_samples, channels, height, width, device=device, dtype=dtype)\n"
                   "            noise = torch.rand(num_samples, channels, height, width, generator=generator)\n"
                   "            noise = noise.to(device=device, dtype=dtype)\n"
                   "            for r in range(height):\n"
                   "                for c in range(width):\n"
                   "                    probs = torch.sigmoid(model(x)[:, :, r, c])\n"
                   "                    x[:, :, r, c] = (noise[:, :, r, c] < probs).to(dtype)\n"),)),
    Variant("sample_pixelcnn_divmod", "sampling.py", PIXEL_LOOP,
            "            x = torch.zeros(num_samples, channels, height, width, device=device, dtype=dtype)\n"
            "            for i in range(height * width):\n"
            "                r, c = divmod(i, width)\n"
            "                probs = torch.sigmoid(model(x)[:, :, r, c])\n"
            "                x[:, :, r, c] = (_uniform((num_samples, channels), probs, generator) < probs).to(dtype)\n",
            "sample_pixelcnn loops over flat pixel indices with divmod"),
    Variant("sample_decorator_no_try", "sampling.py", SAMPLE_MADE_BODY,
            "    _check_count(num_samples)\n"
            "    param = next(model.parameters())\n"
            "    was_training = model.training\n"
            "    model.eval()\n"
            "    x = torch.zeros(num_samples, model.input_dim, device=param.device, dtype=param.dtype)\n"
            "    for d in model.order:\n"
            "        p = torch.sigmoid(model(x)[:, d])\n"
            "        u = torch.rand(num_samples, generator=generator).to(p.device, p.dtype)\n"
            "        x[:, d] = (u < p).float()\n"
            "    model.train(was_training)\n"
            "    return x\n"
            "    # END SOLUTION\n\n\n@torch.no_grad()\ndef sample_pixelcnn",
            "samplers under a @torch.no_grad() decorator, device and dtype from next(model.parameters()), "
            "the mode restored without try/finally",
            more=(("def sample_made(", "@torch.no_grad()\ndef sample_made("),
                  (SAMPLE_PIXEL_BODY,
                   "    param = next(model.parameters())\n"
                   "    was_training = model.training\n"
                   "    model.eval()\n"
                   "    x = torch.zeros(num_samples, *image_shape, device=param.device, dtype=param.dtype)\n"
                   "    for r in range(height):\n"
                   "        for c in range(width):\n"
                   "            p = torch.sigmoid(model(x)[:, :, r, c])\n"
                   "            u = torch.rand(p.shape, generator=generator).to(p.device, p.dtype)\n"
                   "            x[:, :, r, c] = (u < p).float()\n"
                   "    model.train(was_training)\n"
                   "    return x\n"
                   "    # END SOLUTION\n"))),
    # --- training.py ---------------------------------------------------------------------------
    Variant("training_inline_bce", "training.py", LIKELIHOOD_IMPORT,
            "import torch.nn.functional as F\n",
            "the Bernoulli NLL computed inline with F.binary_cross_entropy_with_logits and bits/dim as "
            "nll / (D ln 2); likelihood.py is never imported",
            more=(("            loss = bernoulli_nll(model(x), x).mean()\n",
                   "            logits = model(x)\n"
                   '            nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)\n'
                   "            loss = nll.mean()\n"),
                  ("                total += bernoulli_nll(model(x), x).sum().item()\n",
                   "                logits = model(x)\n"
                   '                nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)\n'
                   "                total += nll.sum().item()\n"),
                  ('    return {"nll": nll, "bits_per_dim": bits_per_dim(nll, num_dims)}\n',
                   '    return {"nll": nll, "bits_per_dim": nll / (num_dims * math.log(2))}\n'))),
    Variant("training_inline_bce_sum_reduction", "training.py", LIKELIHOOD_IMPORT,
            "from torch.nn import functional as F\n",
            "the Bernoulli NLL inline as BCE with reduction='sum' divided by the batch size; bits/dim "
            "as nll / D / ln 2",
            more=(("            loss = bernoulli_nll(model(x), x).mean()\n",
                   '            loss = F.binary_cross_entropy_with_logits(model(x), x, reduction="sum") / x.shape[0]\n'),
                  ("                total += bernoulli_nll(model(x), x).sum().item()\n",
                   '                total += F.binary_cross_entropy_with_logits(model(x), x, reduction="sum").item()\n'),
                  ('    return {"nll": nll, "bits_per_dim": bits_per_dim(nll, num_dims)}\n',
                   '    return {"nll": nll, "bits_per_dim": nll / num_dims / math.log(2)}\n'))),
    Variant("training_module_import", "training.py", LIKELIHOOD_IMPORT,
            "from . import likelihood\n",
            "imports the likelihood module and calls likelihood.bernoulli_nll / likelihood.bits_per_dim",
            more=(("            loss = bernoulli_nll(model(x), x).mean()\n",
                   "            loss = likelihood.bernoulli_nll(model(x), x).mean()\n"),
                  ("                total += bernoulli_nll(model(x), x).sum().item()\n",
                   "                total += likelihood.bernoulli_nll(model(x), x).sum().item()\n"),
                  ('    return {"nll": nll, "bits_per_dim": bits_per_dim(nll, num_dims)}\n',
                   '    return {"nll": nll, "bits_per_dim": likelihood.bits_per_dim(nll, num_dims)}\n'))),
    Variant("training_absolute_import", "training.py", LIKELIHOOD_IMPORT,
            "from submission.likelihood import bernoulli_nll, bits_per_dim\n",
            "imports the likelihood with an absolute import from the package submission"),
    Variant("evaluate_bits_of_total", "training.py",
            '    nll = total / count\n    return {"nll": nll, "bits_per_dim": bits_per_dim(nll, num_dims)}\n',
            '    return {"nll": total / count, "bits_per_dim": bits_per_dim(total, count * num_dims)}\n',
            "evaluate's bits/dim as bits_per_dim(total NLL, examples * D): the same number"),
    Variant("evaluate_inference_mode", "training.py",
            "        with torch.no_grad():\n            for item in loader:\n",
            "        with torch.inference_mode():\n            for item in loader:\n",
            "evaluate under torch.inference_mode() instead of torch.no_grad()"),
    Variant("train_epoch_no_mode_restore", "training.py", TRAIN_BODY,
            "    device, dtype = _device_dtype(model, device)\n"
            "    model.train()\n"
            "    total, count = 0.0, 0\n"
            "    for item in loader:\n"
            "        x = _batch(item).to(device=device, dtype=dtype)\n"
            "        loss = bernoulli_nll(model(x), x).mean()\n"
            "        optimizer.zero_grad()\n"
            "        loss.backward()\n"
            "        optimizer.step()\n"
            "        total += loss.item() * x.shape[0]\n"
            "        count += x.shape[0]\n"
            "    if count == 0:\n"
            '        raise ValueError("loader yielded no batches")\n'
            "    return total / count\n",
            "train_epoch calls model.train() and leaves the model in train mode (the docstring asks no more)"),
    Variant("train_epoch_tensor_total_model_zero_grad", "training.py", TRAIN_BODY,
            "    if device is None:\n"
            "        device = next(model.parameters()).device\n"
            "    model.train()\n"
            "    total, count = torch.zeros(()), 0\n"
            "    for batch in loader:\n"
            "        x = batch[0] if isinstance(batch, (list, tuple)) else batch\n"
            "        x = x.to(device)\n"
            "        loss = bernoulli_nll(model(x), x).mean()\n"
            "        model.zero_grad()\n"
            "        loss.backward()\n"
            "        optimizer.step()\n"
            "        total = total + loss.detach().cpu() * len(x)\n"
            "        count += len(x)\n"
            "    if count == 0:\n"
            '        raise ValueError("empty loader")\n'
            "    return (total / count).item()\n",
            "train_epoch accumulating a detached tensor, model.zero_grad(), batches moved with .to(device) only"),
    Variant("evaluate_batch_means_weighted", "training.py", EVAL_BODY,
            "    device = device or next(model.parameters()).device\n"
            "    was_training = model.training\n"
            "    model.eval()\n"
            "    total, count = 0.0, 0\n"
            "    with torch.no_grad():\n"
            "        for batch in loader:\n"
            "            x = (batch[0] if isinstance(batch, (tuple, list)) else batch).to(device)\n"
            "            total += bernoulli_nll(model(x), x).mean().item() * len(x)\n"
            "            count += len(x)\n"
            "            num_dims = x[0].numel()\n"
            "    model.train(was_training)\n"
            "    if count == 0:\n"
            '        raise ValueError("empty loader")\n'
            "    nll = total / count\n"
            '    return {"nll": nll, "bits_per_dim": bits_per_dim(nll, num_dims)}\n',
            "evaluate weighting each batch mean by its size, D from x[0].numel(), no try/finally"),
    Variant("checkpoint_other_keys", "training.py", SAVE_BODY,
            "    checkpoint = {\n"
            '        "model_state_dict": model.state_dict(),\n'
            '        "optimizer_state_dict": None if optimizer is None else optimizer.state_dict(),\n'
            '        "scheduler_state_dict": None if scheduler is None else scheduler.state_dict(),\n'
            '        "epoch": epoch,\n'
            "    }\n"
            "    torch.save(checkpoint, path)\n",
            "checkpoints under other keys, loaded with map_location='cpu' and weights_only=False",
            more=((LOAD_BODY,
                   "    checkpoint = torch.load(path, map_location=\"cpu\", weights_only=False)\n"
                   '    model.load_state_dict(checkpoint["model_state_dict"])\n'
                   "    if optimizer is not None:\n"
                   '        if checkpoint["optimizer_state_dict"] is None:\n'
                   '            raise ValueError("the checkpoint has no optimizer state")\n'
                   '        optimizer.load_state_dict(checkpoint["optimizer_state_dict"])\n'
                   "    if scheduler is not None:\n"
                   '        if checkpoint["scheduler_state_dict"] is None:\n'
                   '            raise ValueError("the checkpoint has no scheduler state")\n'
                   '        scheduler.load_state_dict(checkpoint["scheduler_state_dict"])\n'
                   '    return checkpoint["epoch"]\n'),)),
    Variant("checkpoint_only_what_is_given", "training.py", SAVE_BODY,
            '    state = {"model": model.state_dict(), "epoch": epoch}\n'
            "    if optimizer is not None:\n"
            '        state["optimizer"] = optimizer.state_dict()\n'
            "    if scheduler is not None:\n"
            '        state["scheduler"] = scheduler.state_dict()\n'
            "    torch.save(state, path)\n",
            "saves the optimizer and scheduler only when given; load checks for the missing keys",
            more=((LOAD_BODY,
                   "    state = torch.load(path)\n"
                   '    model.load_state_dict(state["model"])\n'
                   "    if optimizer is not None:\n"
                   '        if "optimizer" not in state:\n'
                   '            raise ValueError(f"{path} was saved without an optimizer")\n'
                   '        optimizer.load_state_dict(state["optimizer"])\n'
                   "    if scheduler is not None:\n"
                   '        if "scheduler" not in state:\n'
                   '            raise ValueError(f"{path} was saved without a scheduler")\n'
                   '        scheduler.load_state_dict(state["scheduler"])\n'
                   '    return state["epoch"]\n'),)),
    Variant("checkpoint_tuple", "training.py", SAVE_BODY,
            "    torch.save((model.state_dict(), optimizer and optimizer.state_dict(),\n"
            "                scheduler and scheduler.state_dict(), epoch), path)\n",
            "a checkpoint saved as a tuple (model, optimizer or None, scheduler or None, epoch)",
            more=((LOAD_BODY,
                   "    model_state, optimizer_state, scheduler_state, epoch = torch.load(path, weights_only=True)\n"
                   "    model.load_state_dict(model_state)\n"
                   "    if optimizer is not None and optimizer_state is None:\n"
                   '        raise ValueError("no optimizer state in the checkpoint")\n'
                   "    if scheduler is not None and scheduler_state is None:\n"
                   '        raise ValueError("no scheduler state in the checkpoint")\n'
                   "    if optimizer is not None:\n"
                   "        optimizer.load_state_dict(optimizer_state)\n"
                   "    if scheduler is not None:\n"
                   "        scheduler.load_state_dict(scheduler_state)\n"
                   "    return epoch\n"),)),
]


def main(argv=None):
    from .stability import failed_tests

    parser = argparse.ArgumentParser(prog="python -m autograder.corpus.correct")
    parser.add_argument("names", nargs="*", help="variants to check (default: every one)")
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    chosen = [v for v in VARIANTS if not args.names or v.name in args.names]
    keys = [os.urandom(16).hex() for _ in range(args.keys)]
    # The unmodified solution under the same keys: a baseline, so that a suite broken for every
    # upload is not mistaken for an unfair verdict on a variant.
    baseline = Variant("solution", "probability.py", "", "", "the reference solution")
    jobs = [(v, key) for v in [baseline, *chosen] for key in keys]
    solution = {name: (SOLUTION / name).read_text() for name in GRADED}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda job: failed_tests(solution if job[0] is baseline else render(job[0]), job[1]),
                                jobs))
    broken = {key: failed for (v, key), failed in zip(jobs, results) if v is baseline and failed}
    for key, failed in broken.items():
        print(f"the SOLUTION itself fails under key {key}: {' '.join(failed)} (the suites are broken)")
    failing = 0
    for variant in chosen:
        bad = {key: failed for (v, key), failed in zip(jobs, results) if v is variant and failed}
        if bad:
            failing += 1
            print(f"FAILS  {variant.name}:")
            for key, failed in bad.items():
                print(f"    key {key}: {' '.join(failed)}")
        else:
            print(f"passes {variant.name}")
    print(f"{failing} of {len(chosen)} correct variants fail some test ({args.keys} keys each)")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
