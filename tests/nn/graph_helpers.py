import torch

from equigen.geometry import radius_graph


def graph(n=6, dim=3, dtype=torch.float64, seed=0, scale=1.0, cutoff=2.5):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, dim, generator=gen, dtype=dtype) * scale
    return pos, radius_graph(pos, cutoff * scale)


def complete_graph(n):
    idx = torch.arange(n)
    src, dst = torch.meshgrid(idx, idx, indexing="ij")
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])


def batched(sizes, dtype=torch.float64, seed=0, cutoff=2.5):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(sum(sizes), 3, generator=gen, dtype=dtype)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return pos, batch, radius_graph(pos, cutoff, batch=batch)


def reinit(module, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            fan_in = p.shape[-1] if p.dim() > 1 else max(p.numel(), 1)
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale / fan_in**0.5)
    return module


def rotations_of(group):
    """'none' / 'proper' / 'improper' of the Euclidean factor of a (product) group."""
    factors = getattr(group, "factors", (group,))
    return next(f.rotations for f in factors if hasattr(f, "rotations"))
