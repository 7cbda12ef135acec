"""The model package: shapes, masks, zero-init identity, CFG maths, scheduler, losses, checkpoints."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from cafetalk_core.model import (CFGDenoiser, CheckpointError, Conditions, DDIMScheduler, ModelConfig, PRESETS,
                                 SchedulerConfig, alignment_mask, attach_control, build_model, cfg_combine,
                                 diffusion_loss, drop_controls, load_checkpoint, preset, sample_ddim,
                                 save_checkpoint)
from cafetalk_core.model.checkpoint import load_optimizer, save_optimizer
from cafetalk_core.model.denoiser import randomize_zero_init
from cafetalk_core.model.diffusion import InpaintDenoiser

torch.set_num_threads(1)
T = 40


def _cond(cfg: ModelConfig, b: int = 2, t: int = T, fine: bool = False, seed: int = 0) -> Conditions:
    g = torch.Generator().manual_seed(seed)
    f = None
    if fine:
        f = torch.zeros(b, t, cfg.num_actions)
        f[:, 10:20, 3] = 0.8
    return Conditions(torch.randn(b, t, cfg.audio_dim, generator=g), torch.randint(0, 8, (b, t), generator=g),
                      torch.rand(b, t, generator=g), fine=f)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    m = build_model(preset("tiny"), stage=1)
    randomize_zero_init(m, std=0.1)
    return m.eval()


def test_presets_sizes():
    assert set(PRESETS) >= {"tiny", "small", "paper"}
    p = PRESETS["paper"]
    assert (p.depth, p.width, p.heads) == (8, 512, 8)
    m = build_model(p, stage=2)
    base = sum(x.numel() for n, x in m.named_parameters() if not n.startswith("control."))
    ctrl = sum(x.numel() for n, x in m.named_parameters() if n.startswith("control."))
    assert 24e6 < base < 34e6 and 3e6 < ctrl < 8e6          # paper: ~25 M + ~5 M
    with pytest.raises(ValueError, match="heads"):
        ModelConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="unknown model_config"):
        ModelConfig.from_dict({"widht": 3})


def test_forward_shapes(tiny):
    cfg = tiny.cfg
    x = torch.randn(2, T, 52)
    out = tiny(x, torch.tensor([10, 900]), _cond(cfg))
    assert out.shape == (2, T, 52) and torch.isfinite(out).all()


def test_alignment_mask():
    m = alignment_mask(6, 6, 1)
    assert m.shape == (6, 6)
    assert m[0].tolist() == [True, True, False, False, False, False]
    assert m[3].tolist() == [False, False, True, True, True, False]
    assert torch.equal(m, m.T)


def test_audio_influence_is_local(tiny):
    """Changing the audio at frame 30 may not move frame 5's prediction at all in the cross-attention
    path... but self-attention spreads it. So check the mask directly on one cross-attention."""
    cfg = tiny.cfg
    enc = tiny.encode(_cond(cfg, b=1))
    blk = tiny.blocks[0]
    h = torch.randn(1, T, cfg.width)
    k, v = enc.audio_kv[0]
    v2 = v.clone()
    v2[:, :, 30] += 5.0                       # perturb audio frame 30
    y1 = blk.cross(h, kv=(k, v), mask=enc.cross_mask)
    y2 = blk.cross(h, kv=(k, v2), mask=enc.cross_mask)
    changed = (y1 - y2).abs().amax(dim=-1)[0] > 1e-6
    w = cfg.attn_window
    assert changed.nonzero().flatten().tolist() == list(range(30 - w, 30 + w + 1))


def test_per_frame_emotion_changes_output(tiny):
    cfg = tiny.cfg
    c = _cond(cfg, b=1)
    x = torch.randn(1, T, 52)
    c.emotion[:] = 1
    a = tiny(x, torch.tensor([500]), c)
    c2 = Conditions(c.audio, c.emotion.clone(), c.intensity)
    c2.emotion[0, 20:] = 3
    b = tiny(x, torch.tensor([500]), c2)
    assert not torch.allclose(a, b)


def test_zero_init_control_reproduces_stage1(tiny):
    cfg = tiny.cfg
    x, t = torch.randn(2, T, 52), torch.tensor([100, 700])
    base = tiny(x, t, _cond(cfg))
    m2 = build_model(cfg, stage=1)
    m2.load_state_dict(tiny.state_dict())
    attach_control(m2)
    m2.eval()
    with_ctrl = m2(x, t, _cond(cfg, fine=True))
    assert torch.equal(base, with_ctrl)                      # bitwise: the zero layers add exactly 0
    # and once the zero layers learn something, controls do change the output
    randomize_zero_init(m2.control, std=0.1)
    assert not torch.allclose(base, m2(x, t, _cond(cfg, fine=True)))


def test_cfg_combine_hand_computation():
    g_none = torch.tensor([[[1.0], [1.0], [1.0]]])
    g_ac = torch.tensor([[[2.0], [3.0], [4.0]]])
    g_acf = torch.tensor([[[5.0], [5.0], [5.0]]])
    z = torch.tensor([[[0.0], [1.0], [1.0]]])
    out = cfg_combine(g_none, g_ac, g_acf, audio_scale=2.0, control_scale=0.5, z=z)
    # frame 0: 1 + 2*(2-1) = 3;  frame 1: 1 + 2*(3-1) + 0.5*(5-1) = 7;  frame 2: 1 + 2*3 + 2 = 9
    assert out.flatten().tolist() == [3.0, 7.0, 9.0]
    assert cfg_combine(g_none, g_ac, None, 1.0, 9.0, None).equal(g_ac)
    # our option, fine term against G_audio,coarse: frame 1: 1 + 2*2 + 0.5*(5-3) = 6; frame 2: 1 + 6 + 0.5*1
    rel = cfg_combine(g_none, g_ac, g_acf, 2.0, 0.5, z, fine_reference="audio_coarse")
    assert rel.flatten().tolist() == [3.0, 6.0, 7.5]


def test_channel_scales_guide_lips_and_face_apart(tiny):
    from cafetalk_core.model.diffusion import channel_scales
    from cafetalk_core.rig import LIP_SYNC_NAMES, channel_index

    assert channel_scales(4.0, None) == 4.0 and channel_scales(2.0, 2.0) == 2.0   # scalar when uniform
    scales = channel_scales(4.0, 1.0)
    lips = [channel_index(n) for n in LIP_SYNC_NAMES]
    assert scales.shape == (52,) and scales[lips].eq(4.0).all() and scales.sum() == 4.0 * len(lips) + (52 - len(lips))
    g_none, g_ac = torch.zeros(1, 3, 52), torch.ones(1, 3, 52)
    out = cfg_combine(g_none, g_ac, None, scales, 1.0, None)
    assert out[0, :, lips].eq(4.0).all() and out[0, :, channel_index("eyeBlinkLeft")].eq(1.0).all()
    # a = 1 on every channel still skips the G_none branch
    c = _cond(tiny.cfg, b=1)
    assert CFGDenoiser(tiny, c, channel_scales(1.0, 1.0), 1.0).n == 1
    assert CFGDenoiser(tiny, c, channel_scales(4.0, 1.0), 1.0).n == 2


def test_cfg_denoiser_matches_separate_passes(tiny):
    cfg = tiny.cfg
    m = build_model(cfg, stage=1)
    m.load_state_dict(tiny.state_dict())
    attach_control(m)
    randomize_zero_init(m.control, std=0.1)
    m.eval()
    c = _cond(cfg, b=1, fine=True)
    x, t = torch.randn(1, T, 52), 400
    tt = torch.tensor([t])
    none = Conditions(c.audio, torch.full_like(c.emotion, cfg.num_emotions), torch.zeros_like(c.intensity),
                      audio_keep=torch.tensor([False]))
    g_none = m(x, tt, none)
    g_ac = m(x, tt, Conditions(c.audio, c.emotion, c.intensity))
    g_acf = m(x, tt, c)
    z = (c.fine > 0).any(-1, keepdim=True).float()
    expected = g_none + 1.7 * (g_ac - g_none) + 0.6 * z * (g_acf - g_none)
    got = CFGDenoiser(m, c, 1.7, 0.6)(x, t)
    assert torch.allclose(got, expected, atol=1e-5)
    # a = 1 without fine controls needs no G_none branch: one row per item, output = G_ac
    plain = CFGDenoiser(m, Conditions(c.audio, c.emotion, c.intensity), 1.0, 0.6)
    assert plain.n == 1 and torch.allclose(plain(x, t), g_ac, atol=1e-5)
    # a = 1 with fine controls (paper's form) still needs G_none
    paper = CFGDenoiser(m, c, 1.0, 0.6)
    assert paper.n == 3 and torch.allclose(paper(x, t), g_ac + 0.6 * z * (g_acf - g_none), atol=1e-5)


def test_scheduler_order_and_maths():
    s = DDIMScheduler(SchedulerConfig(num_train_timesteps=1000))
    x = torch.randn(1, 5, 52)
    with pytest.raises(ValueError, match="set_timesteps"):
        s.step(x, 999, x)
    s.set_timesteps(4)
    assert s.timesteps.tolist() == [999, 749, 499, 249]
    with pytest.raises(ValueError, match="expected t=999"):
        s.step(x, 749, x)
    # DDIM eta=0 with a perfect x0 prediction lands exactly on x0 at the end
    x0 = torch.rand(1, 5, 52)
    noise = torch.randn(1, 5, 52)
    sample = s.add_noise(x0, noise, 999)
    for t in s.timesteps.tolist():
        sample = s.step(x0, t, sample).prev_sample
    assert torch.allclose(sample, x0, atol=1e-5)
    with pytest.raises(ValueError, match="times"):
        s.step(x0, 249, sample)
    # hand check of one step (DDIM eq. 12)
    s.set_timesteps(4)
    xt = torch.randn(1, 5, 52)
    ab_t, ab_p = float(s.alphas_cumprod[999]), float(s.alphas_cumprod[749])
    eps = (xt - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)
    out = s.step(x0, 999, xt)
    assert torch.allclose(out.prev_sample, math.sqrt(ab_p) * x0 + math.sqrt(1 - ab_p) * eps, atol=1e-5)
    assert torch.equal(out.pred_original_sample, x0)
    a = DDIMScheduler(beta_schedule="cosine").alphas_cumprod
    assert a[0] > 0.999 and a[-1] < 1e-3 and torch.all(a[1:] <= a[:-1])


def test_sample_ddim_callback_and_inpaint():
    s = DDIMScheduler()
    s.set_timesteps(5)
    seen = []
    target = torch.ones(1, 10, 52)
    known = torch.full((1, 10, 52), -1.0)
    mask = torch.zeros(1, 10, 1, dtype=torch.bool)
    mask[:, :3] = True
    inputs = []

    def model_fn(x, t):
        inputs.append(x.clone())
        return target

    inpaint = InpaintDenoiser(model_fn, s, known, mask, generator=torch.Generator().manual_seed(0))
    out = sample_ddim(inpaint, torch.randn(1, 10, 52), s, callback=seen.append)
    assert [d["i"] for d in seen] == list(range(5)) and set(seen[0]) == {"i", "x", "denoised", "t"}
    assert torch.equal(out, target)
    # the last model call saw the known frames noised only a little around -1
    assert inputs[-1][:, :3].mean() < -0.5


def test_drop_controls_drops_whole_spans():
    fine = torch.zeros(64, 30, 4)
    fine[:, 2:8, 0] = 1.0
    fine[:, 15:25, 0] = 0.5
    out = drop_controls(fine, 0.8, torch.Generator().manual_seed(0))
    for row in out:
        a, b = row[2:8, 0], row[15:25, 0]
        assert bool((a == 0).all() or (a == 1).all()) and bool((b == 0).all() or (b == 0.5).all())
    kept = (out[:, 2, 0] > 0).float().mean()
    assert 0.05 < kept < 0.4                                    # ~20% kept


def test_losses_backward_and_swap_mask(tiny):
    cfg = tiny.cfg
    m = build_model(cfg, stage=2)
    sched = DDIMScheduler()
    g = torch.Generator().manual_seed(0)
    b = 4
    batch = {"curves": torch.rand(b, T, 52), "audio": torch.randn(b, T, cfg.audio_dim),
             "emotion": torch.randint(0, 8, (b, T)), "intensity": torch.rand(b, T),
             "fine": torch.zeros(b, T, cfg.num_actions)}
    batch["fine"][:, 5:15, 8] = 1.0                            # AU12 smile
    loss, logs = diffusion_loss(m, sched, batch, stage=1, generator=g)
    loss.backward()
    assert torch.isfinite(loss) and logs["loss_x0"] > 0
    # stage 2 swap-label rows: the loss only sees the smile channels on the smile frames
    m.zero_grad()
    torch.manual_seed(0)
    batch2 = dict(batch)
    batch2["curves"] = batch["curves"].clone()
    loss_a, logs_a = diffusion_loss(m, sched, batch2, stage=2, p_swap=1.0, p_drop_controls=0.0,
                                    velocity_weight=0.0, generator=torch.Generator().manual_seed(1))
    batch2["curves"][:, 20:, :] = 0.0                          # outside the controlled frames
    batch2["curves"][:, 5:15, 0] = 0.0                         # eyeBlinkLeft: not a smile channel
    loss_b, logs_b = diffusion_loss(m, sched, batch2, stage=2, p_swap=1.0, p_drop_controls=0.0,
                                    velocity_weight=0.0, generator=torch.Generator().manual_seed(1))
    assert logs_a["swap_rows"] == b
    assert torch.allclose(loss_a, loss_b)


def test_checkpoint_round_trip(tmp_path, tiny):
    m = build_model(tiny.cfg, stage=2)
    randomize_zero_init(m, std=0.1)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    m(torch.randn(1, T, 52), torch.tensor([3]), _cond(tiny.cfg, b=1, fine=True)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "ck", m, step=7, train={"lr": 1e-3}, optimizer=opt)
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert meta["format"] == "cafetalk.checkpoint" and meta["format_version"] == 1 and meta["stage"] == 2
    ck = load_checkpoint(tmp_path / "ck")
    assert ck.step == 7 and ck.stage == 2 and ck.model.control is not None
    for (k, v), (k2, v2) in zip(m.state_dict().items(), ck.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    opt2 = torch.optim.AdamW(ck.model.parameters(), lr=1e-3)
    load_optimizer(tmp_path / "ck" / "optimizer.safetensors", opt2)
    st1, st2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert st1.keys() == st2.keys() and len(st1) > 0
    for pid in st1:
        assert torch.equal(st1[pid]["exp_avg"], st2[pid]["exp_avg"]) and float(st1[pid]["step"]) == float(st2[pid]["step"])


def test_checkpoint_refuses_bad_inputs(tmp_path, tiny):
    d = save_checkpoint(tmp_path / "ck", tiny)
    # a pickle in place of the weights is refused, never unpickled
    torch.save(tiny.state_dict(), d / "model.safetensors")
    with pytest.raises(CheckpointError, match="not a safetensors"):
        load_checkpoint(d)
    save_checkpoint(d, tiny)
    meta = json.loads((d / "config.json").read_text())
    meta["format_version"] = 99
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(d)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing")
    (d / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_checkpoint(d)


@pytest.mark.parametrize("total", [1000, 50, 7])
def test_set_timesteps_gives_exactly_n_strictly_decreasing_steps_for_every_n(total):
    """Issue 17.1: a float arange gave n + 1 steps ending at t = -1 for n = 61, 103, 121, 122."""
    s = DDIMScheduler(num_train_timesteps=total)
    for n in range(1, total + 1):
        s.set_timesteps(n)
        ts = s.timesteps
        assert len(ts) == n, n
        assert int(ts[0]) == total - 1 and int(ts[-1]) >= 0, (n, ts[-1])
        assert bool((ts[1:] < ts[:-1]).all()), n


def test_high_t_share_trains_the_rows_at_the_top_of_the_schedule(tiny, monkeypatch):
    """``high_t_share=1`` draws every row's t from the top tenth (the 1-step sample's regime); 0 keeps
    the uniform draw."""
    cfg = tiny.cfg
    m = build_model(cfg, stage=1)
    sched = DDIMScheduler()
    seen = []
    real = sched.add_noise
    monkeypatch.setattr(sched, "add_noise", lambda x0, noise, t: (seen.append(t.clone()), real(x0, noise, t))[1])
    b = 64
    batch = {"curves": torch.rand(b, T, 52), "audio": torch.randn(b, T, cfg.audio_dim),
             "emotion": torch.randint(0, 8, (b, T)), "intensity": torch.rand(b, T)}
    top = sched.config.num_train_timesteps
    diffusion_loss(m, sched, batch, stage=1, high_t_share=1.0, generator=torch.Generator().manual_seed(0))
    assert int(seen[-1].min()) >= top - top // 10 and int(seen[-1].max()) < top
    diffusion_loss(m, sched, batch, stage=1, generator=torch.Generator().manual_seed(0))
    assert int(seen[-1].min()) < top - top // 10               # uniform: 64 rows reach below the top tenth
