"""Correlation dimension (Grassberger-Procaccia) of a point set, counted with a k-d tree.

The correlation sum of ``N`` points is the fraction of pairs closer than ``r``,

.. math:: C(r) = \\frac{1}{M (N-1)} \\#\\{(i, j): i \\in \\mathcal{R},\\ j \\ne i,\\ |x_i - x_j| \\le r\\},

where :math:`\\mathcal{R}` is a random subset of ``M`` reference points (all points when ``N`` is
small). For a set of correlation dimension :math:`D_2`, :math:`C(r) \\propto r^{D_2}` over a range of
scales, so :math:`D_2` is the slope of :math:`\\log C` against :math:`\\log r` there. Pairs are
counted by :meth:`scipy.spatial.cKDTree.count_neighbors` (a dual-tree traversal), never with an
``N x N`` distance matrix, so ``10^6`` points take seconds.

The estimate depends on the range of radii. :func:`correlation_dimension` returns the whole curve
(radii, ``C(r)``, local slopes ``d log C / d log r``) together with the fitted range, so the
scale dependence can be plotted and judged, not hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from equigen.core.deprecation import renamed_kwargs

__all__ = ["CorrelationDimension", "correlation_dimension", "correlation_sum"]


@dataclass(frozen=True)
class CorrelationDimension:
    """Result of :func:`correlation_dimension`; ``float(result)`` is the fitted dimension.

    Attributes:
        dimension: least-squares slope of ``log C(r)`` against ``log r`` over ``fit_range``.
        intercept: intercept of that fit (natural logarithms).
        fit_range: ``(r_lo, r_hi)``, the radii of the fit, in the units of the points.
        radii: ``(K,)`` radii at which ``C`` was counted (log-spaced, increasing).
        C: ``(K,)`` correlation sums (fraction of pairs with distance ``<= r``).
        pairs: ``(K,)`` number of counted (reference, other) ordered pairs with distance ``<= r``.
        slopes: ``(K,)`` local slopes ``d log C / d log r`` (NaN where ``C == 0``).
        n_points, num_reference: number of points and of reference points.
        rule: how the fit range was chosen (``"auto"`` or ``"given"``), with the parameters.
    """

    dimension: float
    intercept: float
    fit_range: tuple
    radii: np.ndarray = field(repr=False)
    C: np.ndarray = field(repr=False)
    pairs: np.ndarray = field(repr=False)
    slopes: np.ndarray = field(repr=False)
    n_points: int = 0
    num_reference: int = 0
    rule: str = ""

    def __float__(self) -> float:
        return float(self.dimension)

    @property
    def fit_mask(self) -> np.ndarray:
        """Boolean mask of the radii used in the fit."""
        lo, hi = self.fit_range
        return (self.radii >= lo * (1 - 1e-12)) & (self.radii <= hi * (1 + 1e-12))

    def slope_between(self, r_lo: float, r_hi: float) -> float:
        """Least-squares slope of ``log C`` vs ``log r`` over the counted radii in ``[r_lo, r_hi]``.

        Raises ``ValueError`` if fewer than two radii with ``C > 0`` lie in the range.
        """
        m = (self.radii >= r_lo) & (self.radii <= r_hi) & (self.C > 0)
        if m.sum() < 2:
            raise ValueError(f"fewer than two counted radii with pairs in [r_lo={r_lo:g}, r_hi={r_hi:g}]; "
                             f"counted radii span [{self.radii[0]:g}, {self.radii[-1]:g}]")
        return float(np.polyfit(np.log(self.radii[m]), np.log(self.C[m]), 1)[0])

    def to_dict(self) -> dict:
        """Plain-Python form (lists), for ``results.json``."""
        return {"dimension": float(self.dimension), "intercept": float(self.intercept),
                "fit_range": [float(v) for v in self.fit_range], "radii": self.radii.tolist(),
                "C": self.C.tolist(), "pairs": self.pairs.tolist(),
                "slopes": [None if not np.isfinite(s) else float(s) for s in self.slopes],
                "n_points": self.n_points, "num_reference": self.num_reference, "rule": self.rule}


def _as_points(points) -> np.ndarray:
    try:
        import torch

        if isinstance(points, torch.Tensor):
            points = points.detach().to("cpu", torch.float64).numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if not hasattr(points, "__len__") and not isinstance(points, np.ndarray):
        raise TypeError(f"points must be an array of shape (N, d), got {type(points).__name__}")
    x = np.asarray(points)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"points must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"points must have shape (N, d) (or (N,) for 1-D points), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        raise ValueError(f"points contain NaN or inf ({bad} of {len(x)} points); remove them before estimating "
                         "the dimension")
    return x


def _reference_indices(n: int, num_reference: int | None, seed) -> np.ndarray:
    if num_reference is None or num_reference >= n:
        return np.arange(n)
    if isinstance(num_reference, bool) or not isinstance(num_reference, (int, np.integer)) or num_reference < 2:
        raise ValueError(f"num_reference must be an integer >= 2 or None, got {num_reference!r}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(num_reference), replace=False))


@renamed_kwargs(n_reference="num_reference")
def correlation_sum(points, radii, *, num_reference: int | None = 20000, seed: int = 0):
    """Correlation sums ``C(r)`` at the given radii and the pair counts behind them.

    Args:
        points: ``(N, d)`` array or tensor (any units); converted to float64.
        radii: ``(K,)`` positive radii, in the units of ``points``.
        num_reference: number of reference points (random subset, seeded by ``seed``); ``None`` uses
            all points (exact ``C(r)``; cost grows with ``N^2 C(r)`` at large radii).

    Returns ``(C, pairs, n_reference_used)``: ``C`` has shape ``(K,)``; ``pairs[k]`` counts ordered
    (reference, other point) pairs with distance ``<= radii[k]``, self-pairs excluded (coincident
    distinct points do count).
    """
    x = _as_points(points)
    r = np.asarray(radii, dtype=np.float64).reshape(-1)
    if r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError("radii must be a non-empty array of finite positive numbers")
    n = len(x)
    if n < 2:
        raise ValueError(f"need at least 2 points for a correlation sum, got {n}")
    idx = _reference_indices(n, num_reference, seed)
    tree = cKDTree(x)
    ref_tree = tree if len(idx) == n else cKDTree(x[idx])
    counts = ref_tree.count_neighbors(tree, r).astype(np.float64) - len(idx)  # drop self-pairs
    return counts / (len(idx) * (n - 1.0)), counts, len(idx)


_MIN_SUBSET = 2000


def _count(x, tree, idx, radii, pair_budget, seed):
    """Pair counts and ``C(r)``: full references for small radii, nested random subsets for large ones."""
    n, m = len(x), len(idx)
    full_cost = m * (n - 1.0)
    if full_cost <= pair_budget or n <= _MIN_SUBSET:
        ref_tree = tree if m == n else cKDTree(x[idx])
        pairs = ref_tree.count_neighbors(tree, radii).astype(np.float64) - m  # drop self-pairs
        return pairs / full_cost, pairs
    perm = np.random.default_rng([int(seed), 1]).permutation(n)
    # pilot on the smallest subset: C estimated at every radius (cheap, all points are references)
    sizes = [n]
    while sizes[-1] // 4 >= _MIN_SUBSET:
        sizes.append(sizes[-1] // 4)
    small = x[perm[:sizes[-1]]]
    st = cKDTree(small)
    c_pilot = (st.count_neighbors(st, radii).astype(np.float64) - len(small)) / (len(small) * (len(small) - 1.0))
    # per radius: the largest sample whose expected pair count fits the budget
    level = np.full(len(radii), len(sizes) - 1)
    costs = [full_cost] + [s * (s - 1.0) for s in sizes[1:]]
    for k, c in enumerate(c_pilot):
        for lev, cost in enumerate(costs):
            if cost * max(c, 0.0) <= pair_budget:
                level[k] = lev
                break
    # counts are cumulative in r, so once a radius needs a smaller sample, larger radii do too
    level = np.maximum.accumulate(level)
    C = np.empty(len(radii))
    pairs = np.empty(len(radii))
    for lev in np.unique(level):
        sel = level == lev
        if lev == 0:
            ref_tree = tree if m == n else cKDTree(x[idx])
            p = ref_tree.count_neighbors(tree, radii[sel]).astype(np.float64) - m
            c = p / full_cost
        elif lev == len(sizes) - 1:
            c = c_pilot[sel]
            p = c * costs[lev]
        else:
            sub = x[perm[:sizes[lev]]]
            t = cKDTree(sub)
            p = t.count_neighbors(t, radii[sel]).astype(np.float64) - len(sub)
            c = p / costs[lev]
        C[sel], pairs[sel] = c, p
    return C, pairs


def _local_slopes(radii: np.ndarray, C: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.where(C > 0, np.log(np.where(C > 0, C, 1.0)), np.nan)
        return np.gradient(logc, np.log(radii))


@renamed_kwargs(n_radii="num_radii", n_reference="num_reference")
def correlation_dimension(points, r_min: float | None = None, r_max: float | None = None, *,
                          num_radii: int = 48, num_reference: int | None = 20000, min_pairs: int = 1000,
                          max_c: float = 0.03, min_decades: float = 0.8, pair_budget: float = 2e7,
                          seed: int = 0) -> CorrelationDimension:
    """Correlation dimension ``D2`` of a point set (Grassberger & Procaccia 1983).

    Args:
        points: ``(N, d)`` array or tensor of points (``(N,)`` means 1-D points), any units.
        r_min, r_max: fit range in the units of ``points``. Both given: ``C(r)`` is counted at
            ``num_radii`` log-spaced radii in ``[r_min, r_max]`` and the slope fitted over all of them.
            Both ``None``: automatic rule below. (Give both or neither.)
        num_radii: number of radii; in the automatic mode they are log-spaced between a small quantile
            of nearest-neighbour distances and twice the largest distance from the centroid.
        num_reference: reference points for the counts (random subset seeded by ``seed``; ``None``:
            all). ``C(r)`` stays unbiased; its noise at small ``r`` grows as ``num_reference`` shrinks.
        min_pairs: automatic rule, lower end: radii with fewer than this many counted pairs are
            too noisy (relative error of ``C`` about ``1/sqrt(pairs)``) and excluded.
        max_c: automatic rule, upper end: radii where ``C(r) > max_c`` feel the finite extent of the
            set (saturation, edge effects) and are excluded.
        min_decades: automatic rule: the fit window spans this many decades of ``r`` (``0.8``: a
            factor ``10**0.8 = 6.3``). Among all such windows inside the admissible radii, the one
            whose local slopes vary least (smallest standard deviation) is chosen.
        pair_budget: cost cap per radius. Where the full count would exceed this many pairs (large
            radii, where ``C(r)`` is large and a smaller sample estimates it just as well), ``C(r)``
            is counted on a random subset of the points (all of them used as references) whose
            expected pair count fits the budget, at least ``2000`` points. Every estimate of ``C``
            is unbiased; only its noise differs between radii.
        seed: seeds the choice of reference points (the result is deterministic).

    Returns a :class:`CorrelationDimension`: ``float()`` of it is ``D2``; it also holds the radii,
    ``C(r)``, local slopes and the fit range for plotting.

    Symmetry: ``D2`` and the fit range's ratio are invariant under rotations, reflections and
    translations of the points; under a dilation ``x -> s x`` the radii scale by ``s`` and ``D2`` is
    unchanged (the automatic grid is built from distances, so it scales with the set).

    Raises ``ValueError`` for NaN/inf, fewer than 3 distinct points, only duplicate points, a given
    range with no pairs at ``r_max``, or an admissible range narrower than ``min_decades`` (too few
    points: pass more points, a smaller ``min_decades``, or ``r_min``/``r_max``).

    Example::

        >>> import numpy as np
        >>> x = np.random.default_rng(0).random((20000, 3))
        >>> d = correlation_dimension(x)
        >>> round(float(d), 1)
        3.0
    """
    x, idx = _checked_inputs(points, r_min, r_max, num_radii, num_reference, max_c, min_decades, pair_budget, seed)
    tree = cKDTree(x)
    # the radii: spanning the given range, or from the set's own distances
    if r_min is not None:
        radii, rule = _given_radii(r_min, r_max, num_radii)
    else:
        radii, rule = _auto_radii(x, tree, idx, num_radii, min_pairs, max_c, min_decades)
    # pair counts, correlation sums and local slopes at every radius
    C, pairs = _count(x, tree, idx, radii, pair_budget, seed)
    slopes = _local_slopes(radii, C)
    logr = np.log(radii)
    # the scaling region, then the least-squares slope over it
    if r_min is not None:
        use = _given_fit_mask(pairs, r_min, r_max)
    else:
        use = _auto_fit_mask(logr, C, pairs, slopes, len(x), min_pairs, max_c, min_decades)
    slope, intercept = np.polyfit(logr[use], np.log(C[use]), 1)
    fit_range = (float(radii[use][0]), float(radii[use][-1]))
    return CorrelationDimension(float(slope), float(intercept), fit_range, radii, C, pairs, slopes, len(x), len(idx),
                                rule)


# ---------------------------------------------------------------------------------- steps of correlation_dimension
def _checked_inputs(points, r_min, r_max, num_radii, num_reference, max_c, min_decades, pair_budget, seed):
    """The points as float64 ``(N, d)`` and the reference indices, after checking every option."""
    x = _as_points(points)
    n = len(x)
    if n < 3:
        raise ValueError(f"points: need at least 3 points to fit a correlation dimension, got {n}")
    if isinstance(num_radii, bool) or not isinstance(num_radii, (int, np.integer)) or num_radii < 4:
        raise ValueError(f"num_radii must be an integer >= 4, got {num_radii!r}")
    if (r_min is None) != (r_max is None):
        raise ValueError("give both r_min and r_max (a fit range), or neither (automatic range)")
    if not 0 < max_c <= 1:
        raise ValueError(f"max_c must be in (0, 1], got {max_c!r}")
    if not min_decades > 0:
        raise ValueError(f"min_decades must be positive, got {min_decades!r}")
    if np.all(x == x[0]):
        raise ValueError(f"points: all {n} points are identical (duplicates only); the correlation sum has no "
                         "scale and no dimension can be fitted")
    idx = _reference_indices(n, num_reference, seed)
    if not pair_budget >= 1e4:
        raise ValueError(f"pair_budget must be >= 1e4, got {pair_budget!r}")
    return x, idx


def _given_radii(r_min, r_max, num_radii):
    """``num_radii`` log-spaced radii spanning the given fit range, and the rule's description."""
    if not (np.isfinite(r_min) and np.isfinite(r_max) and 0 < r_min < r_max):
        raise ValueError(f"need 0 < r_min < r_max (finite), got r_min={r_min!r}, r_max={r_max!r}")
    return np.geomspace(r_min, r_max, num_radii), f"given range [{r_min:g}, {r_max:g}]"


