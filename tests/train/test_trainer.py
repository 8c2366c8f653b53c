"""The Trainer in one process: protocol, guards, determinism, in-process resume, logs, bad input."""

import json
import time
import warnings

import pytest
import torch

from equigen.train import Batches, NonFiniteError, SampledBatches, Trainer


def _mlp(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 16, dtype=dtype), torch.nn.Tanh(),
                               torch.nn.Linear(16, 1, dtype=dtype))


def _data(n=64, dtype=torch.float32):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, 3, generator=g, dtype=dtype)
    return x, (x[:, :1] * x[:, 1:2] + x[:, 2:]).to(dtype)


def mse(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x), y)


@torch.no_grad()
def mse_value(model, batch):
    return float(mse(model, batch))


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_fit_reduces_the_loss_and_logs_json_lines(tmp_path):
    model = _mlp()
    x, y = _data()
    before = mse_value(model, (x, y))
    trainer = Trainer(model, mse, lr=2e-2, out_dir=tmp_path, log_every=10, progress=False,
                      eval_fn=lambda m: {"mse": mse_value(m, (x, y))}, eval_every=50)
    out = trainer.fit((x, y), steps=100, batch_size=16)
    assert out["step"] == 100 and out["skipped_steps"] == 0
    assert out["eval"]["mse"] < 0.5 * before
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval/mse" in r]
    assert [r["step"] for r in train] == list(range(10, 101, 10))
    assert [r["step"] for r in evals] == [50, 100]
    assert {"lr", "skipped_steps", "time_s"} <= set(train[0])
    assert (tmp_path / "checkpoints" / "ckpt-00000100.pt").exists()


def test_training_loss_method_and_generator_are_used():
    seen = []

    class Noisy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def training_loss(self, batch, generator=None):
            seen.append(generator)
            noise = torch.randn(batch.shape, generator=generator)
            return (self.lin(batch + 0.1 * noise) ** 2).mean()

    trainer = Trainer(Noisy(), lr=1e-2, progress=False)
    trainer.fit(torch.randn(20, 2), steps=3, batch_size=5)
    assert len(seen) == 3 and all(g is trainer.generator for g in seen)


def test_loss_may_be_a_dict_with_extra_metrics():
    def loss_fn(model, batch):
        out = model(batch[0])
        return {"loss": (out - batch[1]).pow(2).mean(), "mean_out": out.mean()}

    trainer = Trainer(_mlp(), loss_fn, progress=False, log_every=2)
    trainer.fit(_data(), steps=4, batch_size=8)
    assert "mean_out" in trainer.history[-1] and "loss" in trainer.history[-1]


def _nan_at(step_to_break, where="loss"):
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        loss = mse(model, batch)
        if calls["n"] == step_to_break:
            if where == "loss":
                return loss * float("nan")
            return loss + _inf_grad(model[2].weight)  # finite loss, one inf gradient entry in '2.weight'

        return loss

    return loss_fn


class _InfGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        return w.new_zeros(())

    @staticmethod
    def backward(ctx, grad):
        g = torch.zeros(1, 16)
        g[0, 3] = float("inf")
        return g


def _inf_grad(w):
    return _InfGrad.apply(w)


def test_nonfinite_loss_is_skipped_without_touching_weights():
    model = _mlp()
    trainer = Trainer(model, _nan_at(3), lr=1e-2, progress=False, ema_decay=0.9)
    trainer.fit(_data(), steps=2, batch_size=8)
    weights = _params(model)
    opt_state = {k: v["exp_avg"].clone() for k, v in enumerate(trainer.optimizer.state.values())}
    lr = trainer.optimizer.param_groups[0]["lr"]
    ema = {k: v.clone() for k, v in trainer.ema.shadow.items()}
    with pytest.warns(RuntimeWarning, match="non-finite training step 3: loss = nan"):
        trainer.fit(_data(), steps=3, batch_size=8)
    assert trainer.skipped_steps == 1 and trainer.step == 3
    after = _params(model)
    assert all(torch.equal(weights[k], after[k]) for k in weights)
    assert all(torch.equal(opt_state[k], v["exp_avg"]) for k, v in enumerate(trainer.optimizer.state.values()))
    assert all(torch.equal(ema[k], trainer.ema.shadow[k]) for k in ema)
    assert trainer.optimizer.param_groups[0]["lr"] == lr
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.fit(_data(), steps=6, batch_size=8)  # training goes on normally
    assert trainer.skipped_steps == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nonfinite_gradient_names_the_first_bad_parameter():
    model = _mlp()
    trainer = Trainer(model, _nan_at(2, where="grad"), nonfinite="raise", progress=False)
    with pytest.raises(NonFiniteError, match=r"parameter '2\.weight' \(shape \(1, 16\): 0 NaN, 1 inf of 16"):
        trainer.fit(_data(), steps=5, batch_size=8)
    assert trainer.step == 1
    # weights equal the state after step 1: rerun one step from the same seed and compare
    reference = _mlp()
    Trainer(reference, mse, progress=False).fit(_data(), steps=1, batch_size=8)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters()))


