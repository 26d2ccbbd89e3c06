"""The parity models that judge the samplers (tests 5.1, 5.2, 5.5-5.7) on every draw, not on the
recorded one only: a correct sampler never contradicts them, and a sampler that does not condition
on its own samples always does, whatever the grading key.

A draw with few independent parities once let the no-work upload's decoder (one forward pass on
zeros, each entry read off the sign of its logit and the entry before it) pass 5.1 on some keys.
These tests run the samplers in this process on many draws, so they fail on such a draw in seconds
instead of on one fresh clone's secret in an hour.
"""
import pytest
import torch

from autograder import examples
from autograder.solution import sampling
from tests.probes import doubles
from tests.support import tables

DRAWS = 40


def made_draws():
    gen = torch.Generator().manual_seed(2026)
    for _ in range(DRAWS):
        e = examples.sample_made(gen, None)
        yield doubles.ParityMADE(e["order"], e["subsets"], e["signs"]), (len(e["order"]),)


def pixelcnn_draws():
    gen = torch.Generator().manual_seed(2027)
    for _ in range(DRAWS):
        e = examples.sample_pixelcnn(gen, None)
        shape = tuple(e["image_shape"])
        yield doubles.ParityPixelCNN(shape, e["subsets"], e["signs"]), shape


def honest(model, n, shape, gen):
    if isinstance(model, doubles.ParityMADE):
        return sampling.sample_made(model, n, gen)
    return sampling.sample_pixelcnn(model, n, shape, gen)


def generation_order(model, shape):
    """Flat entry indices in the order a correct sampler draws them."""
    if isinstance(model, doubles.ParityMADE):
        return model.order.tolist()
    return list(range(int(torch.tensor(shape).prod())))  # raster order, channels inner, as the double's k


def one_call_decoder(rule):
    """A sampler that calls the model once, on zeros, and decides each entry from the sign of that
    logit and its own earlier entries by a fixed rule (a guess at the model's structure)."""
    def sample(model, n, shape, gen):
        with torch.no_grad():
            z = model(torch.zeros(1, *shape)).double().reshape(-1)
        x = torch.zeros(n, z.numel(), dtype=torch.float64)
        coins = (torch.rand(n, z.numel(), generator=gen) < 0.5).double()
        drawn = []
        for entry in generation_order(model, shape):
            if z[entry] == 0:
                x[:, entry] = coins[:, entry]
            else:
                x[:, entry] = (float(z[entry] > 0) + rule(x, drawn)) % 2
            drawn.append(entry)
        return x.reshape(n, *shape)
    return sample


DECODERS = {
    "fair coins": lambda model, n, shape, gen: (torch.rand(n, *shape, generator=gen) < 0.5).double(),
    "signs at zeros": one_call_decoder(lambda x, drawn: 0.0),
    "chain (entry before)": one_call_decoder(lambda x, drawn: x[:, drawn[-1]] if drawn else 0.0),
    "parity of all earlier": one_call_decoder(lambda x, drawn: x[:, drawn].sum(1) if drawn else 0.0),
}


@pytest.mark.parametrize("draws", [made_draws, pixelcnn_draws], ids=["ParityMADE", "ParityPixelCNN"])
def test_a_correct_sampler_never_contradicts_a_parity_model(draws):
    gen = torch.Generator().manual_seed(0)
    for model, shape in draws():
        bad = tables.impossible(model, honest(model, 64, shape, gen))
        assert not bad, f"the reference sampler contradicts a drawn {type(model).__name__} of shape {shape}: {bad[:3]}"


def sample_with_zero_noise(model, n, unlucky, gen):
    """The reference MADE sampler with float32 noise (u < p gives 1), except that ``unlucky``
    samples draw u = 0.0 (what torch.rand gives once in 2^24) at their first position whose
    probability is below 1e-13: a 1 the model calls impossible, drawn honestly."""
    x = torch.zeros(n, model.input_dim)
    hit = set()
    with torch.no_grad():
        for d in model.order.tolist():
            p = torch.sigmoid(model(x)[:, d])
            u = torch.rand(n, generator=gen)
            for sample in (p < 1e-13).nonzero().flatten().tolist():
                if len(hit) < unlucky and sample not in hit:
                    u[sample] = 0.0
                    hit.add(sample)
            x[:, d] = (u < p).float()
    assert len(hit) == unlucky, f"only {len(hit)} samples met a confident negative logit"
    return x


def test_a_correct_sampler_whose_noise_hits_zero_is_not_failed():
    """A correct sampler met u = 0.0 < sigmoid(-50) on one fresh clone's key and lost 5.5. Two such
    draws in 64 samples pass; four are beyond what float32 noise explains."""
    gen = torch.Generator().manual_seed(3)
    for index, (model, _) in enumerate(made_draws()):
        samples = sample_with_zero_noise(model, 64, 2, gen)
        assert len(tables.contradictions(model, samples)) == 2
        assert not tables.impossible(model, samples), f"draw {index}: two zero draws called impossible"
        samples = sample_with_zero_noise(model, 64, 4, gen)
        assert tables.impossible(model, samples), f"draw {index}: four impossible samples pass as rounding"


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("draws", [made_draws, pixelcnn_draws], ids=["ParityMADE", "ParityPixelCNN"])
def test_a_sampler_that_ignores_its_samples_is_caught_on_every_draw(draws, decoder):
    gen = torch.Generator().manual_seed(1)
    for index, (model, shape) in enumerate(draws()):
        samples = DECODERS[decoder](model, 64, shape, gen)
        assert tables.impossible(model, samples), (
            f"draw {index}: the {decoder!r} sampler, which never runs the model on its own samples, passes a "
            f"{type(model).__name__} of shape {shape} (guess bits {bits(model, shape)})")


def bits(model, shape):
    entries = model.signs.numel()
    if isinstance(model, doubles.ParityMADE):
        earlier = [list(range(i)) for i in range(entries)]
    else:
        earlier = [list(range((k // shape[0]) * shape[0])) for k in range(entries)]
    return examples.guess_bits(model.subsets, model.signs, earlier)


@pytest.mark.parametrize("draws", [made_draws, pixelcnn_draws], ids=["ParityMADE", "ParityPixelCNN"])
def test_every_draw_leaves_a_structure_guesser_enough_to_guess(draws):
    for model, shape in draws():
        assert bits(model, shape) >= examples.GUESS_BITS


def test_the_symbolic_run_agrees_with_the_model():
    """guess_bits and the wrong-sampler checks read each entry as an affine function of the coins;
    evaluated on concrete coins, those functions are what a correct sampler draws."""
    gen = torch.Generator().manual_seed(3)
    e = examples.parity_made(gen, 12)
    model = doubles.ParityMADE(e["order"], e["subsets"], e["signs"])
    masks, coins = [], examples._coin_masks()
    for k in range(12):
        value = examples._decide(e["subsets"], e["signs"], masks, k)
        masks.append(next(coins) if value is None else value)
    for trial in range(32):
        coin_bits = torch.randint(0, 2, (13,), generator=gen).tolist()
        x = torch.zeros(1, 12, dtype=torch.float64)
        for step, d in enumerate(e["order"]):
            mask, value = masks[step], 0
            for bit in range(13):
                if mask >> bit & 1:
                    value ^= 1 if bit == 0 else coin_bits[bit]
            x[0, d] = value
        assert not tables.contradictions(model, x), f"trial {trial}: {x.tolist()} contradicts the model"
