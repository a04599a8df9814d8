"""What the masked autoencoder sees and what it rebuilds: for a few samples of every image and audio task, the
input, the input with its hidden patches greyed out, and the reconstruction (visible patches kept, hidden ones
predicted), as MAE's Figure 2 shows them. Written as ``reconstructions.png`` at the end of a pixel-target
pretraining; a blur where digits should be is the first sign the decoder learnt only the patch mean.

With per-patch normalised targets (MAE's norm_pix_loss) a prediction has no mean or scale of its own; it is shown
with the true patch's mean and standard deviation, as MAE's visualisation does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from omnivec.nn.layers.patch import unpatchify
from omnivec.types import Tokens

FIGURE = "reconstructions.png"
SHOWN = ("image", "audio")
"""Modalities whose patch targets are pictures (an image's pixels, a spectrogram's log-mel values)."""


@torch.no_grad()
def reconstructions(mae: Any, modality: str, samples: list[Any], seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """(input, masked input, reconstruction), each (B, C, *S), for raw ``samples`` of ``modality``."""
    omni = mae.omni
    enc = omni.encoder(modality)
    was = mae.training
    mae.eval()
    try:
        inp = omni.collate(modality, samples)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            m, grid, pad = mae.mask(modality, inp, mae.pcfg.ratio(modality))
        feats = omni.forward_tokens(modality, Tokens(m.kept, m.kept_pad, grid))
        pos, _ = enc.decoder_positions(inp, grid, m.mask.shape[1])
        pred = mae.decoder(modality, feats.data_tokens, m.ids_restore, m.mask, pos, pad).float()  # (B, N, P)
    finally:
        mae.train(was)
    target = enc.patch_targets(inp).float()  # (B, N, P)
    if mae.pcfg.norm_targets:
        mean, std = target.mean(-1, keepdim=True), (target.var(-1, keepdim=True) + 1e-6).sqrt()
        pred = pred * std + mean
    hidden = m.mask[..., None]  # (B, N, 1)
    patch = tuple(enc.patch)
    C = target.shape[-1] // int(torch.tensor(patch).prod())
    low = target.amin()
    pictures = (target, torch.where(hidden, low, target), torch.where(hidden, pred, target))
    return tuple(unpatchify(t, patch, grid, C) for t in pictures)  # type: ignore[return-value]


def write_figure(mae: Any, tasks: dict[str, Any], path: Path, per_task: int = 4) -> Path | None:
    """One row of (input | masked | reconstruction) triples per image/audio task; None when there is none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for name, p in tasks.items():
        if str(p.cfg.modality) not in SHOWN or p.cfg.modality not in mae.omni.encoders:
            continue
        samples = [p.splits.train[i][0] for i in range(min(per_task, len(p.splits.train)))]
        rows.append((name, reconstructions(mae, str(p.cfg.modality), samples)))
    if not rows:
        return None
    fig, axes = plt.subplots(len(rows), 3 * per_task, figsize=(1.2 * 3 * per_task, 1.4 * len(rows)), squeeze=False)
    for r, (name, (orig, masked, recon)) in enumerate(rows):
        for i in range(per_task):
            for j, (title, x) in enumerate((("input", orig), ("masked", masked), ("rebuilt", recon))):
                ax = axes[r][3 * i + j]
                ax.axis("off")
                if i >= x.shape[0]:
                    continue
                img = x[i].float()
                img = img.mean(0) if img.shape[0] != 3 else img.permute(1, 2, 0)
                lo, hi = float(orig[i].amin()), float(orig[i].amax())
                ax.imshow(((img - lo) / max(hi - lo, 1e-6)).clamp(0, 1).numpy(), cmap="gray", aspect="auto")
                if r == 0:
                    ax.set_title(title, fontsize=7)
        axes[r][0].text(-0.1, 0.5, name, transform=axes[r][0].transAxes, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


__all__ = ["FIGURE", "reconstructions", "write_figure"]
