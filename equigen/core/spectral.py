"""Periodic spectral multiplication: apply a Fourier symbol to the retained modes of a real field.

``y = F^-1[ W(n) F x ]`` on periodic grids of any number of axes, with ``W(n)`` a ``(out, in)``
matrix per retained integer frequency ``|n_i| <= m_i`` given in the centred layout (``-m..m``
per axis, ``0..m`` on the last, real-FFT axis). Two transforms compute the same operator: the
full ``rfftn``/``irfftn``, or matrix products over the retained modes only (faster when few
modes are kept). The conventions (Nyquist bins, Hermitian projection) are those of
:class:`equigen.nn.SpectralConv`, which is this map with learned symbols. This module imports
only torch, the standard library and :mod:`equigen.core.validation`.
"""

from __future__ import annotations

import math

import torch

from equigen.core.validation import check_dtype_like, check_finite

__all__ = ["apply_symbol", "bin_weights", "check_field", "use_partial_dft"]


def check_field(x, *, ndim: int, channels: int | None = None, modes=None, argument: str = "x",
                channel_axis: bool = True, like=None) -> None:
    """Validate a finite real periodic field ``(batch, C, *spatial)`` (or ``(..., *spatial)``).

    ``like``: a module or tensor whose dtype ``x`` must have. NaN/Inf checks are skipped while compiling.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        raise ValueError(f"{argument} has complex dtype {x.dtype}; this map takes real fields. Pass x.real "
                         "(or split real and imaginary parts into channels)")
    if not x.is_floating_point():
        raise ValueError(f"{argument} has dtype {x.dtype}; cast it with .double() or .float()")
    need = ndim + 2 if channel_axis else ndim
    if (channel_axis and x.dim() != need) or (not channel_axis and x.dim() < need):
        shape = "(batch, channels, *spatial)" if channel_axis else "(..., *spatial)"
        raise ValueError(f"{argument} has shape {tuple(x.shape)} but a {ndim}-D field must be {shape} "
                         f"with {ndim} spatial axes")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{argument} has {x.shape[1]} channels (axis 1, shape {tuple(x.shape)}) but the layer "
                         f"was built with in_channels={channels}")
    if modes is not None:
        sizes = x.shape[x.dim() - ndim:]
        for i, (n, m) in enumerate(zip(sizes, modes)):
            if n < 2 * m or n == 0:
                raise ValueError(f"{argument} has spatial size {n} on axis {i} (shape {tuple(x.shape)}), too small "
                                 f"for modes={m} (|n| <= {m} needs size >= {max(2 * m, 1)}); use a finer grid "
                                 f"or modes <= {n // 2}")
    if like is not None:
        check_dtype_like(x, argument, like)
    check_finite(x, argument)


def _cat_slices(t, dim, parts):
    return torch.cat([p if isinstance(p, torch.Tensor) else t.narrow(dim, *p) for p in parts], dim)


def _hermitian_planes(re, im, modes, sizes):
    """Project the self-conjugate last-axis planes of centred-layout weights onto their Hermitian part."""
    nd = len(modes)
    full = tuple(range(re.dim() - nd, re.dim() - 1))
    planes = [0]
    if sizes[-1] == 2 * modes[-1] and modes[-1] > 0:
        planes.append(modes[-1])
    re_parts, im_parts, start = [], [], 0
    for p in planes:
        if p > start:
            re_parts.append(re.narrow(-1, start, p - start))
            im_parts.append(im.narrow(-1, start, p - start))
        r, i = re.narrow(-1, p, 1), im.narrow(-1, p, 1)
        rf, if_ = (r.flip(full), i.flip(full)) if full else (r, i)
        re_parts.append((r + rf) / 2)
        im_parts.append((i - if_) / 2)
        start = p + 1
    if start < re.shape[-1]:
        re_parts.append(re.narrow(-1, start, re.shape[-1] - start))
        im_parts.append(im.narrow(-1, start, im.shape[-1] - start))
    return torch.cat(re_parts, -1), torch.cat(im_parts, -1)


def _fold_axis(t, dim, m, n):
    """Centred layout ``-m..m`` -> bin layout ``[0..m, -m..-1]``; at ``n = 2m`` merge ``+-m`` (average)."""
    if n >= 2 * m + 1:
        return _cat_slices(t, dim, [(m, m + 1), (0, m)])
    nyq = (t.narrow(dim, 2 * m, 1) + t.narrow(dim, 0, 1)) / 2
    return torch.cat([t.narrow(dim, m, m), nyq, t.narrow(dim, 1, m - 1)], dim)


def bin_weights(re, im, modes, sizes, *, hermitian: bool = True):
    """Centred-layout symbol values ``(..., *S)`` -> per-bin weights of ``rfftn`` (retained bins only).

    ``hermitian=False`` skips the projection (valid when the symbol is real and even).
    """
    nd = len(modes)
    if im is not None and hermitian:
        re, im = _hermitian_planes(re, im, modes, sizes)
    for i in range(nd - 1):
        dim = re.dim() - nd + i
        re = _fold_axis(re, dim, modes[i], sizes[i])
        im = None if im is None else _fold_axis(im, dim, modes[i], sizes[i])
    return re, im


def _gather(X, modes, sizes):
    nd = len(modes)
    for i in range(nd - 1):
        dim, m, n = X.dim() - nd + i, modes[i], sizes[i]
        if n >= 2 * m + 1:
            X = _cat_slices(X, dim, [(0, m + 1), (n - m, m)])
    return X.narrow(-1, 0, modes[-1] + 1)


def _scatter(Y, modes, sizes):
    nd = len(modes)
    for i in range(nd - 1):
        dim, m, n = Y.dim() - nd + i, modes[i], sizes[i]
        if n >= 2 * m + 1:
            shape = list(Y.shape)
            shape[dim] = n - 2 * m - 1
            Y = torch.cat([Y.narrow(dim, 0, m + 1), Y.new_zeros(shape), Y.narrow(dim, m + 1, m)], dim)
    pad = sizes[-1] // 2 + 1 - (modes[-1] + 1)
    if pad:
        shape = list(Y.shape)
        shape[-1] = pad
        Y = torch.cat([Y, Y.new_zeros(shape)], -1)
    return Y


def _mix(Xs, re, im):
    """``Y[b, o, s] = sum_i W[o, i, s] X[b, i, s]`` in real arithmetic (one batched matmul)."""
    batch, cin = Xs.shape[:2]
    cout = re.shape[0]
    spatial = Xs.shape[2:]
    P = math.prod(spatial)
    xr = torch.view_as_real(Xs).reshape(batch, cin, P, 2)
    wr = re.reshape(cout, cin, P).permute(2, 1, 0)  # (P, in, out)
    if im is None:
        x = xr.permute(2, 0, 3, 1).reshape(P, 2 * batch, cin)  # batch of (re, im) rows
        y = torch.bmm(x, wr).reshape(P, batch, 2, cout)
    else:
        wi = im.reshape(cout, cin, P).permute(2, 1, 0)
        x = xr.permute(2, 0, 3, 1).reshape(P, batch, 2 * cin)  # [re | im]
        w = torch.cat([torch.cat([wr, wi], 2), torch.cat([-wi, wr], 2)], 1)  # (P, 2in, 2out)
        y = torch.bmm(x, w).reshape(P, batch, 2, cout)
    y = y.permute(1, 3, 0, 2).contiguous()
    return torch.view_as_complex(y).reshape(batch, cout, *spatial)


_DFT_CACHE: dict = {}
_LAST_AXIS_FFT: bool | None = None  # None: decide per grid; tests and benchmarks may force it
_FULL_AXIS_FFT: bool | None = None  # same, for the full-FFT axes


def _dft_matrices(sizes, modes, dtype, device):
    """Matrices of the partial DFTs over the retained modes (built in float64, cached).

    Returns ``(fwd_last, inv_last, fwd_full, inv_full)``:

    * ``fwd_last`` ``(N_d, 2 K_d)`` real, columns ``(k, re/im)``: ``x @ fwd_last`` gives the
      real-FFT bins ``k = 0..m_d`` of the last axis (``cos``, ``-sin``), ready for ``view_as_complex``;
    * ``inv_last`` ``(2 K_d, N_d)`` real, rows ``(k, re/im)``: the matching part of ``irfft``
      (weight 1 for the zero and Nyquist bins, 2 otherwise, over ``N_d``; the imaginary parts of the
      self-conjugate bins meet ``sin = 0`` and drop out, exactly as in ``irfft``);
    * per other axis ``i``: ``fwd_full[i]`` ``(2 m_i + 1, N_i)`` and ``inv_full[i]`` (same shape)
      complex, ``exp(-+ 2 pi i n j / N_i)`` over the centred frequencies ``n = -m_i..m_i`` (the
      inverse over ``N_i``). At ``N_i = 2 m_i`` the rows of ``+-m_i`` read the same Nyquist bin and
      each returns half of its result: the average of the two weights, as in :func:`bin_weights`.
    """
    key = (tuple(sizes), tuple(modes), dtype, str(device))
    hit = _DFT_CACHE.get(key)
    if hit is not None:
        return hit
    f64 = torch.float64
    cdtype = {torch.float32: torch.complex64, torch.float64: torch.complex128}[dtype]
    n, m = sizes[-1], modes[-1]
    k = torch.arange(m + 1, dtype=torch.long)
    ang = 2 * math.pi * ((k[:, None] * torch.arange(n)[None, :]) % n).to(f64) / n  # exact reduction mod n
    fwd_last = torch.stack([torch.cos(ang), -torch.sin(ang)], 1).reshape(2 * (m + 1), n).T.contiguous()
    c = torch.full((m + 1, 1), 2.0, dtype=f64)
    c[0] = 1.0
    if 2 * m == n:
        c[m] = 1.0
    inv_last = (torch.stack([c * torch.cos(ang), -c * torch.sin(ang)], 1) / n).reshape(2 * (m + 1), n)
    fwd_full, inv_full = [], []
    for n_i, m_i in zip(sizes[:-1], modes[:-1]):
        f = torch.arange(-m_i, m_i + 1, dtype=torch.long)  # the centred layout of the symbol
        ang = 2 * math.pi * ((f[:, None] * torch.arange(n_i)[None, :]) % n_i).to(f64) / n_i  # (2m+1, N)
        share = torch.ones(2 * m_i + 1, 1, dtype=f64)
        if n_i == 2 * m_i and m_i > 0:
            share[0] = share[-1] = 0.5  # +-m are one (Nyquist) bin: each frequency gets half of it back
        fwd_full.append(torch.polar(torch.ones_like(ang), -ang).to(dtype=cdtype, device=device))
        inv_full.append((torch.polar(share.expand_as(ang), ang) / n_i).to(dtype=cdtype, device=device))
    out = (fwd_last.to(dtype=dtype, device=device), inv_last.to(dtype=dtype, device=device), fwd_full, inv_full)
    if len(_DFT_CACHE) > 64:
        _DFT_CACHE.clear()
    _DFT_CACHE[key] = out
    return out


class _RfftHead(torch.autograd.Function):
    """``rfft(x)[..., :k]`` along the last axis, with a backward as cheap as the forward.

    PyTorch differentiates ``rfft`` with a complex FFT of the zero-padded full spectrum; the
    adjoint is ``dx_j = sum_k Re(g_k e^{2 pi i k j / N})``, i.e. ``N * irfft`` of ``g`` with the
    interior bins halved (the zero and Nyquist bins once): one real inverse FFT.
    """

    @staticmethod
    def forward(x, k):
        return torch.fft.rfft(x, dim=-1)[..., :k]

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.n = inputs[0].shape[-1]

    @staticmethod
    def backward(ctx, g):
        n = ctx.n
        w = torch.full((g.shape[-1],), 0.5 * n, dtype=g.real.dtype, device=g.device)
        w[0] = n
        if g.shape[-1] == n // 2 + 1 and n % 2 == 0:
            w[-1] = n
        return torch.fft.irfft(g * w, n=n, dim=-1), None  # irfft zero-pads to n // 2 + 1 bins itself


def _dft_apply(x, re, im, modes, sizes):
    """The spectral convolution computing the retained modes only.

    Each axis step contracts the trailing spatial axis and puts the new mode axis first, either
    as one large GEMM with a partial-DFT matrix or as an FFT of that axis plus a selection of the
    retained frequencies (per axis, by a flop rule; ``_LAST_AXIS_FFT`` / ``_FULL_AXIS_FFT`` force
    a choice). Layouts: ``x (B, C, *N)`` -> ``(K_1..K_d, B, C)`` complex -> mixing
    ``(K.., B, O)`` -> ``(B, O, *N)``.
    """
    fwd_last, inv_last, fwd_full, inv_full = _dft_matrices(sizes, modes, x.dtype, x.device)
    batch, cin = x.shape[:2]
    kd = modes[-1] + 1
    fft_last = _LAST_AXIS_FFT if _LAST_AXIS_FFT is not None else kd > 2 * math.log2(max(sizes[-1], 2))
    fft_full = [_FULL_AXIS_FFT if _FULL_AXIS_FFT is not None else 2 * m + 1 > 4 * math.log2(max(n, 2))
                for n, m in zip(sizes[:-1], modes[:-1])]
    X = _partial_forward(x, modes, sizes, fwd_last, fwd_full, fft_last, fft_full)
    Y = _mix_modes(X, re, im, batch, cin, len(modes))
    return _partial_inverse(Y, modes, sizes, inv_last, inv_full, fft_last, fft_full, batch, re.shape[0], x.dtype)


def _partial_forward(x, modes, sizes, fwd_last, fwd_full, fft_last, fft_full):
    """Retained modes of ``x`` ``(B, C, *N)``: last axis (real -> complex), then the full axes from the
    innermost out; returns ``(K_1 .. K_d, B * C)`` complex, flattened to ``(K_1, rest)``."""
    kd = modes[-1] + 1
    if fft_last:  # the real FFT beats the matrix product when many last-axis modes are kept
        X = _RfftHead.apply(x.reshape(-1, sizes[-1]), kd)
    else:
        X = torch.view_as_complex((x.reshape(-1, sizes[-1]) @ fwd_last).reshape(-1, kd, 2))  # (rest, K_d)
    X = X.T.contiguous()  # (K_d, rest)
    for i in range(len(modes) - 2, -1, -1):
        if fft_full[i]:  # FFT of the whole axis, keep the centred frequencies (+-m share the Nyquist bin)
            idx = torch.arange(-modes[i], modes[i] + 1, device=x.device) % sizes[i]
            X = torch.fft.fft(X.reshape(-1, sizes[i]), dim=-1).index_select(1, idx).T.contiguous()
        else:
            X = torch.mm(fwd_full[i], X.reshape(-1, sizes[i]).T)  # (K_i, done * rest')
    return X


def _mix_modes(X, re, im, batch, cin, nd):
    """Per-mode channel mixing in real arithmetic, weights ``(O, C, *K)`` used in place (mode-major):
    ``(M, B, C)`` modes -> ``(M, B, O)`` complex (``nd`` spatial axes)."""
    cout = re.shape[0]
    M = X.numel() // (batch * cin)
    X = torch.view_as_real(X.reshape(M, batch, cin)).permute(0, 3, 1, 2).reshape(M, 2 * batch, cin)  # [re; im]
    perm = tuple(range(2, 2 + nd)) + (1, 0)
    wr = re.permute(perm).reshape(M, cin, cout)
    P = torch.bmm(X, wr)  # (M, 2B, O): [Xr Wr; Xi Wr]
    if im is None:
        return torch.complex(P[:, :batch], P[:, batch:])
    Q = torch.bmm(X, im.permute(perm).reshape(M, cin, cout))  # [Xr Wi; Xi Wi]
    return torch.complex(P[:, :batch] - Q[:, batch:], Q[:, :batch] + P[:, batch:])  # (M, B, O)


def _partial_inverse(Y, modes, sizes, inv_last, inv_full, fft_last, fft_full, batch, cout, dtype):
    """Back to the grid: the full axes from the outermost in, then the last axis (complex -> real);
    ``(K.., B, O)`` -> ``(B, O, *N)`` in ``dtype``."""
    kd = modes[-1] + 1
    for i in range(len(modes) - 1):
        k_i = 2 * modes[i] + 1
        if fft_full[i]:
            idx = torch.arange(-modes[i], modes[i] + 1, device=Y.device) % sizes[i]
            Yt = Y.reshape(k_i, -1).T
            if sizes[i] == 2 * modes[i] and modes[i] > 0:  # +-m return half each to the Nyquist bin
                share = torch.ones(k_i, dtype=dtype, device=Y.device)
                share[0] = share[-1] = 0.5
                Yt = Yt * share
            Z = torch.zeros(Yt.shape[0], sizes[i], dtype=Y.dtype, device=Y.device).index_add(1, idx, Yt)
            Y = torch.fft.ifft(Z, dim=-1)
        else:
            Y = torch.mm(Y.reshape(k_i, -1).T, inv_full[i])  # (rest, N_i)
    if fft_last:
        return torch.fft.irfft(Y.reshape(kd, -1).T, n=sizes[-1], dim=-1).reshape(batch, cout, *sizes)
    Y = torch.view_as_real(Y.reshape(kd, -1)).permute(0, 2, 1).reshape(2 * kd, -1)  # (K_d re/im, rest)
    return torch.mm(Y.T, inv_last).reshape(batch, cout, *sizes)


def use_partial_dft(sizes, modes) -> bool:
    """Whether the matrix-product transform beats the FFT here (rough flop model, CPU-calibrated).

    The partial DFT costs ``N * 2 (m_d + 1)`` real multiply-adds per point for the last axis (the
    rest acts on the few retained modes); dense matrix products run many times faster per flop
    than FFTs, so it wins when few modes are kept (the FNO regime).
    """
    total = math.prod(sizes)
    fft_flops = 2.5 * total * max(math.log2(max(total, 2)), 1.0)
    k_last = 2 * (modes[-1] + 1)
    dft_flops = 2 * total * k_last
    rest = total // sizes[-1] * k_last
    for n_i, m_i in zip(sizes[:-1], modes[:-1]):
        rest = rest // n_i * (2 * m_i + 1)
        dft_flops += 8 * rest * n_i
    return dft_flops <= 12 * fft_flops


def apply_symbol(x, re, im, modes, *, hermitian: bool = True, transform: str = "auto"):
    """Apply centred-layout symbol values ``(out, in, *S)`` to a real field ``(B, in, *spatial)``.

    ``transform``: ``"fft"`` (``rfftn``/``irfftn`` of the whole grid), ``"dft"`` (matrix products
    that compute only the retained modes) or ``"auto"`` (:func:`use_partial_dft`). Both give the
    same operator to rounding.
    """
    nd = len(modes)
    sizes = tuple(x.shape[-nd:])
    if x.numel() == 0:  # an empty batch maps to an empty batch
        return x.new_zeros((*x.shape[:-nd - 1], re.shape[0], *sizes))
    if transform == "auto":
        transform = "dft" if use_partial_dft(sizes, modes) else "fft"
    if transform == "dft" and x.dtype in (torch.float32, torch.float64):
        # centred-layout weights as they are: the matrices fold the Nyquist bins, and the final real
        # part performs the Hermitian projection of the self-conjugate planes
        return _dft_apply(x, re, im, modes, sizes)
    if transform not in ("fft", "dft"):
        raise ValueError(f"transform={transform!r} must be 'auto', 'fft' or 'dft'")
    re, im = bin_weights(re, im, modes, sizes, hermitian=hermitian)
    dims = tuple(range(x.dim() - nd, x.dim()))
    X = _gather(torch.fft.rfftn(x, dim=dims), modes, sizes)
    Y = _scatter(_mix(X, re, im), modes, sizes)
    return torch.fft.irfftn(Y, s=sizes, dim=dims)
