"""A Potts model over sequences, with planted long-range contacts: the exact ground truth for sequence models.

The probability of a sequence ``s`` of length ``L`` over an alphabet of ``q`` letters is
``p(s) ∝ exp(-beta * E(s))`` with the energy

    E(s) = - sum_i h_i(s_i) - sum_{(i, j) in edges} J_ij(s_i, s_j)

(dimensionless; ``beta`` is an inverse temperature). :meth:`PottsModel.planted` builds the benchmark
model: random local couplings between ``i`` and ``i+1 .. i+4`` (secondary-structure-like), a few
strong planted long-range contacts between complementary letters, and a "bond" between two positions
(``10`` and ``100`` by default) that is favoured only when both hold the bonding letter (``C``,
cysteine), which is rare on its own. :func:`sample_mcmc` draws sequences by Gibbs or Metropolis
sampling over many parallel chains and reports mixing diagnostics (split R-hat, integrated
autocorrelation time, effective sample size, acceptance rate).

Sequences are ``(N, L)`` ``torch.long`` tensors of letter indices; :meth:`PottsModel.encode` and
:meth:`PottsModel.decode` convert to and from strings. No geometric symmetry is claimed.

Example::

    potts = PottsModel.planted(length=120, q=20, generator=torch.Generator().manual_seed(0))
    run = sample_mcmc(potts, 1000, sweeps=200, generator=torch.Generator().manual_seed(1))
    run.samples.shape, run.diagnostics["r_hat"]      # (1000, 120), ~1.0
    potts.energy(run.samples[:3])                     # exact energies, float64
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from equigen.core.dtypes import physics_dtype
from equigen.core.validation import check_int, check_positive_float, check_positive_int, check_tensor
from equigen.data.mcmc import mcmc_diagnostics, metropolis_accept

__all__ = ["AMINO_ACIDS", "PottsModel", "MCMCResult", "sample_mcmc", "mcmc_diagnostics", "default_alphabet"]

#: The 20 standard amino acids, one letter each. Smaller alphabets take a prefix (which keeps ``C``).
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def default_alphabet(q: int) -> str:
    """The first ``q`` amino-acid letters (``q`` in 2..20); every such alphabet contains ``C``."""
    if isinstance(q, bool) or not isinstance(q, int) or not 2 <= q <= len(AMINO_ACIDS):
        raise ValueError(f"q must be an integer in 2..{len(AMINO_ACIDS)} (or pass alphabet=...), got {q!r}")
    return AMINO_ACIDS[:q]


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def _check_couplings(edges, couplings, fields):
    """``edges`` ``(E, 2)`` long (``i < j`` within the length, no duplicates) and ``couplings`` ``(E, q, q)``."""
    L, q = fields.shape
    edges = torch.as_tensor(edges, dtype=torch.long, device=fields.device).reshape(-1, 2)
    couplings = torch.as_tensor(couplings, dtype=fields.dtype, device=fields.device)
    if couplings.shape != (edges.shape[0], q, q):
        raise ValueError(f"couplings must have shape (E, q, q) = ({edges.shape[0]}, {q}, {q}), "
                         f"got {tuple(couplings.shape)}")
    if edges.numel() and (bool((edges[:, 0] >= edges[:, 1]).any()) or int(edges.min()) < 0
                          or int(edges.max()) >= L):
        raise ValueError(f"edges must be pairs (i, j) with 0 <= i < j < L={L}")
    if len({tuple(e) for e in edges.tolist()}) != edges.shape[0]:
        raise ValueError("edges contain a duplicate pair; merge its couplings into one (q, q) matrix")
    return edges, couplings


def _check_planted_args(length, q, num_contacts, local_range, min_contact_separation, alphabet, bond_letter) -> str:
    """Validate :meth:`PottsModel.planted`'s sizes and letters; returns the alphabet."""
    for name, v in (("length", length), ("num_contacts", num_contacts), ("local_range", local_range),
                    ("min_contact_separation", min_contact_separation)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "length" else 0):
            raise ValueError(f"{name} must be a {'positive' if name == 'length' else 'non-negative'} "
                             f"integer, got {v!r}")
    alphabet = alphabet if alphabet is not None else default_alphabet(q)
    if len(alphabet) != q:
        raise ValueError(f"alphabet {alphabet!r} has {len(alphabet)} letters but q={q}")
    if bond_letter not in alphabet:
        raise ValueError(f"bond_letter {bond_letter!r} is not in the alphabet {alphabet!r}")
    return alphabet


