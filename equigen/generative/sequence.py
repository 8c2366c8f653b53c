"""Autoregressive and masked transformers over sequences, sharing one trunk, with constrained generation.

* :class:`AutoregressiveTransformer`: causal; ``forward(seqs)[:, i]`` are the logits of
  ``p(s_i | s_<i)`` (the input is shifted right behind a start token). Generation: left to right
  with temperature; fixed residues are written in when their turn comes (inpainting), and their
  model log-probabilities are returned as importance log-weights.
* :class:`MaskedTransformer`: bidirectional; ``forward(tokens)`` with ``mask_token`` at hidden
  positions gives logits of every position given the visible ones. Generation: iterative masked
  refinement, a Gibbs-like resampling of a random subset of positions whose size is annealed from
  all free positions to one; fixed residues stay clamped, and a constraint (see
  :mod:`equigen.generative.constraints`) tilts the conditionals of the positions it reads by
  ``exp(-strength * energy)``.

Both have the same width, depth and heads for the same arguments (they differ only in the
attention mask and in the extra mask/start token). Both are
:class:`~equigen.generative.base.GenerativeModel` s (``event_shape = (L,)``): they train with
:meth:`~equigen.generative.base.GenerativeModel.fit` (or :class:`equigen.train.Trainer`) through
``training_loss(batch, *, generator=None)`` on ``(B, L)`` long batches, and ``sample(num_samples,
*, generator=None, ...)`` returns a :class:`SampleOutput` whose ``seqs`` are ``(num_samples, L)``.
One model evaluation is one forward pass over a batch; ``sample`` reports evaluations per sample.
No geometric symmetry is claimed (positions are embedded, so there is none to keep).

Example::

    ar = AutoregressiveTransformer(length=120, alphabet="ACDE", width=64, depth=2)
    ar.fit(train_seqs, steps=500, batch_size=64, lr=3e-3)
    out = ar.sample(100, temperature=1.0, fixed={100: "C"}, generator=torch.Generator().manual_seed(0))
    out.seqs.shape, out.evaluations_per_sample     # (100, 120), 120
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.core.validation import check_positive_float, check_positive_int
from equigen.generative.base import GenerativeModel
from equigen.generative.constraints import Constraint, check_compatible, parse_fixed

__all__ = ["SequenceTransformer", "AutoregressiveTransformer", "MaskedTransformer", "SampleOutput"]


@dataclass
class SampleOutput:
    """Sequences ``(N, L)`` long; evaluations (forward passes) spent per sample; extra per-sample data."""

    seqs: torch.Tensor
    evaluations_per_sample: float
    log_weights: torch.Tensor | None = None
    info: dict = field(default_factory=dict)


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def _check_unconditional(model, cond):
    if cond is not None:
        raise ValueError(f"{type(model).__name__} is unconditional: cond must be None (steer generation with fixed=, "
                         "or constraint= on a MaskedTransformer)")


def _positive_int(name, v):
    return check_positive_int(v, name)


@configurable
class SequenceTransformer(GenerativeModel):
    """Shared trunk: token + learned position embeddings, ``depth`` pre-norm transformer blocks, a head.

    ``length``: sequence length ``L``; ``alphabet``: string of ``q`` letters (token ``q`` is the extra
    start/mask token); ``width``, ``depth``, ``heads``, ``mlp_ratio``: the usual sizes. ``causal``
    selects the attention mask. Output logits ``(N, L, q)`` in ``dtype`` (float32 by default).
    ``event_shape = (L,)``: one sample is one sequence of letter indices.
    """

    causal: bool = False

    def __init__(self, length: int, alphabet: str, *, width: int = 64, depth: int = 2, heads: int = 4,
                 mlp_ratio: int = 4, dropout: float = 0.0, dtype=None, device=None):
        super().__init__()
        _positive_int("length", length)
        if not isinstance(alphabet, str) or len(alphabet) < 2 or len(set(alphabet)) != len(alphabet):
            raise ValueError(f"alphabet must be a string of at least 2 distinct letters, got {alphabet!r}")
        for name, v in (("width", width), ("depth", depth), ("heads", heads), ("mlp_ratio", mlp_ratio)):
            _positive_int(name, v)
        if width % heads:
            raise ValueError(f"width={width} must be divisible by heads={heads}")
        kw = {"dtype": dtype, "device": device}
        self.length, self.alphabet, self.q = int(length), alphabet, len(alphabet)
        self.event_shape = (self.length,)
        self.width, self.depth, self.heads = width, depth, heads
        self.special_token = self.q  # start token (AR) / mask token (MLM)
        self.token_embedding = nn.Embedding(self.q + 1, width, **kw)
        self.position_embedding = nn.Parameter(0.02 * torch.randn(length, width, **kw))
        self.blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(width, heads, mlp_ratio * width, dropout=dropout, batch_first=True,
                                       norm_first=True, activation="gelu", **kw)
            for _ in range(depth)])
        self.norm = nn.LayerNorm(width, **kw)
        self.head = nn.Linear(width, self.q, **kw)

    def trunk(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(N, n)`` tokens in ``0..q`` (``n <= L``: the first ``n`` positions) -> ``(N, n, q)`` logits."""
        n = tokens.shape[1]
        x = self.token_embedding(tokens) + self.position_embedding[:n]
        mask = None
        if self.causal:
            mask = torch.triu(torch.full((n, n), float("-inf"), dtype=x.dtype, device=x.device), diagonal=1)
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=self.causal)
        return self.head(self.norm(x))

    def check_tokens(self, tokens, *, allow_special: bool, argument: str = "seqs") -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"{argument} must be a long tensor (N, L), got {type(tokens).__name__}")
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise TypeError(f"{argument} must hold integer letter indices, got dtype {tokens.dtype}")
        if tokens.ndim != 2 or tokens.shape[1] != self.length:
            raise ValueError(f"{argument} must have shape (N, L={self.length}), got {tuple(tokens.shape)}")
        top = self.q if allow_special else self.q - 1
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) > top):
            raise ValueError(f"{argument} holds indices outside 0..{top} (q={self.q}"
                             f"{', plus the mask token' if allow_special else ''})")
        return tokens.long()

    def _check_fit_data(self, data) -> torch.Tensor:
        data = self.check_tokens(data, allow_special=False, argument="data")
        if len(data) < 2:
            raise ValueError(f"data needs at least 2 sequences, got {len(data)}")
        return data

    def _fixed(self, fixed):
        return parse_fixed(fixed, length=self.length, alphabet=self.alphabet)

    @property
    def _device(self):
        return self.head.weight.device


