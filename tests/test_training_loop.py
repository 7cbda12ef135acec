"""The one schedule and the shared step of every trainer (training/schedule.py, training/loop.py)."""
from __future__ import annotations

import json

import pytest
import torch

from cafetalk_core.training.loop import append_log, optimizer_step, scheduled_lr
from cafetalk_core.training.schedule import lr_at


def test_warmup_is_linear_then_cosine_reaches_the_floor():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, 10) == pytest.approx(0.1, abs=1e-3)
    assert lr_at(99, 100, 1.0, 10, floor=0.0) == pytest.approx(0.0, abs=1e-3)
    mid = lr_at(55, 100, 1.0, 10)
    assert 0.1 < mid < 1.0
    rates = [lr_at(s, 100, 1.0, 10) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))          # never rises after warm-up


@pytest.mark.parametrize("bad", [dict(total=0), dict(floor=1.5), dict(warmup=-1)])
def test_schedule_refuses_nonsense(bad):
    kw = dict(step=0, total=10, base=1.0, warmup=2) | bad
    with pytest.raises(ValueError):
        lr_at(**kw)


def test_step_clips_the_gradient_and_logs(tmp_path):
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    opt = torch.optim.SGD([w], lr=1.0)
    assert scheduled_lr(opt, 0, 10, 0.5, warmup=0) == pytest.approx(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    norm = optimizer_step((w * w).sum(), opt, [w], clip=1.0)       # grad (6, 8): norm 10, clipped to 1
    assert norm == pytest.approx(10.0)
    assert w.detach().tolist() == pytest.approx([3.0 - 0.5 * 0.6, 4.0 - 0.5 * 0.8])
    append_log(tmp_path / "log.jsonl", {"step": 1})
    append_log(tmp_path / "log.jsonl", {"step": 2})
    assert [json.loads(x)["step"] for x in (tmp_path / "log.jsonl").read_text().splitlines()] == [1, 2]