def _local_couplings(L, q, local_range, local_scale, g) -> dict[tuple[int, int], torch.Tensor]:
    """Gaussian couplings ``J_{i,i+d}`` of scale ``local_scale / sqrt(d)``, ``d = 1..local_range``."""
    couplings: dict[tuple[int, int], torch.Tensor] = {}
    for d in range(1, local_range + 1):
        for i in range(L - d):
            couplings[(i, i + d)] = (local_scale / math.sqrt(d)) * torch.randn(q, q, generator=g,
                                                                              dtype=torch.float64)
    return couplings


def _plant_bond(couplings, bond, L, q, c, bond_strength, bond_letter):
    """Add ``bond_strength`` to ``J(c, c)`` at the bond positions; returns the model's ``bond`` metadata."""
    i, j = sorted(int(b) for b in bond)
    if not 0 <= i < j < L:
        raise ValueError(f"bond positions must be two distinct positions in 0..{L - 1}, got {bond!r}")
    J = couplings.setdefault((i, j), torch.zeros(q, q, dtype=torch.float64))
    J[c, c] += bond_strength
    return (i, j), {(bond_letter, bond_letter)}


def _plant_contacts(couplings, L, q, c, used, num_contacts, min_contact_separation, contact_strength, g) -> None:
    """Plant ``num_contacts`` long-range pairs (away from ``used``) favouring a random letter pairing."""
    others = [a for a in range(q) if a != c]
    placed, attempts = 0, 0
    while placed < num_contacts:
        attempts += 1
        if attempts > 10_000:
            raise ValueError(f"could not place {num_contacts} contacts with separation >= "
                             f"{min_contact_separation} in length {L}; lower num_contacts or the separation")
        i, j = sorted(torch.randint(0, L, (2,), generator=g).tolist())
        if j - i < min_contact_separation or i in used or j in used:
            continue
        perm = torch.randperm(len(others), generator=g).tolist()
        J = couplings.setdefault((i, j), torch.zeros(q, q, dtype=torch.float64))
        for a, b in zip(others, perm):
            J[a, others[b]] += contact_strength
        used.update((i, j))
        placed += 1