def _auto_radii(x, tree, idx, num_radii, min_pairs, max_c, min_decades):
    """Log-spaced radii from the 1% quantile of nearest-neighbour distances to twice the set's radius.

    Built from distances, so the grid moves with rotations/translations and scales with dilations.
    """
    dnn, _ = tree.query(x[idx], k=2)
    dnn = dnn[:, 1]
    positive = dnn[dnn > 0]
    if positive.size == 0:
        raise ValueError("points: every reference point has an exact duplicate as nearest neighbour; remove "
                         "duplicate points (np.unique(points, axis=0)) before estimating the dimension")
    lo = float(np.quantile(positive, 0.01))
    hi = 2.0 * float(np.max(np.linalg.norm(x - x.mean(axis=0), axis=1)))
    if not hi > lo:
        raise ValueError("points: the set has no spread of distances to fit a dimension on")
    rule = f"auto (min_pairs={min_pairs}, max_c={max_c:g}, min_decades={min_decades:g})"
    return np.geomspace(lo, hi, num_radii), rule


def _given_fit_mask(pairs, r_min, r_max):
    """A given range fits every radius that has pairs (at least two, including ``r_max``)."""
    if pairs[-1] <= 0:
        raise ValueError(f"no pairs of points closer than r_max={r_max:g}: the range [{r_min:g}, {r_max:g}] is "
                         "below the point spacing; choose larger radii")
    use = pairs > 0
    if use.sum() < 2:
        raise ValueError(f"only one radius in [{r_min:g}, {r_max:g}] has pairs; widen the range or add points")
    return use


