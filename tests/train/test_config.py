"""The Trainer's config objects: validation, the flat-keyword table, flat vs config giving the same run."""

import dataclasses

import pytest
import torch

from equigen.train import RuntimeConfig, Trainer, load_checkpoint
from equigen.train.config import (
    FLAT_OPTIONS,
    GROUPS,
    CheckpointConfig,
    EMAConfig,
    GuardConfig,
    LogConfig,
    OptimConfig,
    TrainerConfig,
)


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _data():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(48, 3, generator=g)
    return x, x[:, :1] * x[:, 1:2]


def mse(model, batch):
    return torch.nn.functional.mse_loss(model(batch[0]), batch[1])


def test_the_table_maps_every_field_of_every_group_once():
    fields = {(group, f.name) for group, cls in GROUPS.items() for f in dataclasses.fields(cls)}
    assert set(FLAT_OPTIONS.values()) == fields
    assert len(FLAT_OPTIONS) == len(fields)  # no field reachable under two keywords
    assert [f.name for f in dataclasses.fields(TrainerConfig)] == list(GROUPS)


@pytest.mark.parametrize("cls, kwargs, exc, flat_name", [
    (OptimConfig, {"lr": -1.0}, ValueError, "lr"),
    (OptimConfig, {"lr": "1e-3"}, TypeError, "lr"),
    (OptimConfig, {"weight_decay": -0.1}, ValueError, "weight_decay"),
    (OptimConfig, {"schedule": "exp"}, ValueError, "schedule"),
    (OptimConfig, {"warmup_steps": -1}, ValueError, "warmup_steps"),
    (OptimConfig, {"warmup_steps": 2.5}, TypeError, "warmup_steps"),
    (OptimConfig, {"clip_grad_norm": float("nan")}, ValueError, "clip_grad_norm"),
    (OptimConfig, {"clip_grad_norm": 0.0}, ValueError, "clip_grad_norm"),
    (OptimConfig, {"optimizer": 3}, TypeError, "optimizer"),
    (OptimConfig, {"scheduler": "cosine"}, TypeError, "scheduler"),
    (EMAConfig, {"decay": 1.0}, ValueError, "ema_decay"),
    (EMAConfig, {"decay": -0.1}, ValueError, "ema_decay"),
    (EMAConfig, {"decay": "x"}, TypeError, "ema_decay"),
    (GuardConfig, {"nonfinite": "ignore"}, ValueError, "nonfinite"),
    (GuardConfig, {"max_consecutive_skips": 0}, ValueError, "max_consecutive_skips"),
    (CheckpointConfig, {"every": 0}, ValueError, "checkpoint_every"),
    (CheckpointConfig, {"keep": 0}, ValueError, "keep_checkpoints"),
    (LogConfig, {"every": 0}, ValueError, "log_every"),
    (LogConfig, {"eval_every": -3}, ValueError, "eval_every"),
    (LogConfig, {"eval_fn": 3}, TypeError, "eval_fn"),
    (RuntimeConfig, {"amp": "fp8"}, ValueError, "amp"),
    (RuntimeConfig, {"seed": 1.5}, TypeError, "seed"),
    (RuntimeConfig, {"device": "gpu0"}, ValueError, "device"),
    (RuntimeConfig, {"compile": "yes"}, TypeError, "compile"),
])
def test_each_config_checks_its_fields_with_the_same_message_as_the_flat_keyword(cls, kwargs, exc, flat_name):
    with pytest.raises(exc, match=flat_name) as from_config:
        cls(**kwargs)
    (field, value), = kwargs.items()
    group = next(g for g, c in GROUPS.items() if c is cls)
    assert FLAT_OPTIONS[flat_name] == (group, field)
    with pytest.raises(exc) as from_flat:
        Trainer(_mlp(), mse, progress=False, **{flat_name: value})
    assert str(from_flat.value) == str(from_config.value)


