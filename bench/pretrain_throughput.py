"""One masked-pretraining step (forward + backward + AdamW) of our ``small`` trunk on images vs Hugging Face
``ViTMAEForPreTraining`` at the same width/depth/heads/token count/mask ratio/decoder, timed side by side
(alternating, median) in one run; FLOPs of our step counted with ``torch.utils.flop_counter`` and shown as a
share of this machine's fp32 matmul peak measured in the same run. Then the mixed-modality step: per-modality
sub-batches (what ``pretrain`` does) vs one padded batch vs one packed sequence with block-diagonal attention.

    PYTHONPATH=src python bench/pretrain_throughput.py [--batch 32] [--image 32] [--reps 7]

transformers is imported here only (benchmark dependency)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from omnivec.api.pretrain import MaskedAutoencoder, PretrainConfig
from omnivec.config import TrainConfig, preset
from omnivec.nn.masking import random_masking
from omnivec.nn.model import OmniModel
from omnivec.training.optim import make_optimizer


def matmul_peak(n: int = 1024, reps: int = 20) -> tuple[float, float]:
    """(best, median) fp32 GFLOP/s of an n^3 matmul: the best is the turbo peak, the median what a sustained
    run sees (the steps below are medians too)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t)
    return 2 * n**3 / min(ts), 2 * n**3 / statistics.median(ts)