def test_too_many_consecutive_skips_raise():
    model = _mlp()
    trainer = Trainer(model, lambda m, b: mse(m, b) * float("inf"), max_consecutive_skips=3, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NonFiniteError, match="3 consecutive non-finite steps"):
            trainer.fit(_data(), steps=10, batch_size=8)
    assert trainer.skipped_steps == 3


def _train(seed, steps=15, **kw):
    model = _mlp(seed=123)
    torch.manual_seed(777)  # the trainer's seed, not the global state before it, decides the run

    def loss_fn(m, batch, generator):
        return mse(m, batch) + 0.01 * torch.randn((), generator=generator)

    model = torch.nn.Sequential(*model, torch.nn.Dropout(0.2))
    Trainer(model, loss_fn, seed=seed, progress=False, ema_decay=0.9, **kw).fit(_data(), steps=steps, batch_size=8)
    return _params(model)


def test_same_seed_same_result_bitwise_different_seed_differs():
    a, b, c = _train(0), _train(0), _train(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_in_process_resume_is_bitwise(tmp_path):
    straight = _train(3, steps=20)

    def loss_fn(m, batch, generator):
        return mse(m, batch) + 0.01 * torch.randn((), generator=generator)

    def trainer():
        m = torch.nn.Sequential(*_mlp(seed=123), torch.nn.Dropout(0.2))
        return Trainer(m, loss_fn, seed=3, progress=False, ema_decay=0.9, out_dir=tmp_path, checkpoint_every=7)

    first = trainer()
    first.fit(_data(), steps=20, batch_size=8)
    # a new process would see the checkpoints at 7 and 14 (and 20); drop 20 and resume from 14
    (tmp_path / "checkpoints" / "ckpt-00000020.pt").unlink()
    torch.manual_seed(4242)  # scramble global state, as a fresh process would have
    second = trainer()
    second.fit(_data(), steps=20, batch_size=8)
    resumed = _params(second.model)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_resume_from_explicit_path_and_missing_path(tmp_path):
    t = Trainer(_mlp(), mse, out_dir=tmp_path, checkpoint_every=5, progress=False)
    t.fit(_data(), steps=10, batch_size=8)
    t2 = Trainer(_mlp(seed=9), mse, progress=False)
    t2.fit(_data(), steps=10, batch_size=8, resume=tmp_path / "checkpoints" / "ckpt-00000010.pt")
    assert t2.step == 10 and all(torch.equal(a, b) for a, b in zip(t.model.parameters(), t2.model.parameters()))
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        Trainer(_mlp(), mse, progress=False).fit(_data(), steps=3, batch_size=8, resume=tmp_path / "missing.pt")


def test_resume_into_another_architecture_lists_keys(tmp_path):
    Trainer(_mlp(), mse, out_dir=tmp_path, progress=False).fit(_data(), steps=2, batch_size=8)
    other = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    expected = r"does not match the architecture.*0\.weight: file \(16, 3\) vs model \(8, 3\)"
    with pytest.raises(ValueError, match=expected):
        Trainer(other, mse, out_dir=tmp_path, progress=False).fit(_data(), steps=4, batch_size=8)


def test_keep_checkpoints_and_stale_temp_files(tmp_path):
    t = Trainer(_mlp(), mse, out_dir=tmp_path, checkpoint_every=2, keep_checkpoints=2, progress=False)
    t.fit(_data(), steps=9, batch_size=8)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["ckpt-00000008.pt", "ckpt-00000009.pt"]
    (tmp_path / "checkpoints" / ".ckpt-00000010.pt.x1.tmp").write_bytes(b"half")
    Trainer(_mlp(), mse, out_dir=tmp_path, progress=False).fit(_data(), steps=10, batch_size=8)
    assert not (tmp_path / "checkpoints" / ".ckpt-00000010.pt.x1.tmp").exists()


def test_clipping_bounds_the_update():
    model = _mlp()
    t = Trainer(model, lambda m, b: 1e6 * mse(m, b), optimizer=lambda p: torch.optim.SGD(p, lr=1.0),
                clip_grad_norm=0.5, progress=False, log_every=1)
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    t.fit(_data(), steps=1, batch_size=8)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(0.5, rel=1e-5)
    assert t.history[-1]["grad_norm"] > 1e3


def test_cosine_schedule_with_warmup():
    t = Trainer(_mlp(), mse, lr=1.0, schedule="cosine", warmup_steps=4, log_every=1, progress=False)
    t.fit(_data(), steps=12, batch_size=8)
    lrs = [r["lr"] for r in t.history]
    # lr after step s (what the next step uses): warm-up 2/4, 3/4, 1, then cosine decay to 0
    assert lrs[:3] == pytest.approx([0.5, 0.75, 1.0])
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))


