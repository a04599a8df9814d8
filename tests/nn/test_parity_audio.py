"""Parity of the audio encoder's front end with ``transformers.audio_utils`` (numpy, float64, itself checked
against librosa and torchaudio in transformers' own tests).

What our code does, and the reference call that does the same:

- filterbank (:func:`omnivec.nn.encoders.audio.mel_filterbank`): HTK mel scale, triangles in Hz between mel-spaced
  edges, no area normalisation (peak 1), ``f_min`` from the config, ``f_max`` = Nyquist ->
  ``mel_filter_bank(n_fft // 2 + 1, n_mels, f_min, sr / 2, sr, norm=None, mel_scale="htk",
  triangularize_in_mel_space=False)``.
- log-mel (:meth:`AudioEncoder.log_mel`): periodic Hann window of ``n_fft``, frames without centre padding,
  power 2 -> ``spectrogram(wave, window_function(n_fft, "hann", periodic=True), n_fft, hop, power=2.0,
  center=False, mel_filters=...)``.
- log flavour: ours is ``log(mel + 1e-6)`` (an additive floor); transformers' ``log_mel="log"`` is
  ``log(max(mel, mel_floor))``, a clamp, which differs wherever mel is near the floor. So the reference is
  asked for the mel power (``log_mel=None``, ``mel_floor`` 1e-30 so it clamps nothing) and the test applies
  ``log(x + 1e-6)`` itself.

Tolerances (absolute; reasons at each assertion): filterbank 5e-6 (a known float32 step in ours, documented
in the filterbank test), log-mel 2e-5 for the STFT part alone and 1e-4 end to end (float32 model arithmetic),
normalised spectrogram 1e-5 (run in float64).

librosa (``filters.mel(htk=True, norm=None)``) would be the same reference, but it pulls numba, llvmlite, pooch
and requests into the test environment; transformers is installed anyway for the decoder parity test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnivec.nn.encoders.audio import AudioEncoder, AudioEncoderConfig, mel_filterbank
from omnivec.types import EncoderInput

audio_utils = pytest.importorskip("transformers.audio_utils")

# (sample_rate, n_fft, hop, n_mels, f_min): the default encoder, and a Whisper-like 16 kHz front end with a
# non-power-of-two FFT and a raised lower edge
CONFIGS = [(8000, 256, 80, 32, 0.0), (16000, 400, 160, 40, 50.0)]


def reference_filterbank(sr: int, n_fft: int, n_mels: int, f_min: float) -> np.ndarray:
    fb = audio_utils.mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=f_min,
        max_frequency=sr / 2,
        sampling_rate=sr,
        norm=None,
        mel_scale="htk",
        triangularize_in_mel_space=False,
    )
    return fb.T  # (n_mels, n_freqs), our layout


def reference_log_mel(wave: np.ndarray, sr: int, n_fft: int, hop: int, fb: np.ndarray) -> np.ndarray:
    """log(mel + 1e-6) of one waveform, (n_mels, frames), with filterbank ``fb`` (n_mels, n_freqs)."""
    mel = audio_utils.spectrogram(
        wave.astype(np.float64),
        audio_utils.window_function(n_fft, "hann", periodic=True),
        frame_length=n_fft,
        hop_length=hop,
        power=2.0,
        center=False,
        mel_filters=fb.T,
        mel_floor=1e-30,
        log_mel=None,
    )
    return np.log(mel + 1e-6)  # (n_mels, frames)


def make_waves(sr: int, n: int = 2) -> torch.Tensor:
    """A chirp-plus-tones signal with noise, so every band carries energy well above the 1e-6 floor, and one
    quiet clip whose upper bands sit near the floor (where the additive floor matters)."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(0.5 * sr), dtype=torch.float64) / sr
    loud = 0.5 * torch.sin(2 * torch.pi * (200 * t + 0.4 * sr * t**2)) + 0.2 * torch.sin(2 * torch.pi * 440 * t)
    loud = loud + 0.05 * torch.randn(t.shape, generator=g, dtype=torch.float64)
    quiet = 1e-3 * torch.sin(2 * torch.pi * 300 * t) + 1e-5 * torch.randn(t.shape, generator=g, dtype=torch.float64)
    return torch.stack([loud, quiet][:n])


