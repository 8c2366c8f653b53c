"""Potts ground truth: exact energies, encoding errors, MCMC detailed balance and stationarity by enumeration."""

import math

import pytest
import torch

from equigen.data.potts import (
    PottsModel,
    mcmc_diagnostics,
    pair_covariances,
    sample_mcmc,
    single_site_frequencies,
)


def _tiny_dense(L=4, q=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    edges = [(i, j) for i in range(L) for j in range(i + 1, L)]
    return PottsModel(0.7 * torch.randn(L, q, generator=g, dtype=torch.float64), edges,
                      0.9 * torch.randn(len(edges), q, q, generator=g, dtype=torch.float64))


def test_energy_matches_hand_computation():
    # L=3, q=2 ("AC"): fields and two couplings written out by hand
    fields = [[0.5, -1.0], [0.0, 2.0], [1.5, 0.25]]
    J01 = [[1.0, -2.0], [0.5, 3.0]]
    J02 = [[0.0, 0.75], [-1.25, 0.0]]
    p = PottsModel(fields, [(0, 1), (0, 2)], [J01, J02], alphabet="AC")
    # "CAC": s = (1, 0, 1): E = -(h0(1) + h1(0) + h2(1)) - (J01[1][0] + J02[1][1])
    expected = -(-1.0 + 0.0 + 0.25) - (0.5 + 0.0)
    # "ACA": s = (0, 1, 0): E = -(0.5 + 2.0 + 1.5) - (-2.0 + 0.0)
    expected2 = -(0.5 + 2.0 + 1.5) - (-2.0 + 0.0)
    e = p.energy(["CAC", "ACA"])
    assert e.dtype == torch.float64
    assert e.tolist() == pytest.approx([expected, expected2], abs=1e-14)
    assert p.energy(torch.tensor([1, 0, 1])).item() == pytest.approx(expected, abs=1e-14)
    # float32 model agrees to float32 precision
    p32 = PottsModel(fields, [(0, 1), (0, 2)], [J01, J02], alphabet="AC", dtype=torch.float32)
    assert p32.energy(["CAC"]).dtype == torch.float32
    assert p32.energy(["CAC"]).item() == pytest.approx(expected, rel=1e-6)


def test_conditional_logits_are_energy_differences():
    p = _tiny_dense()
    s = torch.randint(0, 3, (7, 4), generator=torch.Generator().manual_seed(1))
    for i in range(4):
        logits = p.conditional_logits(s, i)
        for a in range(3):
            t = s.clone()
            t[:, i] = a
            # logit differences equal -beta * energy differences
            torch.testing.assert_close(logits[:, a] - logits[:, 0], -(p.energy(t) - p.energy(_set(s, i, 0))),
                                       rtol=0, atol=1e-12)
        torch.testing.assert_close(p.conditional_logits_many(s, [i])[:, 0], logits, rtol=0, atol=1e-12)


def _set(s, i, a):
    t = s.clone()
    t[:, i] = a
    return t


def test_gibbs_kernel_satisfies_detailed_balance_exactly():
    p = _tiny_dense()
    seqs, logp = p.enumerate_log_probs()
    assert seqs.shape == (81, 4)
    assert torch.logsumexp(logp, 0).item() == pytest.approx(0.0, abs=1e-12)
    pi = logp.exp()
    index = {tuple(x): n for n, x in enumerate(seqs.tolist())}
    for i in range(4):
        K = torch.zeros(81, 81, dtype=torch.float64)
        probs = torch.softmax(p.conditional_logits(seqs, i), -1)
        for n, x in enumerate(seqs.tolist()):
            for a in range(3):
                y = list(x)
                y[i] = a
                K[n, index[tuple(y)]] += probs[n, a]
        flow = pi[:, None] * K
        torch.testing.assert_close(flow, flow.T, rtol=0, atol=1e-15)
        torch.testing.assert_close(K.sum(1), torch.ones(81, dtype=torch.float64))


@pytest.mark.parametrize("method", ["gibbs", "metropolis"])
def test_mcmc_frequencies_match_exact_enumeration(method):
    p = _tiny_dense()
    seqs, logp = p.enumerate_log_probs()
    n = 8000
    run = sample_mcmc(p, n, method=method, sweeps=30, chains=n, generator=torch.Generator().manual_seed(3))
    codes = (run.samples * torch.tensor([27, 9, 3, 1])).sum(1)
    observed = torch.bincount(codes, minlength=81).double()
    expected = n * logp.exp()[torch.argsort((seqs * torch.tensor([27, 9, 3, 1])).sum(1))]
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    # 80 degrees of freedom: mean 80, sd ~12.6; 140 is a p-value ~1e-4 (seeded, so deterministic)
    assert chi2 < 140, chi2
    tv = 0.5 * float((observed / n - expected / n).abs().sum())
    assert tv < 0.05
    # a clearly wrong target (beta doubled) is rejected by the same statistic
    wrong = PottsModel(p.fields, p.edges, p.couplings, beta=2.0)
    _, logp_wrong = wrong.enumerate_log_probs()
    exp_wrong = n * logp_wrong.exp()[torch.argsort((seqs * torch.tensor([27, 9, 3, 1])).sum(1))]
    assert float(((observed - exp_wrong) ** 2 / exp_wrong).sum()) > 1000
    if method == "metropolis":
        assert 0.1 < run.diagnostics["acceptance_rate"] < 1.0


def test_fixed_positions_are_clamped_and_conditionals_exact():
    p = _tiny_dense()
    seqs, logp = p.enumerate_log_probs()
    n = 6000
    run = sample_mcmc(p, n, sweeps=30, chains=n, fixed={2: "C"}, generator=torch.Generator().manual_seed(4))
    assert (run.samples[:, 2] == p.index("C")).all()
    mask = seqs[:, 2] == p.index("C")
    cond = torch.softmax(logp[mask], 0)
    exact_f0 = torch.zeros(3, dtype=torch.float64).index_add_(0, seqs[mask, 0], cond)
    emp = single_site_frequencies(run.samples, 3)[0]
    assert (emp - exact_f0).abs().max() < 0.03


def test_planted_model_has_bond_and_rare_cysteine():
    g = torch.Generator().manual_seed(0)
    p = PottsModel.planted(60, 4, bond=(10, 50), num_contacts=3, generator=g)
    assert p.bond == ((10, 50), frozenset({("C", "C")}))
    e = {tuple(x): k for k, x in enumerate(p.edges.tolist())}
    c = p.index("C")
    assert p.couplings[e[(10, 50)], c, c] == 5.0
    long_range = [k for (i, j), k in e.items() if j - i >= 20]
    assert len(long_range) == 4  # bond + 3 contacts
    run = sample_mcmc(p, 800, sweeps=60, chains=400, generator=torch.Generator().manual_seed(1))
    d = run.diagnostics
    assert 0.99 < d["r_hat"] < 1.05 and d["ess"] > 1000 and "bond_r_hat" in d
    f = single_site_frequencies(run.samples, 4)
    assert f[:, c].mean() < 0.15  # the bonding letter is rare
    cov = pair_covariances(run.samples, 4, [(10, 50)])
    assert cov[0, c, c] > 0.02  # the bond shows as a positive correlation of C with C


def test_mcmc_diagnostics_flag_unmixed_chains():
    g = torch.Generator().manual_seed(0)
    iid = torch.randn(400, 8, generator=g, dtype=torch.float64)
    d = mcmc_diagnostics(iid)
    assert abs(d["r_hat"] - 1) < 0.02 and 0.7 < d["tau_int"] < 1.5
    stuck = iid + torch.arange(8, dtype=torch.float64)  # chains at different levels
    assert mcmc_diagnostics(stuck)["r_hat"] > 1.5
    ar = torch.zeros(2000, 4, dtype=torch.float64)  # AR(1) with rho=0.9: tau = (1+rho)/(1-rho) = 19
    noise = torch.randn(2000, 4, generator=g, dtype=torch.float64)
    for t in range(1, 2000):
        ar[t] = 0.9 * ar[t - 1] + noise[t]
    assert 12 < mcmc_diagnostics(ar)["tau_int"] < 28


def test_bad_input_errors():
    p = PottsModel.planted(20, 4, bond=(2, 15), num_contacts=1, min_contact_separation=5)
    with pytest.raises(ValueError, match="unknown residue letters"):
        p.encode("ACDX" + "A" * 16)
    with pytest.raises(ValueError, match="length 3, expected L=20"):
        p.encode("ACD")
    with pytest.raises(ValueError, match=r"shape \(N, L=20\)"):
        p.energy(torch.zeros(2, 19, dtype=torch.long))
    with pytest.raises(ValueError, match="outside 0..3"):
        p.energy(torch.full((1, 20), 4))
    with pytest.raises(TypeError, match="integer letter indices"):
        p.energy(torch.zeros(1, 20))
    with pytest.raises(ValueError, match="out of range"):
        sample_mcmc(p, 4, fixed={20: "C"})
    with pytest.raises(ValueError, match="unknown residue letter"):
        sample_mcmc(p, 4, fixed={3: "Z"})
    with pytest.raises(ValueError, match="method"):
        sample_mcmc(p, 4, method="hmc")
    with pytest.raises(ValueError, match="bond positions"):
        PottsModel.planted(20, 4, bond=(2, 25))
    with pytest.raises(ValueError, match="q must be"):
        PottsModel.planted(20, 25)
    with pytest.raises(ValueError, match="too many states"):
        p.enumerate_log_probs()
    assert p.decode(p.encode("C" * 20)) == ["C" * 20]
    assert not math.isnan(float(p.energy("C" * 20)))