def step_fn(model: torch.nn.Module, loss_fn: Callable[[], torch.Tensor], fused: bool = True) -> Callable[[], None]:
    """forward + backward + optimizer step. Both sides get fused AdamW: ours because the engine builds it
    (``make_optimizer``), HF's because its Trainer defaults to ``adamw_torch_fused`` on torch >= 2.8."""
    if isinstance(model, MaskedAutoencoder):
        opt = make_optimizer(model, TrainConfig(lr=1e-4))
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)

    def step() -> None:
        loss = loss_fn()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def alternate(fns: dict[str, Callable[[], None]], reps: int) -> dict[str, float]:
    for f in fns.values():
        f()
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def count_flops(fn: Callable[[], None]) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image", type=int, default=32)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--ratio", type=float, default=0.75)
    a = ap.parse_args()
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    torch.manual_seed(0)
    cfg = preset("small").model
    cfg.encoders = {
        "image": cfg.encoders["image"],
        "audio": cfg.encoders["audio"],
        "points": cfg.encoders["points"],
        "text": cfg.encoders["text"],
    }
    D, depth, heads, p = cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.encoders["image"].patch_size
    import copy

    img_cfg = copy.deepcopy(cfg)
    img_cfg.encoders = {"image": cfg.encoders["image"]}  # image only, like ViTMAE: same parameters to update
    lin_cfg = copy.deepcopy(img_cfg)
    lin_cfg.encoders["image"].stem = "linear"  # ViTMAE's patch embedding: one linear map per patch
    pcfg = PretrainConfig(mask_ratio={"image": a.ratio})
    mae = MaskedAutoencoder(OmniModel(img_cfg), pcfg)
    mae_lin = MaskedAutoencoder(OmniModel(lin_cfg), pcfg)
    ours = OmniModel(cfg)  # all four modalities, for the mixed step below
    dd = mae.decoder.embed.out_features
    hf_cfg = ViTMAEConfig(
        hidden_size=D,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        intermediate_size=int(D * cfg.mlp_ratio),
        image_size=a.image,
        patch_size=p,
        num_channels=3,
        mask_ratio=a.ratio,
        decoder_hidden_size=dd,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=max(1, dd // 32),
        decoder_intermediate_size=4 * dd,
        norm_pix_loss=True,
        attn_implementation="sdpa",
    )
    hf = ViTMAEForPreTraining(hf_cfg)
    x = torch.rand(a.batch, 3, a.image, a.image)
    inp = mae.omni.collate("image", list(x))
    N = (a.image // p) ** 2
    steps = {
        "omnivec (cnn stem, default)": step_fn(mae, lambda: mae.loss("image", inp, a.ratio)[0]),
        "omnivec (linear stem)": step_fn(mae_lin, lambda: mae_lin.loss("image", inp, a.ratio)[0]),
        "hf vitmae": step_fn(hf, lambda: hf(pixel_values=x).loss),
    }
    peak_best, peak_med = matmul_peak()
    med = alternate(steps, a.reps)
    flops = {k: count_flops(f) for k, f in steps.items()}
    print(
        f"threads {torch.get_num_threads()}; batch {a.batch}, {N} tokens, mask {a.ratio}, "
        f"D={D} depth={depth} heads={heads}, decoder {dd}x1; fused AdamW on both sides"
    )
    print(f"fp32 matmul peak (1024^3, 20 reps): best {peak_best / 1e9:.1f}, median {peak_med / 1e9:.1f} GFLOP/s")
    for k, t in med.items():
        rate = flops[k] / t
        print(
            f"{k:30s} {t * 1e3:7.1f} ms  {flops[k] / 1e9:5.2f} GFLOP  {rate / 1e9:6.1f} GFLOP/s = "
            f"{100 * rate / peak_best:.0f}% of best peak, {100 * rate / peak_med:.0f}% of median peak"
        )
    hf_t = med["hf vitmae"]
    for k in list(med)[:2]:
        print(f"speed ratio (HF time / {k}): {hf_t / med[k]:.2f}x")
    n_ours = sum(p.numel() for p in mae.parameters())
    n_hf = sum(p.numel() for p in hf.parameters())
    print(f"parameters: omnivec {n_ours / 1e6:.2f}M, hf {n_hf / 1e6:.2f}M")

    # ---- mixed-modality step: the trunk over visible tokens of four modalities
    g = torch.Generator().manual_seed(0)
    b = max(4, a.batch // 4)
    samples = {
        "image": list(torch.rand(b, 3, a.image, a.image, generator=g)),
        "audio": [torch.randn(int(8000 * (0.5 + 0.5 * i / b)), generator=g) for i in range(b)],
        "points": list(torch.randn(b, 1024, 3, generator=g)),
    }
    from omnivec.nn.tokenizer import TextTokenizer

    texts = [" ".join(["token"] * (4 + 3 * i)) for i in range(b)]
    ours.set_tokenizer(TextTokenizer.train([*texts, "a b c d e f g"], 300))
    samples["text"] = texts
    ratios = {"image": 0.75, "audio": 0.8, "points": 0.6, "text": 0.15}
    vis = {}
    with torch.no_grad():
        for m, s in samples.items():
            t = ours.encode(m, ours.collate(m, s))
            mk = random_masking(t.x, ratios[m], t.pad_mask, generator=g)
            vis[m] = (mk.kept.detach(), mk.kept_pad)
    trunk = ours.trunk
    opt = torch.optim.AdamW(trunk.parameters(), lr=1e-4, fused=True)

    def run(loss_fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def f() -> None:
            loss_fn().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return f

    def per_modality() -> torch.Tensor:
        return sum(trunk(xv, pv).pow(2).mean() for xv, pv in vis.values())  # type: ignore[return-value]

    L = max(v[0].shape[1] for v in vis.values())
    xs, pads = [], []
    for xv, pv in vis.values():
        pad = pv if pv is not None else torch.zeros(xv.shape[:2], dtype=torch.bool)
        xs.append(torch.nn.functional.pad(xv, (0, 0, 0, L - xv.shape[1])))
        pads.append(torch.nn.functional.pad(pad, (0, L - xv.shape[1]), value=True))
    xp, pp = torch.cat(xs), torch.cat(pads)

    def padded() -> torch.Tensor:
        return trunk(xp, pp).pow(2).mean()

    # packed: every sample's valid tokens back to back in one sequence, attention block-diagonal per sample
    segs, seg_id = [], []
    for xv, pv in vis.values():
        for i in range(xv.shape[0]):
            keep = xv[i] if pv is None else xv[i][~pv[i]]
            segs.append(keep)
            seg_id.append(torch.full((keep.shape[0],), len(segs)))
    xk = torch.cat(segs)[None]
    sid = torch.cat(seg_id)
    block = (sid[:, None] == sid[None, :])[None, None]

    def packed() -> torch.Tensor:
        h = xk
        for blk in trunk.blocks:
            h = blk(h, block)
        return trunk.norm(h).pow(2).mean()

    med2 = alternate({"per_modality": run(per_modality), "padded": run(padded), "packed": run(packed)}, a.reps)
    tok_real = int(xk.shape[1])
    print(
        f"mixed step (trunk fwd+bwd+AdamW; {b} samples each of image/audio/points/text, {tok_real} visible "
        f"tokens; padded batch {xp.shape[0]}x{L} = {xp.shape[0] * L} slots; packed 1x{tok_real}):"
    )
    for k, v in med2.items():
        print(f"  {k:13s} {v * 1e3:8.1f} ms")
    print(
        f"ratio padded / per-modality: {med2['padded'] / med2['per_modality']:.2f}x; "
        f"packed / per-modality: {med2['packed'] / med2['per_modality']:.2f}x"
    )


if __name__ == "__main__":
    main()
