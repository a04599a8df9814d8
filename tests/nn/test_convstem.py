"""The convolutional tokenizers: leak-free under masking, padding-exact for audio, gray == repeated channels,
odd sizes padded to whole tokens and cropped back by dense heads."""

from __future__ import annotations

import pytest
import torch

from omnivec.config import TaskConfig, preset
from omnivec.nn.layers.convstem import ConvStem
from omnivec.nn.model import OmniModel
from omnivec.types import EncoderInput


def tiny_cnn_model() -> OmniModel:
    cfg = preset("tiny").model
    for m in ("image", "video", "audio"):
        assert cfg.encoders[m].stem == "cnn"  # the default tokenizer
    return OmniModel(cfg).eval()


def hidden_pixels(mask: torch.Tensor, grid: tuple[int, ...], patch: tuple[int, ...]) -> torch.Tensor:
    """(B, N) hidden tokens -> (B, 1, *pixels) True where a pixel belongs to a hidden token."""
    m = mask.view(mask.shape[0], *grid)
    for axis, p in enumerate(patch):
        m = m.repeat_interleave(p, dim=axis + 1)
    return m[:, None]


CASES = {
    "image": lambda: torch.rand(3, 3, 32, 32),
    "video": lambda: torch.rand(2, 3, 8, 32, 32),
}


@pytest.mark.parametrize("modality", sorted(CASES))
def test_kept_tokens_never_see_hidden_pixels(modality: str) -> None:
    """Rewrite every hidden pixel: the kept tokens must not change at all. Rewrite one visible pixel: they must."""
    model = tiny_cnn_model()
    enc = model.encoder(modality)
    x = CASES[modality]()
    torch.manual_seed(3)
    m, grid, _ = enc.masked_tokens(EncoderInput(x), 0.6)
    hidden = hidden_pixels(m.mask, grid, enc.patch).expand_as(x)
    noisy = torch.where(hidden, torch.rand_like(x) * 5, x)
    torch.manual_seed(3)
    m2, _, _ = enc.masked_tokens(EncoderInput(noisy), 0.6)
    assert torch.equal(m.ids_keep, m2.ids_keep)
    assert torch.equal(m.kept, m2.kept)
    visible = (~hidden).nonzero()[0]
    poked = x.clone()
    poked[tuple(visible)] += 3.0
    torch.manual_seed(3)
    m3, _, _ = enc.masked_tokens(EncoderInput(poked), 0.6)
    assert not torch.equal(m.kept, m3.kept)