class PottsModel:
    """A Potts energy on sequences of length ``L`` over ``alphabet`` (``q`` letters), pairwise on ``edges``.

    * ``fields``: ``(L, q)``; ``edges``: ``(E, 2)`` long with ``i < j``, no duplicates;
      ``couplings``: ``(E, q, q)`` with ``couplings[e, a, b] = J_ij(a, b)`` for ``edges[e] = (i, j)``.
    * ``beta``: inverse temperature of ``p(s) ∝ exp(-beta E(s))``.
    * ``bond``: optional ``((i, j), letters)``: the planted pair the benchmark asks about; ``letters``
      is a set of allowed letter pairs, e.g. ``{("C", "C")}`` (kept as metadata for constraints).

    Computation is in ``dtype`` (float64 by default: energies are exact up to rounding).
    """

    def __init__(self, fields, edges, couplings, *, alphabet: str | None = None, beta: float = 1.0,
                 bond=None, dtype=None, device=None):
        dtype = physics_dtype(dtype)
        fields = torch.as_tensor(fields, dtype=dtype, device=device)
        if fields.ndim != 2:
            raise ValueError(f"fields must have shape (L, q), got {tuple(fields.shape)}")
        L, q = fields.shape
        alphabet = alphabet if alphabet is not None else default_alphabet(q)
        if not isinstance(alphabet, str) or len(alphabet) != q or len(set(alphabet)) != q:
            raise ValueError(f"alphabet must be a string of {q} distinct letters (one per column of fields), "
                             f"got {alphabet!r}")
        edges, couplings = _check_couplings(edges, couplings, fields)
        beta = check_positive_float(beta, "beta")
        self.fields, self.edges, self.couplings = fields, edges, couplings
        self.alphabet, self.beta = alphabet, float(beta)
        self.length, self.q = int(L), int(q)
        self.bond = None if bond is None else self._check_bond(bond)
        self._build_neighbour_tables()
        self._colors = None

    def _check_bond(self, bond):
        """``((i, j), letters)`` checked against the length and alphabet -> ``((i, j), frozenset of pairs)``."""
        (i, j), letters = bond
        self.check_positions([i, j], argument="bond")
        pairs = frozenset((a, b) for a, b in letters)
        for a, b in pairs:
            self.index(a), self.index(b)
        return (int(i), int(j)), pairs

    def _build_neighbour_tables(self) -> None:
        """Per-site neighbour lists and couplings, plain and padded, for the conditionals."""
        L, q, edges, couplings = self.length, self.q, self.edges, self.couplings
        dev = self.fields.device
        # per-site neighbour tables for conditionals: Jn[i][k, a, b] couples s_i = a with s_{nbr[i][k]} = b
        self._nbr, self._jn = [], []
        for i in range(L):
            as_first = (edges[:, 0] == i).nonzero().flatten()
            as_second = (edges[:, 1] == i).nonzero().flatten()
            nbr = torch.cat([edges[as_first, 1], edges[as_second, 0]])
            jn = torch.cat([couplings[as_first], couplings[as_second].transpose(1, 2)])
            self._nbr.append(nbr)
            self._jn.append(jn)
        # padded tables for updating many sites at once: nbr (L, K) (pad: the site itself, zero coupling)
        K = max((n.numel() for n in self._nbr), default=0)
        self._nbr_pad = torch.arange(L, device=dev)[:, None].repeat(1, max(K, 1))
        self._jn_pad = torch.zeros(L, max(K, 1), q, q, dtype=self.fields.dtype, device=dev)
        for i in range(L):
            k = self._nbr[i].numel()
            self._nbr_pad[i, :k] = self._nbr[i]
            self._jn_pad[i, :k] = self._jn[i]
        self._jn_rows = self._jn_pad.transpose(2, 3).reshape(-1, q).contiguous()
        self._flat_couplings = couplings.reshape(-1)

    # ------------------------------------------------------------------ construction
    @classmethod
    def planted(cls, length: int = 120, q: int = 20, *, bond: tuple[int, int] | None = (10, 100),
                bond_letter: str = "C", bond_strength: float = 5.0, rare_penalty: float = 2.0,
                num_contacts: int = 6, contact_strength: float = 2.0, min_contact_separation: int = 20,
                local_range: int = 4, local_scale: float = 0.5, field_scale: float = 0.5, beta: float = 1.0,
                alphabet: str | None = None, generator: torch.Generator | None = None, dtype=None, device=None):
        """The benchmark Potts model: local couplings, planted contacts and a bond (see the module docstring).

        * local couplings ``J_{i,i+d}`` for ``d = 1..local_range``: Gaussian entries of scale
          ``local_scale / sqrt(d)``; fields: Gaussian of scale ``field_scale``;
        * ``bond_letter`` is rare everywhere (its field lowered by ``rare_penalty``), and
          ``J_bond(bond_letter, bond_letter) = bond_strength`` at the ``bond`` positions;
        * ``num_contacts`` extra long-range pairs (``|i - j| >= min_contact_separation``, avoiding the
          bond positions) favour a random complementary pairing of letters by ``contact_strength``.
        """
        _check_generator(generator)
        alphabet = _check_planted_args(length, q, num_contacts, local_range, min_contact_separation, alphabet,
                                       bond_letter)
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        L = length
        c = alphabet.index(bond_letter)
        fields = field_scale * torch.randn(L, q, generator=g, dtype=torch.float64)
        fields[:, c] -= rare_penalty
        couplings = _local_couplings(L, q, local_range, local_scale, g)
        bond_meta = None
        if bond is not None:
            bond_meta = _plant_bond(couplings, bond, L, q, c, bond_strength, bond_letter)
        used = set(bond) if bond is not None else set()
        _plant_contacts(couplings, L, q, c, used, num_contacts, min_contact_separation, contact_strength, g)
        keys = sorted(couplings)
        edges = torch.tensor(keys, dtype=torch.long).reshape(-1, 2)
        J = torch.stack([couplings[k] for k in keys]) if keys else torch.zeros(0, q, q, dtype=torch.float64)
        return cls(fields, edges, J, alphabet=alphabet, beta=beta, bond=bond_meta, dtype=dtype, device=device)

    # ------------------------------------------------------------------ encoding
    def index(self, letter: str) -> int:
        """The index of one letter; ``ValueError`` names unknown letters."""
        if not isinstance(letter, str) or len(letter) != 1 or letter not in self.alphabet:
            raise ValueError(f"unknown residue letter {letter!r}; the alphabet is {self.alphabet!r}")
        return self.alphabet.index(letter)

    def encode(self, sequences) -> torch.Tensor:
        """Strings (one or a list) -> ``(N, L)`` long. Unknown letters and wrong lengths raise ``ValueError``."""
        if isinstance(sequences, str):
            sequences = [sequences]
        out = []
        for n, s in enumerate(sequences):
            if not isinstance(s, str):
                raise TypeError(f"sequences[{n}] must be a string, got {type(s).__name__}")
            if len(s) != self.length:
                raise ValueError(f"sequences[{n}] has length {len(s)}, expected L={self.length}")
            bad = sorted({ch for ch in s if ch not in self.alphabet})
            if bad:
                raise ValueError(f"sequences[{n}] contains unknown residue letters {bad}; the alphabet is "
                                 f"{self.alphabet!r}")
            out.append([self.alphabet.index(ch) for ch in s])
        return torch.tensor(out, dtype=torch.long, device=self.fields.device).reshape(-1, self.length)

    def decode(self, seqs: torch.Tensor) -> list[str]:
        """``(N, L)`` long -> list of strings."""
        seqs = self.check_sequences(seqs)
        return ["".join(self.alphabet[a] for a in row) for row in seqs.tolist()]

    def check_sequences(self, seqs, argument: str = "seqs") -> torch.Tensor:
        """Validate an ``(N, L)`` (or ``(L,)``) integer tensor of letter indices; returns it as ``(N, L)`` long."""
        if isinstance(seqs, (str, list, tuple)) and seqs and isinstance(seqs[0] if not isinstance(seqs, str)
                                                                       else seqs, str):
            return self.encode(seqs)
        if not isinstance(seqs, torch.Tensor):
            raise TypeError(f"{argument} must be a long tensor (N, L) or strings, got {type(seqs).__name__}")
        if seqs.dtype.is_floating_point or seqs.dtype.is_complex or seqs.dtype == torch.bool:
            raise TypeError(f"{argument} must hold integer letter indices, got dtype {seqs.dtype}")
        if seqs.ndim == 1:
            seqs = seqs[None]
        if seqs.ndim != 2 or seqs.shape[1] != self.length:
            raise ValueError(f"{argument} must have shape (N, L={self.length}), got {tuple(seqs.shape)}")
        if seqs.numel() and (int(seqs.min()) < 0 or int(seqs.max()) >= self.q):
            raise ValueError(f"{argument} holds letter indices outside 0..{self.q - 1} (q={self.q})")
        return seqs.long().to(self.fields.device)

    def check_positions(self, positions, argument: str = "positions") -> list[int]:
        out = []
        for p in positions:
            if isinstance(p, bool) or not isinstance(p, int) and not (isinstance(p, torch.Tensor) and p.numel() == 1):
                raise TypeError(f"{argument}: positions must be integers, got {p!r}")
            p = int(p)
            if not 0 <= p < self.length:
                raise ValueError(f"{argument}: position {p} is out of range 0..{self.length - 1} (L={self.length})")
            out.append(p)
        return out

    # ------------------------------------------------------------------ energies
    def energy(self, seqs) -> torch.Tensor:
        """Exact energy ``E(s)`` of ``(N, L)`` sequences (or strings) -> ``(N,)`` in ``self.fields.dtype``."""
        s = self.check_sequences(seqs)
        e = -self.fields[torch.arange(self.length, device=s.device), s].sum(-1)
        if self.edges.numel():
            a, b = s[:, self.edges[:, 0]], s[:, self.edges[:, 1]]
            offset = torch.arange(self.edges.shape[0], device=s.device) * (self.q * self.q)
            flat = (offset + a * self.q + b).reshape(-1)
            e = e - self._flat_couplings.index_select(0, flat).reshape(s.shape[0], -1).sum(-1)
        return e

    def log_prob_unnormalized(self, seqs) -> torch.Tensor:
        """``-beta * E(s)``."""
        return -self.beta * self.energy(seqs)

    def conditional_logits(self, seqs: torch.Tensor, i: int) -> torch.Tensor:
        """``(N, q)`` logits of ``p(s_i = a | s_{-i})``: ``beta * (h_i(a) + sum_j J_ij(a, s_j))``."""
        jn, nbr = self._jn[i], self._nbr[i]
        out = self.fields[i].expand(seqs.shape[0], self.q)
        if nbr.numel():
            # jn[k, :, s[:, nbr[k]]] summed over k -> (N, q)
            k = torch.arange(nbr.numel(), device=seqs.device)
            out = out + jn[k[None, :], :, seqs[:, nbr]].sum(1)
        return self.beta * out

    def conditional_logits_many(self, seqs: torch.Tensor, sites) -> torch.Tensor:
        """``(N, m, q)`` conditional logits at ``m`` sites at once (each given all other positions)."""
        sites = torch.as_tensor(sites, dtype=torch.long, device=seqs.device)
        nbr = self._nbr_pad[sites]  # (m, K)
        m, K = nbr.shape
        # row (site * K + k) * q + b of _jn_rows is the vector a -> J(s_site = a, s_nbr = b)
        base = (sites[:, None] * K + torch.arange(K, device=seqs.device)) * self.q  # (m, K)
        rows = (base[None] + seqs[:, nbr]).reshape(-1)
        pair = self._jn_rows.index_select(0, rows).reshape(seqs.shape[0], m, K, self.q)
        return self.beta * (self.fields[sites] + pair.sum(2))

    def coloring(self) -> list[torch.Tensor]:
        """Sites split into classes with no coupling inside a class (greedy colouring of the edge graph).

        Sites of one class are conditionally independent given the others, so a Gibbs sampler may
        update a whole class at once (a valid systematic-scan sampler).
        """
        if self._colors is None:
            color = [-1] * self.length
            for i in range(self.length):
                taken = {color[int(j)] for j in self._nbr[i]}
                c = 0
                while c in taken:
                    c += 1
                color[i] = c
            self._colors = [torch.tensor([i for i in range(self.length) if color[i] == c], dtype=torch.long,
                                         device=self.fields.device) for c in range(max(color) + 1)]
        return self._colors

    def enumerate_log_probs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All ``q**L`` sequences and their exact normalised log-probabilities (tiny systems only, q**L <= 1e6)."""
        if self.q ** self.length > 1_000_000:
            raise ValueError(f"q**L = {self.q}**{self.length} is too many states to enumerate (limit 1e6)")
        grids = torch.cartesian_prod(*[torch.arange(self.q, device=self.fields.device)] * self.length)
        seqs = grids.reshape(-1, self.length)
        logp = self.log_prob_unnormalized(seqs)
        return seqs, logp - torch.logsumexp(logp, 0)

    def __repr__(self):
        return (f"PottsModel(L={self.length}, q={self.q}, alphabet={self.alphabet!r}, edges={self.edges.shape[0]}, "
                f"beta={self.beta}, bond={self.bond})")


# ---------------------------------------------------------------------- MCMC
@dataclass
class MCMCResult:
    """Samples ``(N, L)``, the energy trace ``(sweeps_kept, chains)`` and mixing diagnostics."""

    samples: torch.Tensor
    energy_trace: torch.Tensor
    diagnostics: dict = field(default_factory=dict)


def _fixed_tensor(potts: PottsModel, fixed) -> dict[int, int]:
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise TypeError(f"fixed must be a mapping position -> letter (or index), got {type(fixed).__name__}")
    out = {}
    for p, a in fixed.items():
        (p,) = potts.check_positions([p], argument="fixed")
        a = potts.index(a) if isinstance(a, str) else int(a)
        if not 0 <= a < potts.q:
            raise ValueError(f"fixed[{p}] = {a} is not a letter index in 0..{potts.q - 1}")
        out[p] = a
    return out


@torch.no_grad()
def sample_mcmc(potts: PottsModel, num_samples: int, *, method: str = "gibbs", sweeps: int = 200,
                burn_in: int | None = None, chains: int | None = None, fixed: Mapping | None = None,
                init: torch.Tensor | None = None, generator: torch.Generator | None = None) -> MCMCResult:
    """Sample ``p(s) ∝ exp(-beta E(s))`` (optionally with ``fixed`` positions clamped) by MCMC.

    ``chains`` independent chains (default ``num_samples``) start from uniform random sequences
    (or ``init``) and each run ``sweeps`` systematic sweeps over the free positions: ``"gibbs"``
    draws each site from its exact conditional; ``"metropolis"`` proposes a uniformly random
    different letter and accepts with ``min(1, exp(-beta dE))``. The first ``burn_in`` sweeps
    (default half) are discarded; the returned samples are the chains' states at evenly spaced
    sweeps after burn-in (``num_samples / chains`` per chain). Diagnostics (see
    :func:`~equigen.data.mcmc.mcmc_diagnostics`) are computed on the post-burn-in energy traces.
    """
    _check_generator(generator)
    chains, burn_in, per_chain = _check_mcmc_args(num_samples, method, sweeps, burn_in, chains)
    fixed_map = _fixed_tensor(potts, fixed)
    s = _initial_states(potts, chains, init, fixed_map, generator)
    fixed_t = torch.tensor(sorted(fixed_map), dtype=torch.long, device=potts.fields.device)
    blocks = [c[~torch.isin(c, fixed_t)] for c in potts.coloring()]
    blocks = [c for c in blocks if c.numel()]
    kept = sweeps - burn_in
    keep_at = {burn_in + k * kept // per_chain + kept // per_chain - 1 for k in range(per_chain)}
    trace, out, bond_trace = [], [], []
    bond_fn = _bond_indicator(potts, fixed_map)
    accepted = proposed = 0
    for sweep in range(sweeps):
        for sites in blocks:
            if method == "gibbs":
                _gibbs_update(potts, s, sites, generator)
            else:
                acc = _metropolis_update(potts, s, sites, generator)
                accepted += int(acc.sum())
                proposed += acc.numel()
        if sweep >= burn_in:
            trace.append(potts.energy(s))
            if bond_fn is not None:
                bond_trace.append(bond_fn(s))
        if sweep in keep_at:
            out.append(s.clone())
    energy_trace = torch.stack(trace)
    diagnostics = _chain_diagnostics(energy_trace, bond_trace, method, accepted, proposed)
    samples = torch.stack(out, 1).reshape(num_samples, potts.length)
    return MCMCResult(samples, energy_trace, diagnostics)


def _check_mcmc_args(num_samples, method, sweeps, burn_in, chains) -> tuple[int, int, int]:
    """Validate :func:`sample_mcmc`'s counts; returns ``(chains, burn_in, samples per chain)``."""
    if method not in ("gibbs", "metropolis"):
        raise ValueError(f"method must be 'gibbs' or 'metropolis', got {method!r}")
    for name, v in (("num_samples", num_samples), ("sweeps", sweeps)):
        check_positive_int(v, name)
    chains = num_samples if chains is None else chains
    if isinstance(chains, bool) or not isinstance(chains, int) or chains < 1 or num_samples % chains:
        raise ValueError(f"chains must be a positive integer dividing num_samples={num_samples}, got {chains!r}")
    burn_in = sweeps // 2 if burn_in is None else burn_in
    per_chain = num_samples // chains
    if not 0 <= burn_in < sweeps or sweeps - burn_in < per_chain:
        raise ValueError(f"need 0 <= burn_in < sweeps and at least num_samples/chains={per_chain} kept sweeps; "
                         f"got sweeps={sweeps}, burn_in={burn_in}")
    return chains, burn_in, per_chain


