"""Autoregressive and masked transformers: the causal mask, two-sided context, training, sampling, bad input."""

import math

import pytest
import torch

from equigen.generative.constraints import PairConstraint
from equigen.generative.sequence import AutoregressiveTransformer, MaskedTransformer
from equigen.train import Trainer


def _models(dtype=torch.float32, L=12, alphabet="ACDE"):
    torch.manual_seed(0)
    kw = {"width": 16, "depth": 2, "heads": 2, "dtype": dtype}
    return AutoregressiveTransformer(L, alphabet, **kw), MaskedTransformer(L, alphabet, **kw)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_causal_mask_output_at_i_ignores_inputs_at_and_after_i(dtype):
    ar, _ = _models(dtype)
    g = torch.Generator().manual_seed(1)
    s = torch.randint(0, 4, (5, 12), generator=g)
    base = ar(s)
    assert base.shape == (5, 12, 4) and base.dtype == dtype
    for j in range(12):
        t = s.clone()
        t[:, j] = (t[:, j] + 1 + torch.randint(0, 3, (5,), generator=g)) % 4
        out = ar(t)
        # logits at i are p(s_i | s_<i): unchanged for every i <= j ...
        assert torch.equal(out[:, :j + 1], base[:, :j + 1]), j
        # ... and changed after j (the mask is not over-restrictive)
        if j < 11:
            assert (out[:, j + 1:] - base[:, j + 1:]).abs().max() > 1e-4
    # the same model in eval mode (PyTorch's fast path) keeps the mask
    ar.eval()
    t = s.clone()
    t[:, 6] = (t[:, 6] + 1) % 4
    torch.testing.assert_close(ar(t)[:, :7], ar(s)[:, :7], rtol=0, atol=0)


def test_ar_log_prob_matches_per_position_sampling_conditionals():
    ar, _ = _models(torch.float64)
    s = torch.randint(0, 4, (3, 12), generator=torch.Generator().manual_seed(2))
    lp = ar.log_prob(s)
    # chain rule by prefix evaluation, as the sampler does
    manual = torch.zeros(3, dtype=torch.float64)
    tokens = torch.cat([torch.full((3, 1), 4), s], 1)
    for i in range(12):
        manual += torch.log_softmax(ar.trunk(tokens[:, :i + 1])[:, -1], -1).gather(1, s[:, i:i + 1])[:, 0]
    torch.testing.assert_close(lp, manual, rtol=0, atol=1e-10)
    # it is a normalised distribution: tiny model over all 2**4 sequences sums to 1
    tiny = AutoregressiveTransformer(4, "AC", width=8, depth=1, heads=2, dtype=torch.float64)
    allseq = torch.cartesian_prod(*[torch.arange(2)] * 4)
    assert torch.logsumexp(tiny.log_prob(allseq), 0).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_masked_model_uses_both_sides(dtype):
    _, mlm = _models(dtype)
    g = torch.Generator().manual_seed(3)
    s = torch.randint(0, 4, (5, 12), generator=g)
    s[:, 6] = mlm.mask_token
    base = mlm(s)[:, 6]
    for j in (0, 5, 7, 11):  # left and right neighbours, near and far
        t = s.clone()
        t[:, j] = (t[:, j] + 1) % 4
        assert (mlm(t)[:, 6] - base).abs().max() > 1e-4, j


def test_models_have_the_same_size():
    ar, mlm = _models()
    assert sum(p.numel() for p in ar.parameters()) == sum(p.numel() for p in mlm.parameters())