@pytest.mark.parametrize(("sr", "n_fft", "hop", "n_mels", "f_min"), CONFIGS)
def test_mel_filterbank_matches_transformers_htk(sr: int, n_fft: int, hop: int, n_mels: int, f_min: float) -> None:
    """Known discrepancy, kept: ``mel_filterbank`` converts its two band edges ``f_min``/``f_max`` to mel through
    a float32 ``torch.tensor`` (the rest is float64), so the mel end points carry float32 rounding (~1e-4 mel)
    and filter values move by up to ~3e-6 from the float64 reference. Computing them in float64 would bring
    it to float32 storage rounding (~3e-8) but would change every audio model's features (by ~1e-6), so it
    is documented here, not changed. The tolerance covers it, and the second check shows it is the whole
    residual."""
    ours = mel_filterbank(n_fft // 2 + 1, n_mels, sr, f_min).double().numpy()
    ref = reference_filterbank(sr, n_fft, n_mels, f_min)
    assert ours.shape == ref.shape
    assert ref.max() > 0.5  # a real filterbank, not zeros
    np.testing.assert_allclose(ours, ref, rtol=0, atol=5e-6)

    # the same triangles, all in float64 except the HTK formula at the two end points evaluated in float32:
    # equal up to float32 storage rounding (values in [0, 1] -> 2**-24 ~ 6e-8)
    lo_mel, hi_mel = (float(2595.0 * torch.log10(1.0 + torch.tensor(f) / 700.0)) for f in (f_min, sr / 2))
    edges = audio_utils.mel_to_hertz(np.linspace(lo_mel, hi_mel, n_mels + 2), mel_scale="htk")
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    up = (freqs - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    down = (edges[2:, None] - freqs) / (edges[2:, None] - edges[1:-1, None])
    np.testing.assert_allclose(ours, np.maximum(0.0, np.minimum(up, down)), rtol=0, atol=1e-7)

    # the Slaney scale (librosa's default) is a different filterbank: the tolerance can tell them apart
    slaney = audio_utils.mel_filter_bank(n_fft // 2 + 1, n_mels, f_min, sr / 2, sr, norm=None, mel_scale="slaney").T
    assert np.abs(ours - slaney).max() > 0.05


def encoder(sr: int, n_fft: int, hop: int, n_mels: int, f_min: float) -> AudioEncoder:
    cfg = AudioEncoderConfig(
        sample_rate=sr,
        n_fft=n_fft,
        hop_length=hop,
        n_mels=n_mels,
        patch_freq=n_mels,
        patch_time=4,
        f_min=f_min,
        stem="linear",
    )
    return AudioEncoder(cfg, embed_dim=32).eval()


@pytest.mark.parametrize(("sr", "n_fft", "hop", "n_mels", "f_min"), CONFIGS)
def test_log_mel_matches_transformers_spectrogram(sr: int, n_fft: int, hop: int, n_mels: int, f_min: float) -> None:
    enc = encoder(sr, n_fft, hop, n_mels, f_min)
    waves = make_waves(sr)
    ours = enc.log_mel(waves.float()).double().numpy()  # float32, as the model runs

    # the STFT part alone (window, framing, power, log floor): the reference given our own filterbank. The
    # residual is float32 arithmetic: torch.stft in float32 and the reference's complex64 spectrum buffer,
    # ~1e-7 of a frame's largest bin, which the log makes up to ~6e-6 in quiet bands; atol 2e-5 in log
    # units. A wrong window, centre padding or |X| instead of |X|^2 moves values by far more than 0.01.
    ours_fb = enc.mel_fb.double().numpy()
    ref_stft = np.stack([reference_log_mel(w.numpy(), sr, n_fft, hop, ours_fb) for w in waves])
    assert ref_stft.shape == ours.shape
    assert ref_stft.shape[-1] == (waves.shape[1] - n_fft) // hop + 1  # no centre padding on either side
    assert ref_stft[1].min() < np.log(1e-5)  # the quiet clip really reaches the floor region
    np.testing.assert_allclose(ours, ref_stft, rtol=0, atol=2e-5)

    # end to end, with transformers' own filterbank: the filterbank's float32 band edges (~3e-6 per filter
    # weight, see above) add up to ~5e-5 in log units where a band's power is low; atol 1e-4
    ref = np.stack(
        [reference_log_mel(w.numpy(), sr, n_fft, hop, reference_filterbank(sr, n_fft, n_mels, f_min)) for w in waves]
    )
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4)


def test_normalised_spectrogram_of_a_padded_batch_matches_reference() -> None:
    """``spectrogram`` = log-mel cut to whole patches, standardised per sample over its own valid frames
    (population variance, ``(x - mean) / (std + 1e-5)``), zero beyond them; a padded batch gives each sample
    what it gives alone."""
    sr, n_fft, hop, n_mels, f_min = CONFIGS[0]
    enc = encoder(sr, n_fft, hop, n_mels, f_min).double()
    waves = make_waves(sr)
    short = 2600  # the quiet clip, cut and zero-padded to the batch length
    batch = waves.clone()
    batch[1, short:] = 0.0
    spec, patches = enc.spectrogram(EncoderInput(batch, torch.tensor([waves.shape[1], short])))
    pt = enc.cfg.patch_time
    fb = enc.mel_fb.numpy()  # the filterbank is tested above; here the framing and the normalisation
    for i, n in enumerate([waves.shape[1], short]):
        ref = reference_log_mel(waves[i, :n].numpy(), sr, n_fft, hop, fb)
        valid = (ref.shape[1] // pt) * pt
        assert int(patches[i]) * pt == valid
        ref = ref[:, :valid]
        ref = (ref - ref.mean()) / (ref.std() + 1e-5)
        # float64 on our side: what is left is the reference's complex64 spectrum buffer (~3e-6 in log units,
        # see above) divided by the clip's std (~1-2): atol 1e-5, while a wrong eps, variance or frame count
        # (statistics taken over padding) moves values by >1e-3
        np.testing.assert_allclose(spec[i, 0, :, :valid].numpy(), ref, rtol=0, atol=1e-5)
        assert torch.all(spec[i, 0, :, valid:] == 0)