def _initial_states(potts, chains, init, fixed_map, generator) -> torch.Tensor:
    """``(chains, L)`` start states: uniform random letters (or ``init``), with the fixed positions written in."""
    if init is None:
        s = torch.randint(0, potts.q, (chains, potts.length), generator=generator).to(potts.fields.device)
    else:
        s = potts.check_sequences(init, argument="init").clone()
        if s.shape[0] != chains:
            raise ValueError(f"init must have {chains} rows (one per chain), got {s.shape[0]}")
    for p, a in fixed_map.items():
        s[:, p] = a
    return s


def _bond_indicator(potts, fixed_map):
    """``x -> (chains,)`` float64 indicator of an allowed letter pair at the bond, or ``None``.

    ``None`` when the model has no bond or both bond positions are fixed (nothing to diagnose).
    """
    if potts.bond is None or set(potts.bond[0]) <= set(fixed_map):
        return None
    (bi, bj), pairs = potts.bond
    allowed = torch.zeros(potts.q, potts.q, dtype=torch.float64, device=potts.fields.device)
    for a, b in pairs:
        allowed[potts.index(a), potts.index(b)] = 1.0

    def bond_fn(x):
        return allowed[x[:, bi], x[:, bj]]
    return bond_fn


def _gibbs_update(potts, s, sites, generator) -> None:
    """Redraw the (mutually uncoupled) ``sites`` of every chain from their exact conditionals, in place."""
    logits = potts.conditional_logits_many(s, sites)  # (chains, m, q)
    cdf = torch.softmax(logits, -1).cumsum(-1)
    u = torch.rand(s.shape[0], sites.numel(), 1, generator=generator, dtype=cdf.dtype).to(potts.fields.device)
    s[:, sites] = (cdf < u * cdf[..., -1:]).sum(-1).clamp_max(potts.q - 1)