def _bonded_data(n=512, L=12, seed=0):
    """Toy data: positions 2 and 9 are equal; other positions are uniform."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randint(0, 4, (n, L), generator=g)
    s[:, 9] = s[:, 2]
    return s


def test_trainer_fits_both_models_and_mlm_inpaints_from_the_right():
    data = _bonded_data()
    ar, mlm = _models()
    losses = {}
    for name, model, steps in (("ar", ar, 150), ("mlm", mlm, 300)):
        with torch.no_grad():
            before = float(model.training_loss(data[:256], generator=torch.Generator().manual_seed(0)))
        Trainer(model, lr=1e-2, progress=False, distributed=False, seed=0).fit(data, steps=steps, batch_size=64)
        with torch.no_grad():
            after = float(model.training_loss(data[:256], generator=torch.Generator().manual_seed(0)))
        losses[name] = (before, after)
        assert after < before - 0.05, (name, before, after)
    # the AR model learned the copy: p(s_9 | s_<9) is sharp on s_2
    ar.eval()
    test = _bonded_data(200, seed=1)
    p9 = torch.softmax(ar(test)[:, 9], -1).gather(1, test[:, 9:10])
    assert p9.mean() > 0.8
    # inpainting a position *before* the fixed partner: the masked model sees the right side, the AR model cannot
    g = torch.Generator().manual_seed(5)
    out_m = mlm.sample(400, fixed={9: "D"}, generator=g)
    out_a = ar.sample(400, fixed={9: "D"}, generator=g)
    assert (out_m.seqs[:, 9] == 2).all() and (out_a.seqs[:, 9] == 2).all()
    rate_m = (out_m.seqs[:, 2] == 2).float().mean().item()
    rate_a = (out_a.seqs[:, 2] == 2).float().mean().item()
    assert rate_m > 0.8 and rate_a < 0.45, (rate_m, rate_a)
    assert out_m.evaluations_per_sample == 12 and out_a.evaluations_per_sample == 12
    # AR importance weights: log p(s_9 = D | prefix) is high exactly where s_2 = D
    hit = out_a.seqs[:, 2] == 2
    assert out_a.log_weights[hit].mean() > out_a.log_weights[~hit].mean() + 1.0


def test_mlm_sampling_enforces_a_pair_constraint_and_clamps():
    _, mlm = _models()
    c = PairConstraint(1, 10, [("C", "C")], length=12, alphabet="ACDE")
    out = mlm.sample(64, steps=6, constraint=c, fixed={5: "E"}, generator=torch.Generator().manual_seed(0))
    assert out.seqs.shape == (64, 12) and out.evaluations_per_sample == 6
    assert c.satisfied(out.seqs).all() and (out.seqs[:, 5] == 3).all()
    assert int(out.seqs.max()) < 4  # no mask token left
    soft = mlm.sample(64, steps=6, constraint=c, strength=0.01, generator=torch.Generator().manual_seed(0))
    assert soft.seqs.shape == (64, 12)
    # untrained model: a weak tilt satisfies far less often than the hard constraint
    assert c.satisfied(soft.seqs).float().mean() < 0.5


def test_sampling_is_reproducible_with_a_generator():
    ar, mlm = _models()
    for m in (ar, mlm):
        a = m.sample(8, generator=torch.Generator().manual_seed(7)).seqs
        b = m.sample(8, generator=torch.Generator().manual_seed(7)).seqs
        assert torch.equal(a, b)


def test_bad_input_errors():
    ar, mlm = _models()
    with pytest.raises(ValueError, match=r"shape \(N, L=12\)"):
        ar(torch.zeros(2, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="outside 0..3"):
        ar(torch.full((1, 12), 4))
    with pytest.raises(TypeError, match="integer letter indices"):
        mlm(torch.zeros(1, 12))
    with pytest.raises(ValueError, match="out of range"):
        mlm.sample(2, fixed={12: "C"})
    with pytest.raises(ValueError, match="unknown residue letter"):
        ar.sample(2, fixed={3: "W"})
    with pytest.raises(ValueError, match="conflicting fixed residues"):
        ar.sample(2, fixed=[(3, "C"), (3, "A")])
    c = PairConstraint(1, 10, [("C", "C")], length=12, alphabet="ACDE")
    with pytest.raises(ValueError, match="conflicting constraints"):
        mlm.sample(2, fixed={10: "A"}, constraint=c)
    with pytest.raises(ValueError, match="temperature"):
        ar.sample(2, temperature=0.0)
    with pytest.raises(ValueError, match="divisible"):
        MaskedTransformer(12, "ACDE", width=10, heads=4)
    with pytest.raises(ValueError, match="alphabet"):
        MaskedTransformer(12, "AAC")
    with pytest.raises(TypeError, match="constraint"):
        mlm.sample(2, constraint=lambda s: s)
    with torch.no_grad():
        assert not math.isnan(float(ar.training_loss(torch.zeros(2, 12, dtype=torch.long))))