def test_ema_tracks_the_weights():
    model = _mlp()
    t = Trainer(model, mse, lr=1e-2, ema_decay=0.5, progress=False)
    t.fit(_data(), steps=1, batch_size=8)
    init = _mlp()  # same seed: the weights before the step
    for (name, p), p0 in zip(model.named_parameters(), init.parameters()):
        assert torch.allclose(t.ema.shadow[name], 0.5 * p0 + 0.5 * p.detach())
    with t.ema.swapped_into(model):
        assert torch.equal(model[0].weight, t.ema.shadow["0.weight"])
    assert not torch.equal(model[0].weight, t.ema.shadow["0.weight"])


def test_bf16_autocast_on_cpu_trains():
    model = _mlp()
    x, y = _data()
    before = mse_value(model, (x, y))
    Trainer(model, mse, lr=2e-2, amp="bf16", progress=False).fit((x, y), steps=60, batch_size=16)
    assert mse_value(model, (x, y)) < before
    assert model[0].weight.dtype == torch.float32


def test_sampled_batches_and_dataset_of_dicts():
    def sample(generator):
        x = torch.randn(8, 3, generator=generator)
        return x, x.sum(1, keepdim=True)

    t = Trainer(_mlp(), mse, progress=False)
    t.fit(sample, steps=3)
    assert isinstance(t._data, SampledBatches)
    items = [{"x": torch.randn(3), "y": torch.randn(1)} for _ in range(10)]
    t2 = Trainer(_mlp(), lambda m, b: mse(m, (b["x"], b["y"])), progress=False)
    t2.fit(items, steps=3, batch_size=4)


def test_batches_order_state_and_sharding():
    data = torch.arange(10)
    b = Batches(data, 4, seed=1)
    first = [b.next_batch() for _ in range(3)]  # 2 per epoch: the third starts epoch 1
    assert b.epoch == 1 and len(set(torch.cat(first[:2]).tolist())) == 8
    state = b.state_dict()
    rest = [b.next_batch() for _ in range(4)]
    c = Batches(data, 4, seed=1)
    c.load_state_dict(state)
    assert all(torch.equal(u, v) for u, v in zip(rest, [c.next_batch() for _ in range(4)]))
    # 2 processes: together the same items per step as one process (the global batch), disjoint shares
    shards = [Batches(data, 4, seed=1, rank=r, world_size=2) for r in range(2)]
    whole = Batches(data, 4, seed=1)
    for _ in range(5):
        parts = [s.next_batch() for s in shards]
        assert len(parts[0]) == len(parts[1]) == 2
        assert sorted(torch.cat(parts).tolist()) == sorted(whole.next_batch().tolist())
    # each share is what torch's DistributedSampler hands that rank (epoch 2 here, after 5 batches)
    for r, s in enumerate(shards):
        sampler = torch.utils.data.DistributedSampler(range(10), num_replicas=2, rank=r, seed=1 * 1_000_003,
                                                      drop_last=True)
        sampler.set_epoch(2)
        assert torch.equal(s.next_batch(), data[list(sampler)[2:4]])
    unshuffled = Batches(data, 4, shuffle=False, rank=1, world_size=2)
    assert unshuffled.next_batch().tolist() == [1, 3] and unshuffled.next_batch().tolist() == [5, 7]