def _metropolis_update(potts, s, sites, generator) -> torch.Tensor:
    """Propose a random different letter at each of ``sites`` and accept by Metropolis, in place.

    Returns the ``(chains, m)`` accepted mask.
    """
    logits = potts.conditional_logits_many(s, sites)  # (chains, m, q)
    shift = torch.randint(1, potts.q, (s.shape[0], sites.numel()), generator=generator).to(potts.fields.device)
    cur = s[:, sites]
    prop = (cur + shift) % potts.q
    d = logits.gather(2, prop[..., None]) - logits.gather(2, cur[..., None])  # = -beta dE
    acc = metropolis_accept(d[..., 0], generator)
    s[:, sites] = torch.where(acc, prop, cur)
    return acc


def _chain_diagnostics(energy_trace, bond_trace, method, accepted, proposed) -> dict:
    """Mixing diagnostics of the energy (and bond indicator) traces, plus the acceptance rate."""
    diagnostics = mcmc_diagnostics(energy_trace)
    diagnostics["method"] = method
    if bond_trace:
        bond = mcmc_diagnostics(torch.stack(bond_trace))
        diagnostics.update({"bond_r_hat": bond["r_hat"], "bond_tau_int": bond["tau_int"], "bond_ess": bond["ess"]})
    if method == "metropolis":
        diagnostics["acceptance_rate"] = accepted / max(proposed, 1)
    return diagnostics

