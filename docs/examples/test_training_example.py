"""Worked example: train with equigen.train, lose the process, resume exactly, save and reload the model
(runs as a test)."""

import pytest
import torch

from equigen.train import Trainer, configurable, load_model, save_model


@configurable  # records the constructor arguments, so save_model/load_model can rebuild the model
class Quadratic(torch.nn.Module):
    def __init__(self, features: int = 3, hidden: int = 16, dtype=None):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(features, hidden, dtype=dtype), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, 1, dtype=dtype))

    def forward(self, x):
        return self.net(x)

    def training_loss(self, batch, generator=None):
        """The Trainer calls this when no loss_fn is given; ``generator`` is the trainer's own (checkpointed)."""
        x, y = batch
        x = x + 0.01 * torch.randn(x.shape, generator=generator, dtype=x.dtype)  # input noise, resumable
        return torch.nn.functional.mse_loss(self(x), y)


def make_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g, dtype=torch.float64)
    return x, x[:, :1] * x[:, 1:2] - x[:, 2:]


def new_trainer(out_dir, eval_fn=None):
    torch.manual_seed(0)
    model = Quadratic(dtype=torch.float64)
    return Trainer(model, lr=1e-2, schedule="cosine", warmup_steps=10, clip_grad_norm=1.0, ema_decay=0.99,
                   out_dir=out_dir, checkpoint_every=20, eval_fn=eval_fn, eval_every=50, seed=0, progress=False)


class PreEmpted(Exception):
    pass


def pre_empt(model):
    raise PreEmpted("the machine went away at step 50")


def test_train_interrupt_resume_save_load(tmp_path):
    data = make_data()
    straight = new_trainer(tmp_path / "straight")
    straight.fit(data, steps=100, batch_size=32)

    crashed = new_trainer(tmp_path / "crashed", eval_fn=pre_empt)
    with pytest.raises(PreEmpted):
        crashed.fit(data, steps=100, batch_size=32)  # dies after step 50; the newest checkpoint is step 40
    del crashed

    resumed = new_trainer(tmp_path / "crashed")  # a new process: same code, same out_dir
    resumed.fit(data, steps=100, batch_size=32)  # picks up ckpt-00000040.pt and replays steps 41..100
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)  # bit for bit

    resumed.ema.copy_to(resumed.model)  # keep the averaged weights
    save_model(resumed.model, tmp_path / "quadratic.pt")
    model = load_model(tmp_path / "quadratic.pt", classes=[Quadratic])  # Quadratic(features=3, hidden=16, ...)
    assert model.net[0].weight.dtype == torch.float64
    assert torch.equal(model.net[0].weight, resumed.model.net[0].weight)