def test_bad_input_errors(tmp_path):
    with pytest.raises(ValueError, match="not divisible by the world size 4"):
        Batches(torch.randn(40, 2), 10, world_size=4, rank=0)
    with pytest.raises(ValueError, match="fewer than batch_size"):
        Batches(torch.randn(3, 2), 10)
    with pytest.raises(TypeError, match="training_loss"):
        Trainer(_mlp(), None)
    with pytest.raises(ValueError, match="nonfinite must be"):
        Trainer(_mlp(), mse, nonfinite="ignore")
    with pytest.raises(ValueError, match="amp must be"):
        Trainer(_mlp(), mse, amp="fp8")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        Trainer(_mlp(), mse, amp="fp16", device="cpu")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="exists but is not a directory"):
        Trainer(_mlp(), mse, out_dir=blocker)
    with pytest.raises(ValueError, match="cannot be created or written"):
        Trainer(_mlp(), mse, out_dir=blocker / "sub")
    t = Trainer(_mlp(), lambda m, b: m(b[0]), progress=False)
    with pytest.raises(ValueError, match="scalar tensor"):
        t.fit(_data(), steps=1, batch_size=8)
    with pytest.raises(ValueError, match="batch_size is required"):
        Trainer(_mlp(), mse, progress=False).fit(_data(), steps=1)
    with pytest.raises(TypeError, match="not supported"):
        Trainer(_mlp(), mse, progress=False).fit(42, steps=1, batch_size=2)


def test_fit_again_with_more_steps_continues_the_schedule():
    t = Trainer(_mlp(), mse, lr=1.0, schedule="linear", log_every=1, progress=False)
    t.fit(_data(), steps=6, batch_size=8)
    assert t.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # linear decay to 0 at step 6
    t.fit(_data(), steps=12, batch_size=8)  # a new 12-step schedule, picked up at step 6 (not restarted)
    lrs = {r["step"]: r["lr"] for r in t.history}
    assert [lrs[s] for s in (7, 9, 12)] == pytest.approx([1 - 7 / 12, 1 - 9 / 12, 0.0], abs=1e-12)


def test_scheduler_factory_is_built_once():
    built = []

    def factory(opt):
        built.append(torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5))
        return built[-1]

    t = Trainer(_mlp(), mse, lr=1.0, scheduler=factory, log_every=1, progress=False)
    t.fit(_data(), steps=3, batch_size=8)
    t.fit(_data(), steps=6, batch_size=8)
    assert len(built) == 1 and t.scheduler is built[0] and t.scheduler.last_epoch == 6
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(0.125)


def test_ema_warmup_lets_the_initial_weights_fade():
    from equigen.train.ema import EMA

    model = torch.nn.Linear(2, 1, bias=False, dtype=torch.float64)
    p0 = model.weight.detach().clone()
    plain, warm = EMA(model, 0.999), EMA(model, 0.999, warmup=True)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(100):
        plain.update(model)
        warm.update(model)
    kept = 1.0
    for n in range(100):
        kept *= min(0.999, (1 + n) / (10 + n))
    assert torch.allclose(warm.shadow["weight"], 1.0 + (p0 - 1.0) * kept)
    assert torch.allclose(plain.shadow["weight"], 1.0 + (p0 - 1.0) * 0.999**100)
    assert kept < 0.1 < 0.999**100  # the init fades with warm-up, stays at 90% without
    restored = EMA(model, 0.5)
    restored.load_state_dict(warm.state_dict())
    assert restored.warmup and restored.num_updates == 100


def test_fit_time_limit_stops_early_and_reports_it(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    data = (torch.randn(64, 3), torch.randn(64, 1))

    def loss_fn(m, batch):
        x, y = batch
        time.sleep(0.02)
        return ((m(x) - y) ** 2).mean()

    trainer = Trainer(model, loss_fn, progress=False, out_dir=tmp_path)
    summary = trainer.fit(data, steps=10_000, batch_size=8, time_limit_s=0.2)
    assert summary["stopped_by"] == "time_limit"
    assert 1 <= summary["step"] < 10_000
    assert list((tmp_path / "checkpoints").glob("ckpt-*.pt"))  # checkpointed like a finished run
    done = Trainer(torch.nn.Linear(3, 1), loss_fn, progress=False).fit(data, steps=3, batch_size=8, time_limit_s=60)
    assert done["stopped_by"] == "steps" and done["step"] == 3


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "10"])
def test_fit_time_limit_rejects_bad_values(bad):
    trainer = Trainer(torch.nn.Linear(3, 1), lambda m, b: m(b).sum(), progress=False)
    with pytest.raises(ValueError, match="time_limit_s"):
        trainer.fit(torch.randn(8, 3), steps=2, batch_size=4, time_limit_s=bad)