def single_site_frequencies(seqs: torch.Tensor, q: int) -> torch.Tensor:
    """``(L, q)`` empirical letter frequencies of ``(N, L)`` sequences."""
    _check_counts(seqs, q)
    return torch.nn.functional.one_hot(seqs, q).double().mean(0)


def pair_covariances(seqs: torch.Tensor, q: int, pairs: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``(P, q, q)`` connected correlations ``f_ij(a, b) - f_i(a) f_j(b)`` at the given position pairs."""
    _check_counts(seqs, q)
    x = torch.nn.functional.one_hot(seqs, q).double()
    i = torch.tensor([p[0] for p in pairs], dtype=torch.long)
    j = torch.tensor([p[1] for p in pairs], dtype=torch.long)
    xi, xj = x[:, i], x[:, j]  # (N, P, q)
    fij = torch.einsum("npa,npb->pab", xi, xj) / x.shape[0]
    return fij - xi.mean(0)[:, :, None] * xj.mean(0)[:, None, :]


def _check_counts(seqs, q):
    check_int(q, "q", min=1)
    check_tensor(seqs, "seqs", ndim=2, dtype=torch.long)
    if seqs.numel() and (int(seqs.min()) < 0 or int(seqs.max()) >= q):
        raise ValueError(f"seqs holds letter indices in {int(seqs.min())}..{int(seqs.max())}, outside 0..{q - 1} "
                         f"(q={q})")


__all__ += ["single_site_frequencies", "pair_covariances"]
