"""Constraints for sequence generation: fixed residues (inpainting), pair predicates, global energy terms.

A constraint is a value with an ``energy(seqs) -> (N,)`` (0 when satisfied, larger the further from
it), a ``satisfied(seqs) -> (N,) bool`` test and the ``positions`` it reads (``None``: all). The
masked model enforces a constraint during refinement by tilting its conditionals by
``exp(-strength * energy)`` (see :meth:`~equigen.generative.sequence.MaskedTransformer.sample`);
any model can enforce one after the fact by :func:`rejection_sample` or :func:`importance_resample`.

Sequences are ``(N, L)`` long tensors of indices into an ``alphabet`` string. No symmetry is claimed.

Example::

    bond = PairConstraint(10, 100, [("C", "C")], length=120, alphabet="ACDE")
    fixed = parse_fixed({100: "C"}, length=120, alphabet="ACDE")      # {100: 1}
    bond.satisfied(seqs)                                               # (N,) bool
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch

from equigen.core.deprecation import renamed_kwargs
from equigen.core.validation import check_positive_int

__all__ = ["parse_fixed", "Constraint", "PairConstraint", "PredicateConstraint", "EnergyConstraint",
           "check_compatible", "importance_resample", "rejection_sample", "wilson_interval"]


def _letter_index(letter, alphabet: str, argument: str) -> int:
    if isinstance(letter, str):
        if len(letter) != 1 or letter not in alphabet:
            raise ValueError(f"{argument}: unknown residue letter {letter!r}; the alphabet is {alphabet!r}")
        return alphabet.index(letter)
    if isinstance(letter, bool) or not isinstance(letter, int):
        raise TypeError(f"{argument}: a residue must be a letter or an integer index, got {letter!r}")
    if not 0 <= letter < len(alphabet):
        raise ValueError(f"{argument}: residue index {letter} is outside 0..{len(alphabet) - 1}")
    return int(letter)


def _position(p, length: int, argument: str) -> int:
    if isinstance(p, bool) or not isinstance(p, int):
        raise TypeError(f"{argument}: positions must be integers, got {p!r}")
    if not 0 <= p < length:
        raise ValueError(f"{argument}: position {p} is out of range 0..{length - 1} (L={length})")
    return int(p)


def parse_fixed(fixed, *, length: int, alphabet: str, argument: str = "fixed") -> dict[int, int]:
    """Canonical ``{position: letter index}`` from a mapping or an iterable of ``(position, letter)`` pairs.

    Letters may be given as characters of ``alphabet`` or as indices. Raises ``ValueError`` for
    positions out of range, unknown letters, and conflicting fixed residues (one position given two
    different letters).
    """
    if fixed is None:
        return {}
    items = fixed.items() if isinstance(fixed, Mapping) else fixed
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(f"{argument} must be a mapping position -> letter or (position, letter) pairs, "
                        f"got {type(fixed).__name__}")
    out: dict[int, int] = {}
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"{argument}: expected (position, letter) pairs, got {item!r}")
        p = _position(item[0], length, argument)
        a = _letter_index(item[1], alphabet, argument)
        if p in out and out[p] != a:
            raise ValueError(f"{argument}: conflicting fixed residues at position {p}: {alphabet[out[p]]!r} and "
                             f"{alphabet[a]!r}; fix each position to one letter")
        out[p] = a
    return out


class Constraint:
    """Base: ``energy(seqs) -> (N,)`` >= 0 with 0 meaning satisfied; ``positions`` read (``None``: all)."""

    positions: tuple[int, ...] | None = None

    def energy(self, seqs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def satisfied(self, seqs: torch.Tensor) -> torch.Tensor:
        """``(N,)`` bool."""
        return self.energy(seqs) <= 0


class PairConstraint(Constraint):
    """Positions ``i`` and ``j`` must hold one of the ``allowed`` letter pairs (e.g. a cysteine bond).

    ``energy`` is the Hamming distance from ``(s_i, s_j)`` to the nearest allowed pair (0, 1 or 2),
    so a sampler can move towards the constraint one position at a time.
    """

    def __init__(self, i: int, j: int, allowed: Iterable[tuple], *, length: int, alphabet: str):
        i, j = _position(i, length, "i"), _position(j, length, "j")
        if i == j:
            raise ValueError(f"i and j must be different positions, got {i} twice")
        pairs = [(_letter_index(a, alphabet, "allowed"), _letter_index(b, alphabet, "allowed")) for a, b in allowed]
        if not pairs:
            raise ValueError("allowed must name at least one letter pair")
        self.i, self.j, self.length, self.alphabet = i, j, int(length), alphabet
        self.allowed = tuple(sorted(set(pairs)))
        self.positions = (i, j)
        q = len(alphabet)
        dist = torch.full((q, q), 2.0, dtype=torch.float64)
        for a, b in self.allowed:
            for x in range(q):
                for y in range(q):
                    dist[x, y] = min(dist[x, y], float(x != a) + float(y != b))
        self._dist = dist

    def energy(self, seqs):
        d = self._dist.to(seqs.device)
        return d[seqs[:, self.i], seqs[:, self.j]]

    def __repr__(self):
        pairs = ", ".join(self.alphabet[a] + self.alphabet[b] for a, b in self.allowed)
        return f"PairConstraint({self.i}, {self.j}, allowed={{{pairs}}})"


class PredicateConstraint(Constraint):
    """A global predicate ``fn(seqs) -> (N,) bool``; energy 0 where true, 1 where false."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], *, positions: Sequence[int] | None = None,
                 length: int | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable seqs -> (N,) bool, got {type(fn).__name__}")
        self.fn = fn
        self.positions = _positions(positions, length)

    def energy(self, seqs):
        return 1.0 - self.fn(seqs).to(torch.float64)


