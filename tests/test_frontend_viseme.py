"""The phonetic + viseme-prior front end: the prior columns are the procedural lip sync of the phones."""
import numpy as np

from cafetalk_core import rig
from cafetalk_core.audio import build_front_end
from cafetalk_core.visemes import phones_to_curves
from cafetalk_core.phones import Phone


def _speechy(seconds=1.5, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.2 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


def test_prior_columns_close_on_bilabials_and_match_visemes():
    fe = build_front_end("phonetic-viseme-mel-v1")
    phones = [Phone("SIL", 0, 0.3), Phone("M", 0.3, 0.42), Phone("AA", 0.42, 0.7), Phone("P", 0.7, 0.8),
              Phone("AA", 0.8, 1.1), Phone("SIL", 1.1, 1.5)]
    feats = fe.features(_speechy(), 45, 30.0, phones=phones)
    assert feats.shape == (45, fe.dim)
    prior = feats[:, fe.slices["prior"]]
    expected = phones_to_curves(phones, 45, 30.0)[:, fe.PRIOR_CHANNELS]
    np.testing.assert_allclose(prior, expected, atol=1e-6)
    names = [rig.ARKIT_NAMES[i] for i in fe.PRIOR_CHANNELS]
    aperture = prior[:, names.index("jawOpen")] - prior[:, names.index("mouthClose")]
    assert aperture[round(0.36 * 30)] < 0.35 * aperture[round(0.55 * 30)]  # M closed, AA open
    # training recomputes only the phone-dependent columns: they must equal the full features'
    np.testing.assert_allclose(fe.phone_columns(phones, 45, 30.0), feats[:, fe.slices["phones"]], atol=1e-6)


def test_untrained_model_with_prior_skip_predicts_the_prior():
    import torch

    from cafetalk_core.model import Conditions, build_model, preset
    from cafetalk_core.model.denoiser import LIP_SYNC_INDICES

    fe = build_front_end("phonetic-viseme-mel-v1")
    cfg = preset("tiny", audio_dim=fe.dim, front_end=fe.id, prior_offset=fe.slices["prior"].start)
    model = build_model(cfg).eval()
    b, t = 2, 30
    audio = torch.randn(b, t, fe.dim)
    audio[..., fe.slices["prior"]] = torch.rand(b, t, 28)
    cond = Conditions(audio, torch.zeros(b, t, dtype=torch.long), torch.full((b, t), 0.5),
                      audio_keep=torch.tensor([True, False]))
    with torch.no_grad():
        x0 = model.denormalize(model(torch.randn(b, t, 52), torch.tensor([900, 900]), cond))
    # audio kept: lip channels are exactly the prior; audio dropped (CFG's G_none): no prior at all
    torch.testing.assert_close(x0[0][:, LIP_SYNC_INDICES], audio[0][:, fe.slices["prior"]], atol=1e-5, rtol=0)
    torch.testing.assert_close(x0[1], model.data_mean.expand(t, 52))