def test_configs_hold_canonical_values_and_are_frozen():
    o = OptimConfig(lr=1, warmup_steps=3, clip_grad_norm=2)
    assert o.lr == 1.0 and isinstance(o.lr, float) and isinstance(o.clip_grad_norm, float)
    assert OptimConfig(lr=1) == OptimConfig(lr=1.0)
    assert RuntimeConfig(device="cpu").device == torch.device("cpu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.lr = 2.0
    assert dataclasses.replace(o, lr=0.5).lr == 0.5


def _run(tmp_path, **kw):
    x, y = _data()

    def loss_fn(model, batch, generator):
        noise = 0.05 * torch.randn(batch[0].shape, generator=generator)
        return mse(model, (batch[0] + noise, batch[1]))

    trainer = Trainer(_mlp(), loss_fn, **kw)
    trainer.fit((x, y), steps=12, batch_size=8)
    ckpts = sorted((tmp_path / "checkpoints").glob("*.pt"))
    return trainer, [load_checkpoint(p) for p in ckpts], [p.name for p in ckpts]


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a == b


def test_flat_keywords_and_config_objects_give_bit_identical_runs(tmp_path):
    x, y = _data()

    def eval_fn(model):
        with torch.no_grad():
            return {"mse": float(mse(model, (x, y)))}

    generators = {"extra": torch.Generator().manual_seed(1)}
    flat_dir, cfg_dir = tmp_path / "flat", tmp_path / "config"
    flat, flat_ckpts, flat_names = _run(
        flat_dir, lr=2e-2, weight_decay=0.01, schedule="cosine", warmup_steps=3, clip_grad_norm=0.5, ema_decay=0.9,
        ema_warmup=True, nonfinite="skip", max_consecutive_skips=4, out_dir=flat_dir, checkpoint_every=5,
        keep_checkpoints=5, log_every=2, eval_fn=eval_fn, eval_every=4, eval_with_ema=True, progress=False, seed=7,
        generators=generators)
    generators["extra"].manual_seed(1)
    cfg, cfg_ckpts, cfg_names = _run(
        cfg_dir, optim=OptimConfig(lr=2e-2, weight_decay=0.01, schedule="cosine", warmup_steps=3, clip_grad_norm=0.5),
        ema=EMAConfig(decay=0.9, warmup=True), guard=GuardConfig(max_consecutive_skips=4),
        checkpoint=CheckpointConfig(out_dir=cfg_dir, every=5, keep=5),
        log=LogConfig(every=2, eval_fn=eval_fn, eval_every=4, progress=False),
        runtime=RuntimeConfig(seed=7, generators=generators))
    assert flat.config == dataclasses.replace(cfg.config, checkpoint=dataclasses.replace(cfg.config.checkpoint,
                                                                                         out_dir=flat_dir))
    assert flat_names == cfg_names == ["ckpt-00000005.pt", "ckpt-00000010.pt", "ckpt-00000012.pt"]
    assert _same(flat.model.state_dict(), cfg.model.state_dict())
    assert _same(flat.ema.state_dict(), cfg.ema.state_dict())
    untimed = [[{k: v for k, v in r.items() if k != "time_s"} for r in t.history] for t in (flat, cfg)]
    assert untimed[0] == untimed[1] and any("eval/mse" in r for r in untimed[0])
    for a, b in zip(flat_ckpts, cfg_ckpts):
        assert _same(a, b)


def test_groups_mix_across_but_not_within():
    t = Trainer(_mlp(), mse, optim=OptimConfig(lr=1e-2), progress=False, ema_decay=0.5)
    assert t.config.optim.lr == 1e-2 and t.config.log.progress is False and t.config.ema.decay == 0.5
    assert t.optimizer.param_groups[0]["lr"] == 1e-2
    with pytest.raises(TypeError, match=r"lr, clip_grad_norm and optim=OptimConfig\(...\) both given"):
        Trainer(_mlp(), mse, optim=OptimConfig(lr=1e-2), lr=1e-3, clip_grad_norm=1.0)
    with pytest.raises(TypeError, match="checkpoint_every and checkpoint=CheckpointConfig"):
        Trainer(_mlp(), mse, checkpoint=CheckpointConfig(), checkpoint_every=5)


def test_unknown_keyword_is_named_and_the_valid_ones_listed():
    with pytest.raises(TypeError, match=r"unknown option\(s\) 'ema_decya' \(did you mean 'ema_decay'\?\)") as err:
        Trainer(_mlp(), mse, ema_decya=0.9)
    assert all(key in str(err.value) for key in FLAT_OPTIONS)
    assert "optim=OptimConfig(...)" in str(err.value)
    with pytest.raises(TypeError, match="'foo', 'bar'"):
        Trainer(_mlp(), mse, foo=1, bar=2)


def test_a_group_must_be_its_config_class():
    with pytest.raises(TypeError, match=r"ema must be None or an instance of EMAConfig, got float.*ema_decay"):
        Trainer(_mlp(), mse, ema=0.999)
    with pytest.raises(TypeError, match="optim must be None or an instance of OptimConfig, got EMAConfig"):
        Trainer(_mlp(), mse, optim=EMAConfig())


def test_log_every_none_logs_only_the_last_step():
    t = Trainer(_mlp(), mse, log=LogConfig(every=None, progress=False))
    t.fit(_data(), steps=5, batch_size=8)
    assert [r["step"] for r in t.history] == [5]