class EnergyConstraint(Constraint):
    """A global energy term ``fn(seqs) -> (N,)`` (>= 0); satisfied where ``energy <= threshold``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], *, threshold: float = 0.0,
                 positions: Sequence[int] | None = None, length: int | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable seqs -> (N,) energies, got {type(fn).__name__}")
        self.fn, self.threshold = fn, float(threshold)
        self.positions = _positions(positions, length)

    def energy(self, seqs):
        return self.fn(seqs).to(torch.float64)

    def satisfied(self, seqs):
        return self.energy(seqs) <= self.threshold


def _positions(positions, length):
    if positions is None:
        return None
    if length is None:
        raise ValueError("positions needs length= to check them against the sequence length")
    return tuple(_position(p, length, "positions") for p in positions)


def check_compatible(fixed: Mapping[int, int], constraint: Constraint | None, *, length: int, q: int) -> None:
    """``ValueError`` if fixed residues make the constraint unsatisfiable (checked exactly for pair constraints)."""
    if constraint is None or not isinstance(constraint, PairConstraint):
        return
    i, j = constraint.i, constraint.j
    ok = [(a, b) for a, b in constraint.allowed
          if fixed.get(i, a) == a and fixed.get(j, b) == b]
    if not ok:
        names = {p: constraint.alphabet[fixed[p]] for p in (i, j) if p in fixed}
        raise ValueError(f"conflicting constraints: fixed residues {names} cannot satisfy {constraint!r}")


@renamed_kwargs(n="trials")
def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` for the rate ``successes / trials`` of a binomial (default 95 %)."""
    n = trials
    if n <= 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def importance_resample(candidates: torch.Tensor, log_weights: torch.Tensor, *,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one of ``K`` candidates per output by weight (sampling-importance-resampling).

    ``candidates``: ``(N, K, L)``; ``log_weights``: ``(N, K)`` (``-inf`` allowed). Rows whose weights
    are all ``-inf`` pick uniformly. Returns ``(seqs (N, L), effective sample size per row (N,))``.
    """
    if candidates.ndim != 3 or log_weights.shape != candidates.shape[:2]:
        raise ValueError(f"candidates must be (N, K, L) and log_weights (N, K); got {tuple(candidates.shape)} and "
                         f"{tuple(log_weights.shape)}")
    lw = log_weights.to(torch.float64)
    dead = torch.isneginf(lw).all(1, keepdim=True)
    lw = torch.where(dead, torch.zeros_like(lw), lw)
    w = torch.softmax(lw, 1)
    pick = torch.multinomial(w.cpu(), 1, generator=generator).flatten().to(candidates.device)
    ess = 1.0 / (w ** 2).sum(1)
    return candidates[torch.arange(candidates.shape[0], device=candidates.device), pick], ess


def rejection_sample(sample_fn: Callable[[int], torch.Tensor], constraint: Constraint, num_samples: int, *,
                     tries: int) -> tuple[torch.Tensor, dict]:
    """Draw up to ``tries`` rounds of ``sample_fn(n) -> (n, L)``, keeping the first draw satisfying ``constraint``.

    Outputs that never satisfy it keep their last draw (and count as failures). Returns the sequences
    and ``{"rounds_per_sample": mean number of draws spent per output, "accepted": fraction satisfied}``.
    """
    check_positive_int(tries, "tries")
    out = None
    done = None
    rounds = torch.zeros(num_samples)
    for _ in range(tries):
        todo = torch.arange(num_samples) if done is None else (~done).nonzero().flatten()
        if todo.numel() == 0:
            break
        draw = sample_fn(todo.numel())
        if out is None:
            out = draw.clone()
            done = torch.zeros(num_samples, dtype=torch.bool, device=draw.device)
        out[todo] = draw
        rounds[todo.cpu()] += 1
        done[todo] = constraint.satisfied(draw).to(done.device)
    return out, {"rounds_per_sample": float(rounds.mean()), "accepted": float(done.float().mean())}
