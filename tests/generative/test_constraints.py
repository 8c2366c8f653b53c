"""Constraint helpers: fixed residues, pair/predicate/energy constraints, resampling, rejection, intervals."""

import pytest
import torch

from equigen.generative.constraints import (
    EnergyConstraint,
    PairConstraint,
    PredicateConstraint,
    check_compatible,
    importance_resample,
    parse_fixed,
    rejection_sample,
    wilson_interval,
)


def test_parse_fixed_canonicalises_and_rejects_bad_input():
    assert parse_fixed({3: "C", 0: 2}, length=5, alphabet="ACDE") == {3: 1, 0: 2}
    assert parse_fixed([(1, "E"), (1, "E")], length=5, alphabet="ACDE") == {1: 3}
    assert parse_fixed(None, length=5, alphabet="ACDE") == {}
    with pytest.raises(ValueError, match="conflicting fixed residues at position 1: 'E' and 'A'"):
        parse_fixed([(1, "E"), (1, "A")], length=5, alphabet="ACDE")
    with pytest.raises(ValueError, match="position 5 is out of range 0..4"):
        parse_fixed({5: "C"}, length=5, alphabet="ACDE")
    with pytest.raises(ValueError, match="position -1 is out of range"):
        parse_fixed({-1: "C"}, length=5, alphabet="ACDE")
    with pytest.raises(ValueError, match="unknown residue letter 'X'"):
        parse_fixed({2: "X"}, length=5, alphabet="ACDE")
    with pytest.raises(ValueError, match="outside 0..3"):
        parse_fixed({2: 4}, length=5, alphabet="ACDE")
    with pytest.raises(TypeError, match="positions must be integers"):
        parse_fixed({2.0: "C"}, length=5, alphabet="ACDE")
    with pytest.raises(TypeError, match="mapping"):
        parse_fixed("C", length=5, alphabet="ACDE")


def test_pair_constraint_energy_is_distance_to_the_allowed_pairs():
    c = PairConstraint(0, 3, [("C", "C"), ("D", "E")], length=4, alphabet="ACDE")
    seqs = torch.tensor([[1, 0, 0, 1],   # CC: satisfied
                         [2, 0, 0, 3],   # DE: satisfied
                         [1, 0, 0, 3],   # CE: one letter off either pair
                         [0, 0, 0, 0],   # AA: two off
                         [2, 0, 0, 1]])  # DC: one off
    assert c.energy(seqs).tolist() == [0.0, 0.0, 1.0, 2.0, 1.0]
    assert c.satisfied(seqs).tolist() == [True, True, False, False, False]
    assert c.positions == (0, 3)
    with pytest.raises(ValueError, match="out of range"):
        PairConstraint(0, 4, [("C", "C")], length=4, alphabet="ACDE")
    with pytest.raises(ValueError, match="different positions"):
        PairConstraint(2, 2, [("C", "C")], length=4, alphabet="ACDE")
    with pytest.raises(ValueError, match="unknown residue letter"):
        PairConstraint(0, 2, [("C", "Z")], length=4, alphabet="ACDE")
    # fixed residues that rule out every allowed pair are a clear error; compatible ones pass
    with pytest.raises(ValueError, match="conflicting constraints"):
        check_compatible({3: 0}, c, length=4, q=4)
    check_compatible({3: 3}, c, length=4, q=4)


def test_predicate_and_energy_constraints():
    p = PredicateConstraint(lambda s: (s == 1).sum(1) >= 2)
    seqs = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert p.satisfied(seqs).tolist() == [True, False] and p.energy(seqs).tolist() == [0.0, 1.0]
    e = EnergyConstraint(lambda s: (s == 0).sum(1).double(), threshold=1.0, positions=[0, 2], length=3)
    assert e.satisfied(seqs).tolist() == [True, False] and e.positions == (0, 2)
    with pytest.raises(ValueError, match="out of range"):
        EnergyConstraint(lambda s: s.sum(1), positions=[3], length=3)
    with pytest.raises(TypeError, match="callable"):
        PredicateConstraint(3)


def test_importance_resample_follows_the_weights():
    n, K, L = 4000, 3, 2
    cand = torch.arange(K)[None, :, None].repeat(n, 1, L)
    lw = torch.log(torch.tensor([0.2, 0.5, 0.3])).repeat(n, 1)
    seqs, ess = importance_resample(cand, lw, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(seqs[:, 0], minlength=3).double() / n
    assert (freq - torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)).abs().max() < 0.03
    assert ess[0].item() == pytest.approx(1 / (0.04 + 0.25 + 0.09))
    lw_dead = torch.full((n, K), float("-inf"))  # all weights zero: uniform pick, no NaN
    seqs, _ = importance_resample(cand, lw_dead, generator=torch.Generator().manual_seed(0))
    assert (torch.bincount(seqs[:, 0], minlength=3) > n / 4).all()
    with pytest.raises(ValueError, match=r"\(N, K, L\)"):
        importance_resample(cand[0], lw)


def test_rejection_sample_counts_draws_and_failures():
    g = torch.Generator().manual_seed(0)

    def draw(m):  # satisfies with probability 1/2
        return torch.randint(0, 2, (m, 3), generator=g)

    c = PredicateConstraint(lambda s: s[:, 0] == 1)
    seqs, info = rejection_sample(draw, c, 2000, tries=4)
    # accepted within 4 draws with probability 1 - 1/16; mean draws 1 + 1/2 + 1/4 + 1/8 = 1.875
    assert info["accepted"] == pytest.approx(15 / 16, abs=0.02)
    assert info["rounds_per_sample"] == pytest.approx(1.875, abs=0.06)
    assert seqs.shape == (2000, 3)
    assert c.satisfied(seqs).float().mean().item() == pytest.approx(info["accepted"])
    with pytest.raises(ValueError, match="tries"):
        rejection_sample(draw, c, 10, tries=0)


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-3)
    assert wilson_interval(20, 20)[1] == 1.0