@configurable
class AutoregressiveTransformer(SequenceTransformer):
    """Causal transformer: ``forward(seqs)[:, i]`` = logits of ``p(s_i | s_<i)``, shape ``(N, L, q)``."""

    causal = True

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        seqs = self.check_tokens(seqs, allow_special=False)
        start = torch.full_like(seqs[:, :1], self.special_token)
        return self.trunk(torch.cat([start, seqs[:, :-1]], 1))

    def log_prob(self, seqs: torch.Tensor) -> torch.Tensor:
        """Exact model log-likelihood ``(N,)`` (nats)."""
        logp = torch.log_softmax(self(seqs), -1)
        return logp.gather(2, seqs[..., None])[..., 0].sum(1)

    def training_loss(self, batch, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean next-letter cross-entropy (nats per position) on a ``(B, L)`` batch."""
        seqs = batch[0] if isinstance(batch, (tuple, list)) else batch
        logits = self(seqs)
        return nn.functional.cross_entropy(logits.reshape(-1, self.q), seqs.reshape(-1))

    @torch.no_grad()
    def sample(self, num_samples: int, *, generator: torch.Generator | None = None, cond=None,
               temperature: float = 1.0, fixed=None) -> SampleOutput:
        """Left-to-right sampling; ``fixed`` residues are written in at their turn (inpainting).

        ``log_weights`` ``(N,)``: sum over fixed positions of the model's ``log p(fixed letter | prefix)``,
        the importance weight of the inpainted sample against the model's conditional distribution
        (use with :func:`~equigen.generative.constraints.importance_resample`). Costs ``L``
        evaluations per sample (one forward per position; the prefix only, as the mask is causal).
        """
        _positive_int("num_samples", num_samples)
        _check_generator(generator)
        _check_unconditional(self, cond)
        temperature = check_positive_float(temperature, "temperature")
        fixed = self._fixed(fixed)
        was_training = self.training
        self.eval()
        dev = self._device
        tokens = torch.full((num_samples, self.length + 1), self.special_token, dtype=torch.long, device=dev)
        log_w = torch.zeros(num_samples, dtype=torch.float64, device=dev)
        for i in range(self.length):
            logits = self.trunk(tokens[:, :i + 1])[:, -1].double()
            if i in fixed:
                log_w += torch.log_softmax(logits, -1)[:, fixed[i]]
                tokens[:, i + 1] = fixed[i]
                continue
            probs = torch.softmax(logits / temperature, -1)
            tokens[:, i + 1] = torch.multinomial(probs.cpu(), 1, generator=generator).flatten().to(dev)
        self.train(was_training)
        return SampleOutput(tokens[:, 1:], float(self.length), log_w)


@configurable
class MaskedTransformer(SequenceTransformer):
    """Bidirectional transformer: ``forward(tokens)`` -> ``(N, L, q)`` logits of each position given the visible ones.

    ``tokens`` hold letters ``0..q-1`` or ``mask_token`` (``= q``) at hidden positions.
    """

    causal = False

    @property
    def mask_token(self) -> int:
        return self.special_token

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.check_tokens(tokens, allow_special=True, argument="tokens"))

    def training_loss(self, batch, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Masked-letter cross-entropy: each sequence hides a fraction ``r ~ U(0, 1]`` of its positions.

        Training on every mask rate matches what refinement asks of the model (from all hidden to
        one hidden position). Returns the mean cross-entropy over hidden positions (nats).
        """
        seqs = batch[0] if isinstance(batch, (tuple, list)) else batch
        seqs = self.check_tokens(seqs, allow_special=False)
        B, L = seqs.shape
        rate = torch.rand(B, 1, generator=generator).to(seqs.device)
        hide = torch.rand(B, L, generator=generator).to(seqs.device) < rate
        # at least one hidden position per sequence
        first = torch.randint(0, L, (B,), generator=generator).to(seqs.device)
        hide[torch.arange(B, device=seqs.device), first] = True
        logits = self(torch.where(hide, self.mask_token, seqs))
        return nn.functional.cross_entropy(logits[hide], seqs[hide])

    @torch.no_grad()
    def sample(self, num_samples: int, *, generator: torch.Generator | None = None, cond=None,
               steps: int | None = None, temperature: float = 1.0, fixed=None, constraint: Constraint | None = None,
               strength: float = math.inf, schedule: str = "cosine") -> SampleOutput:
        """Iterative masked refinement (Gibbs-like), ``steps`` evaluations per sample (default ``L``).

        All free positions start hidden. At step ``t`` a random set of ``k_t`` free positions per
        sequence is hidden (together with any never filled) and redrawn from the model's
        conditionals given the rest; ``k_t`` follows ``schedule`` (``"cosine"``: ``ceil(F cos(pi t /
        2 steps))``, ``"linear"``: ``ceil(F (1 - t / steps))``, ``F`` = number of free positions) down
        to 1, so the last steps are single-site Gibbs updates. ``fixed`` positions stay clamped.
        ``constraint``: each of its ``positions`` (all positions when ``None``) that was redrawn is then
        redrawn again, in turn, from the conditional tilted by ``exp(-strength * energy)`` evaluated
        with the current letters elsewhere (``strength=inf``: only letters of least energy).
        """
        steps, temperature = self._check_sample_args(num_samples, generator, cond, steps, schedule, temperature,
                                                     strength, constraint)
        fixed = self._fixed(fixed)
        check_compatible(fixed, constraint, length=self.length, q=self.q)
        was_training = self.training
        self.eval()
        tokens, free = self._clamped_start(num_samples, fixed)
        F = int(free.sum())
        cpos = [] if constraint is None else [
            p for p in (constraint.positions if constraint.positions is not None else range(self.length))
            if p not in fixed]
        for t in range(steps):
            if F == 0:
                break
            frac = math.cos(math.pi * t / (2 * steps)) if schedule == "cosine" else 1 - t / steps
            k = max(1, math.ceil(F * frac - 1e-9))
            tokens, hide, logits = self._redraw(tokens, free, k, temperature, generator)
            for p in cpos:
                self._redraw_constrained(tokens, hide, logits, p, constraint, strength, generator)
        self.train(was_training)
        return SampleOutput(tokens, float(min(steps, steps if F else 0)))

    def _check_sample_args(self, num_samples, generator, cond, steps, schedule, temperature, strength, constraint):
        """Validate :meth:`sample`'s arguments; returns ``steps`` (default ``L``) and ``temperature``."""
        _positive_int("num_samples", num_samples)
        _check_generator(generator)
        _check_unconditional(self, cond)
        steps = self.length if steps is None else _positive_int("steps", steps)
        if schedule not in ("cosine", "linear"):
            raise ValueError(f"schedule must be 'cosine' or 'linear', got {schedule!r}")
        temperature = check_positive_float(temperature, "temperature")
        if not (isinstance(strength, (int, float)) and strength > 0):
            raise ValueError(f"strength must be positive (math.inf for a hard constraint), got {strength!r}")
        if constraint is not None and not isinstance(constraint, Constraint):
            raise TypeError(f"constraint must be an equigen.generative.constraints.Constraint, got "
                            f"{type(constraint).__name__}")
        return steps, temperature

    def _clamped_start(self, num_samples, fixed):
        """All-hidden ``(N, L)`` tokens with the ``fixed`` letters written in, and the ``(L,)`` free mask."""
        dev = self._device
        tokens = torch.full((num_samples, self.length), self.mask_token, dtype=torch.long, device=dev)
        free = torch.ones(self.length, dtype=torch.bool, device=dev)
        for p, a in fixed.items():
            tokens[:, p] = a
            free[p] = False
        return tokens, free

    def _redraw(self, tokens, free, k, temperature, generator):
        """Hide ``k`` random free positions per sequence (and any still hidden) and redraw them from the model.

        Returns the new tokens, the ``(N, L)`` hidden mask and the float64 logits over temperature.
        """
        N, L = tokens.shape
        dev = self._device
        scores = torch.rand(N, L, generator=generator).to(dev)
        scores[:, ~free] = -1.0
        chosen = torch.zeros(N, L, dtype=torch.bool, device=dev)
        chosen[torch.arange(N, device=dev)[:, None], scores.topk(k, 1).indices] = True
        hide = chosen | (tokens == self.mask_token)
        logits = self(torch.where(hide, self.mask_token, tokens)).double() / temperature
        probs = torch.softmax(logits, -1)
        draw = torch.multinomial(probs.reshape(-1, self.q).cpu(), 1, generator=generator).reshape(N, L).to(dev)
        return torch.where(hide, draw, tokens), hide, logits

    def _redraw_constrained(self, tokens, hide, logits, p, constraint, strength, generator) -> None:
        """Redraw position ``p`` where it was hidden, tilted by ``exp(-strength * energy)``, in place."""
        redo = hide[:, p]
        if not bool(redo.any()):
            return
        N, L = tokens.shape
        dev = self._device
        cand = tokens[:, None, :].repeat(1, self.q, 1)
        cand[:, :, p] = torch.arange(self.q, device=dev)
        energy = constraint.energy(cand.reshape(-1, L)).reshape(N, self.q).to(torch.float64)
        if math.isinf(strength):
            tilt = torch.where(energy <= energy.min(1, keepdim=True).values, 0.0, -math.inf)
        else:
            tilt = -strength * energy
        lp = torch.log_softmax(logits[:, p], -1) + tilt
        new = torch.multinomial(torch.softmax(lp, -1).cpu(), 1, generator=generator).flatten().to(dev)
        tokens[:, p] = torch.where(redo, new, tokens[:, p])