def _auto_fit_mask(logr, C, pairs, slopes, n, min_pairs, max_c, min_decades):
    """The scaling region: in the longest run of admissible radii, the ``min_decades`` window of flattest slope."""
    admissible = (pairs >= min_pairs) & (C <= max_c)
    if not admissible.any():
        raise ValueError(f"points: no radius has both >= min_pairs={min_pairs} pairs and C(r) <= max_c={max_c:g} "
                         f"(N={n}); pass more points, a smaller min_pairs, or r_min/r_max")
    a, b = _longest_run(admissible)
    width = int(math.ceil(min_decades * math.log(10) / (logr[1] - logr[0]) - 1e-9)) + 1  # points in the window
    if b - a < width:
        span = (logr[b - 1] - logr[a]) / math.log(10)
        raise ValueError(f"points: the admissible range of radii spans {span:.2f} decades < min_decades="
                         f"{min_decades:g} (N={n}, min_pairs={min_pairs}, max_c={max_c:g}); pass more points, a "
                         "smaller min_decades, or r_min/r_max")
    best, best_std = None, np.inf
    for s in range(a, b - width + 1):
        sd = float(np.std(slopes[s:s + width]))
        if sd < best_std:
            best, best_std = s, sd
    use = np.zeros(len(logr), dtype=bool)
    use[best:best + width] = True
    return use


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """``(start, stop)`` of the first longest run of consecutive ``True`` entries (``(0, -1)`` if none)."""
    best_run, start = (0, -1), None
    for k in range(len(mask) + 1):
        ok = k < len(mask) and mask[k]
        if ok and start is None:
            start = k
        if not ok and start is not None:
            if k - start > best_run[1] - best_run[0]:
                best_run = (start, k)
            start = None
    return best_run
