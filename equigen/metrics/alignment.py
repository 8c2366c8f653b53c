"""Distances between configurations after optimal alignment over E(n) and permutations.

``aligned_rmsd(a, b)`` minimises ``sqrt(mean_i |R a_{pi(i)} + t - b_i|^2)`` over rotations (and,
with ``reflections=True``, reflections) ``R``, translations ``t`` and permutations ``pi``.
Translations: both sets are centred (the optimal ``t`` matches centres of mass). Rotations:
Kabsch (SVD of the covariance). Permutations: exhaustive for ``N <= 6`` (exact); otherwise
alternating Hungarian assignment (``scipy.optimize.linear_sum_assignment``) and Kabsch from
the principal-axes alignments and ``restarts`` random rotations (a local optimum: an upper bound
of the true minimum).

Symmetry: invariant under E(n) x permutations of either argument.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment

from equigen.core.validation import check_finite, check_positive_int

__all__ = ["aligned_rmsd", "nearest_aligned_rmsd"]


def _kabsch(a: np.ndarray, b: np.ndarray, reflections: bool) -> np.ndarray:
    """Best orthogonal ``R`` with ``a @ R.T ~ b`` for centred ``(..., N, n)`` sets: ``(..., n, n)``."""
    h = np.swapaxes(a, -1, -2) @ b
    u, _, vt = np.linalg.svd(h)
    if not reflections:
        d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
        u = u.copy()
        u[..., :, -1] *= d[..., None]
    return np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)


def _rmsd(a, b):
    return np.sqrt(((a - b) ** 2).sum(-1).mean(-1))


def aligned_rmsd(a, b, *, reflections: bool = False, restarts: int = 4, seed: int = 0) -> float:
    """Aligned RMSD (module doc) of two configurations ``(N, n)`` (arrays or tensors)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"a and b must be configurations of the same shape (N, n), got {a.shape} and {b.shape}")
    check_finite(a, "a")
    check_finite(b, "b")
    a = a - a.mean(0)
    b = b - b.mean(0)
    n = len(a)
    if n <= 6:
        perms = np.array(list(itertools.permutations(range(n))))
        ap = a[perms]  # (P, N, n)
        rot = _kabsch(ap, np.broadcast_to(b, ap.shape), reflections)
        return float(_rmsd(ap @ np.swapaxes(rot, -1, -2), b).min())
    best = np.inf
    for r in _starts(a, b, reflections, restarts, seed):
        for _ in range(20):
            cost = ((a @ r.T)[:, None, :] - b[None, :, :]) ** 2
            rows, cols = linear_sum_assignment(cost.sum(-1))
            perm = np.empty(n, dtype=int)
            perm[cols] = rows
            r_new = _kabsch(a[perm], b, reflections)
            if np.allclose(r_new, r, atol=1e-12):
                break
            r = r_new
        best = min(best, float(_rmsd(a[perm] @ r.T, b)))
    return best


def _starts(a, b, reflections, restarts, seed):
    """Starting rotations: principal axes of ``a`` onto those of ``b`` (all sign choices), then random."""
    dim = a.shape[1]
    va = np.linalg.eigh(a.T @ a)[1]
    vb = np.linalg.eigh(b.T @ b)[1]
    for signs in itertools.product((1.0, -1.0), repeat=dim):
        r = vb @ np.diag(signs) @ va.T
        if reflections or np.linalg.det(r) > 0:
            yield r
    rng = np.random.default_rng(seed)
    for _ in range(restarts):
        q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
        if not reflections and np.linalg.det(q) < 0:
            q[:, 0] *= -1
        yield q


def _sorted_distances(x: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(x.shape[-2], k=1)
    return np.sort(np.linalg.norm(x[..., i, :] - x[..., j, :], axis=-1), axis=-1)


def nearest_aligned_rmsd(samples, reference, *, candidates: int = 8, reflections: bool = False,
                         seed: int = 0) -> np.ndarray:
    """For each configuration of ``samples (M, N, n)``, the aligned RMSD to its nearest in
    ``reference (K, N, n)``: ``(M,)``.

    Only the ``candidates`` references closest in sorted pair distances (an invariant
    fingerprint) are aligned, so the cost is ``M * candidates`` alignments.
    """
    candidates = check_positive_int(candidates, "candidates")
    samples = np.asarray(samples, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    fs, fr = _sorted_distances(samples), _sorted_distances(reference)
    out = np.empty(len(samples))
    for m, (s, f) in enumerate(zip(samples, fs)):
        near = np.argsort(((fr - f) ** 2).sum(-1))[:candidates]
        out[m] = min(aligned_rmsd(s, reference[k], reflections=reflections, seed=seed) for k in near)
    return out