@pytest.mark.parametrize("modality", sorted(CASES))
def test_own_patch_tokens_are_the_masked_stem_with_each_token_alone_visible(modality: str) -> None:
    """``stem_context: own`` embeds each kept patch by itself: the very tokens the masked stem gives when that
    token is the only visible one (so it never reads a hidden pixel, nor a kept neighbour's)."""
    model = tiny_cnn_model()
    enc = model.encoder(modality)
    x = CASES[modality]()
    torch.manual_seed(3)
    m, grid, _ = enc.masked_tokens(EncoderInput(x), 0.6, own_patch=True)
    B, K = m.ids_keep.shape
    assert m.mask.shape[1] > K
    normalised = enc._normalised(enc._padded(EncoderInput(x), expand=False)[0])
    pos = enc.positions(grid, x.device)
    for b in range(B):
        for k in range(K):
            alone = torch.zeros(1, m.mask.shape[1], dtype=torch.bool)
            alone[0, m.ids_keep[b, k]] = True
            fmap, _ = enc.stem(normalised[b : b + 1], alone.view(1, *grid))
            token = fmap.flatten(2)[0, :, m.ids_keep[b, k]] + pos[m.ids_keep[b, k]]
            torch.testing.assert_close(m.kept[b, k], token, rtol=1e-4, atol=1e-5)
    hidden = hidden_pixels(m.mask, grid, enc.patch).expand_as(x)
    noisy = torch.where(hidden, torch.rand_like(x) * 5, x)
    torch.manual_seed(3)
    m2, _, _ = enc.masked_tokens(EncoderInput(noisy), 0.6, own_patch=True)
    assert torch.equal(m.ids_keep, m2.ids_keep)
    torch.testing.assert_close(m.kept, m2.kept, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("chans", "patch", "size", "entry", "norm"),
    [
        (3, (8, 8), (32, 32), (), "layer"),
        (1, (8, 8), (24, 40), (), "layer"),  # gray input, a non-square grid
        (3, (8, 8), (32, 32), (2, 2), "none"),  # the non-overlapping entry conv, the unnormed stem
        (3, (4, 8, 8), (8, 32, 32), (1, 2, 2), "layer"),  # video
    ],
)
def test_sparse_masked_stem_equals_the_dense_masked_stem_at_the_kept_tokens(
    chans: int, patch: tuple[int, ...], size: tuple[int, ...], entry: tuple[int, ...], norm: str
) -> None:
    """``forward_kept`` computes every stage at the kept tokens only (reading hidden neighbours as zeros): the
    same tokens, and the same gradients for every weight, as the dense pass with every stage masked."""
    import math

    from omnivec.nn.masking import sample_mask

    torch.manual_seed(0)
    stem = ConvStem(3, 48, patch, 8, entry, norm).double()
    x = torch.randn(3, chans, *size, dtype=torch.float64)
    grid = tuple(s // p for s, p in zip(size, patch))
    m = sample_mask(3, math.prod(grid), 0.6, None, x.device)
    fmap, _ = stem(x, (~m.mask).view(3, *grid))
    dense = fmap.flatten(2).transpose(1, 2).gather(1, m.ids_keep[..., None].expand(-1, -1, 48))
    sparse = stem.forward_kept(x, m.ids_keep)
    torch.testing.assert_close(sparse, dense, rtol=1e-10, atol=1e-10)
    g = torch.randn_like(dense)
    want = torch.autograd.grad((dense * g).sum(), list(stem.parameters()))
    got = torch.autograd.grad((sparse * g).sum(), list(stem.parameters()))
    for (name, _), a, b in zip(stem.named_parameters(), got, want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=name)


def test_pretraining_with_own_patch_stems_runs_and_refuses_an_unknown_context() -> None:
    from omnivec.api.pretrain import MaskedAutoencoder, PretrainConfig
    from omnivec.errors import OmnivecError

    mae = MaskedAutoencoder(tiny_cnn_model(), PretrainConfig(stem_context="own"))
    loss, _ = mae.loss("image", EncoderInput(torch.rand(2, 3, 32, 32)), 0.75)
    loss.backward()
    assert torch.isfinite(loss)
    assert mae.omni.encoder("image").stem.stages[0].weight.grad is not None
    with pytest.raises(OmnivecError, match="stem context 'near'"):
        MaskedAutoencoder(tiny_cnn_model(), PretrainConfig(stem_context="near"))


def test_audio_kept_tokens_never_see_hidden_frames() -> None:
    model = tiny_cnn_model()
    enc = model.encoder("audio")
    waves = [torch.randn(8000) * 0.1, torch.randn(6000) * 0.1]
    inp = enc.collate(waves)
    spec, _ = enc.spectrogram(inp)
    torch.manual_seed(5)
    m, grid, pad = enc.masked_tokens(inp, 0.5)
    assert pad is not None and bool(pad[1].any())  # the shorter clip is padded
    # the same masked encoding, on a spectrogram whose hidden (and padded) frames are rewritten
    hidden = hidden_pixels(m.mask, grid, enc.patch)
    noisy = torch.where(hidden, torch.randn_like(spec) * 4, spec)
    keep = (~m.mask).view(-1, *grid)
    a = enc._tokens(enc._embed(spec, keep), enc.valid_patches(inp.lengths)).x
    b = enc._tokens(enc._embed(noisy, keep), enc.valid_patches(inp.lengths)).x
    idx = m.ids_keep[..., None].expand(-1, -1, a.shape[-1])
    assert torch.equal(a.gather(1, idx), b.gather(1, idx))
    # masked_tokens computes the stem at the kept slots only: the dense pass's tokens there (a spare slot of the
    # shorter clip included)
    assert m.kept_pad is not None and bool(m.kept_pad[1].any())
    torch.testing.assert_close(m.kept, a.gather(1, idx), rtol=1e-5, atol=1e-5)


def nf_image_encoder() -> object:
    """The UnIVAL preset's image tokenizer: a cnn stem without per-position norms (stem_norm none)."""
    from omnivec.families.unival.config import unival_preset

    cfg = unival_preset("tiny").model.backbone
    assert cfg.encoders["image"].stem_norm == "none"
    return OmniModel(cfg).encoder("image").eval()


def test_unnormed_stem_stays_leak_free_under_masking() -> None:
    enc = nf_image_encoder()
    x = torch.rand(2, 1, 32, 32)
    torch.manual_seed(3)
    m, grid, _ = enc.masked_tokens(EncoderInput(x), 0.6)  # type: ignore[attr-defined]
    hidden = hidden_pixels(m.mask, grid, enc.patch).expand_as(x)  # type: ignore[attr-defined]
    noisy = torch.where(hidden, torch.rand_like(x) * 5, x)
    torch.manual_seed(3)
    m2, _, _ = enc.masked_tokens(EncoderInput(noisy), 0.6)  # type: ignore[attr-defined]
    assert torch.equal(m.ids_keep, m2.ids_keep)
    assert torch.equal(m.kept, m2.kept)


@pytest.mark.parametrize("norm", ["layer", "none"])
def test_faint_responses_stay_faint_only_without_a_per_position_norm(norm: str) -> None:
    """One bright blob and one 1 %-contrast blob on a flat canvas: the per-position LayerNorm raises the faint
    blob's features to the bright one's size (why the UnIVAL preset drops it); without it they stay ~100x apart."""
    torch.manual_seed(0)
    stem = ConvStem(1, 16, (8, 8), 8, norm=norm)
    x = torch.zeros(1, 1, 32, 32)
    x[..., 4:12, 4:12] = 1.0
    x[..., 20:28, 20:28] = 0.01
    _, skips = stem(x)
    first = skips[0][0].norm(dim=0)  # the first stage's feature size at each pixel
    bright, faint = first[4:12, 4:12].max(), first[20:28, 20:28].max()
    if norm == "layer":
        assert faint > 0.5 * bright
    else:
        assert faint < 0.05 * bright
        assert not any("norm" in n for n, _ in stem.named_parameters())


def test_unknown_stem_norm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stem norm"):
        ConvStem(1, 16, (8, 8), 8, norm="batch")


def test_padded_audio_batch_gives_each_clip_its_own_tokens() -> None:
    model = tiny_cnn_model()
    clips = [torch.randn(8000) * 0.1, torch.randn(4000) * 0.1]
    batch = model.encode("audio", model.collate("audio", clips))
    for i, clip in enumerate(clips):
        alone = model.encode("audio", model.collate("audio", [clip]))
        n = alone.x.shape[1] if alone.pad_mask is None else int((~alone.pad_mask[0]).sum())
        torch.testing.assert_close(batch.x[i, :n], alone.x[0, :n], rtol=1e-5, atol=1e-5)
        assert batch.pad_mask is not None
        assert not batch.pad_mask[i, :n].any() and batch.pad_mask[i, n:].all()


@pytest.mark.parametrize(("patch", "entry"), [((8, 8), ()), ((8, 8), (2, 2)), ((4, 8, 8), (1, 2, 2))])
def test_gray_input_equals_its_channels_repeated(patch: tuple[int, ...], entry: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    stem = ConvStem(3, 32, patch, 8, entry)
    x = torch.rand(2, 1, *[4 * p for p in patch])
    a, skips_a = stem(x)
    b, skips_b = stem(x.expand(-1, 3, *x.shape[2:]))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert [s.shape for s in skips_a] == [s.shape for s in skips_b]
    assert a.shape[2:] == (4,) * len(patch)


def test_odd_image_sizes_are_padded_to_whole_tokens_and_segmentation_crops_back() -> None:
    model = tiny_cnn_model()
    model.add_task(TaskConfig("seg", "segmentation", "image", num_classes=3))
    x = torch.rand(2, 1, 28, 30)
    tokens = model.encode("image", EncoderInput(x))
    assert tokens.grid == (4, 4) and tokens.size == (28, 30)  # 28 -> 32 and 30 -> 32, edge values
    out = model("seg", EncoderInput(x))
    assert out.logits.shape == (2, 3, 28, 30)


def test_segmentation_head_reads_the_stem_skips() -> None:
    """Changing a skip map must change the logits (the head decodes from it), not only the trunk tokens."""
    model = tiny_cnn_model()
    model.add_task(TaskConfig("seg", "segmentation", "image", num_classes=3))
    x = torch.rand(1, 3, 32, 32)
    feats = model.forward_features("image", EncoderInput(x))
    head = model.heads["seg"]
    a = head(feats, model.pool(feats)).logits
    skips = (feats.skips[0], feats.skips[1] + 1.0, *feats.skips[2:])
    b = head(feats._replace(skips=skips), model.pool(feats)).logits
    assert not torch.allclose(a, b)
