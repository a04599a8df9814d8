"""Masked pretraining (OmniVec arXiv 2311.05709 §3.2, stage 1): every modality's tokens are masked at
random, the
shared trunk sees only the visible ones, and a light shared decoder reconstructs the hidden targets:

- image, video, audio spectrogram: normalised patch values, MSE (MAE arXiv 2111.06377; VideoMAE; AudioMAE);
- points: each hidden group's neighbourhood, Chamfer distance (Point-MAE arXiv 2203.06604);
- text: the hidden token ids, cross-entropy (masked-token prediction, BERT arXiv 1810.04805).

or, with ``objective="latent"`` (data2vec 2.0, arXiv 2212.07525), the same masking and decoder predict a
*teacher's* features of the hidden tokens instead: the teacher is an exponential moving average of the model
(encoders + trunk) that sees the whole, unmasked input; its target is the average of its blocks' outputs, each
layer-normalised, layer-normalised again; the loss is MSE on the hidden tokens. Several masks of one batch share
one teacher pass (``num_masks``, data2vec 2.0's multi-mask). docs/recipe.md says which pays at this compute.

Data: the training splits of the given tasks, labels dropped: catalogue tasks, or the user's own folders of
files of any modality, flat or in class subfolders (``omnivec pretrain --train DIR``,
:func:`omnivec.api.user_data.add_pretraining_data`). One stream per task; with
``task_schedule=mixed``
every optimizer step takes a sub-batch from every stream and runs them through the same trunk one
modality after
another before one backward (per-modality sub-batches; docs/recipe.md and bench/pretrain_throughput.py
compare this
with packing). ``round_robin`` takes one stream per step (the "no modality mixing" ablation).

The run folder is an ordinary run folder (config.yaml, model.safetensors without heads, tokenizer.json) that
``finetune`` starts from, plus ``decoder.safetensors`` and ``pretrain.yaml`` for ``--resume``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.api.train import PreparedTask, check_resumed_classes, make_schedule, prepare_tasks, train_tokenizer
from omnivec.config import RunConfig, load_yaml, save_yaml
from omnivec.errors import OmnivecError
from omnivec.nn.heads.reconstruct import ReconstructionDecoder
from omnivec.nn.masking import Masked
from omnivec.nn.model import OmniModel
from omnivec.nn.vectorizer import masked_mean
from omnivec.runs import load_run, save_run
from omnivec.tasks import task_kind
from omnivec.training import checkpoint as ckpt
from omnivec.training.engine import DistInfo, Engine, read_log
from omnivec.training.objective import Objective
from omnivec.training.runner import Job, StreamSpec, elastic_restart, run_job, same_tokenizer
from omnivec.training.warm_start import adopt, copy_matching, new_model
from omnivec.types import EncoderInput, Tokens

DECODER_WEIGHTS = "decoder.safetensors"
TEACHER_WEIGHTS = "teacher.safetensors"
OBJECTIVES = ("pixels", "latent")
STEM_CONTEXTS = ("visible", "own")
PRETRAIN_CONFIG = "pretrain.yaml"


@dataclass
class PretrainConfig:
    """Masking and decoder settings of masked pretraining."""

    mask_ratio: dict[str, float] = field(default_factory=dict)
    """Share of each modality's tokens hidden from the trunk; a modality not named here uses its encoder's
    ``default_mask_ratio`` (image 0.75 as MAE, video 0.9 as VideoMAE, audio 0.8 as AudioMAE, points 0.6 as
    Point-MAE, text 0.4: more than BERT's 0.15, which measured a weaker probe here, docs/recipe.md)."""
    decoder_dim: int = 0
    """Width of the shared decoder; 0 uses half the trunk width (at least 32)."""
    decoder_depth: int = 1
    """Transformer blocks in the shared decoder."""
    norm_targets: bool = True
    """Normalise each patch target by its own mean and variance (MAE's norm_pix_loss)."""
    objective: str = "pixels"
    """pixels: reconstruct each modality's input (MAE family); latent: predict an EMA teacher's features of the
    hidden tokens (data2vec 2.0)."""
    teacher_decay: float = 0.998
    """latent: the teacher's EMA decay at step 0; it rises to ``teacher_decay_end`` along a cosine (BYOL)."""
    teacher_decay_end: float = 0.9999
    """latent: the teacher's EMA decay at the last step."""
    target_layers: int = 0
    """latent: average the outputs of the teacher's top N blocks (0: all of them)."""
    global_weight: float = 0.0
    """latent: weight of a global term: the model's pooled vector of the *visible* tokens (a linear predictor on
    the vectorizer's output) regresses the teacher's mean target over the whole input (data2vec 2.0's cls loss)."""
    num_masks: int = 1
    """Masks drawn per sample per step (the batch is repeated); with ``latent`` the teacher runs once for all of
    them (data2vec 2.0 uses 8-16)."""
    stem_context: str = "visible"
    """cnn stems of images and video: ``visible`` masks every stage, so a kept token also reads its kept
    neighbours (the exact sparse convolution over the visible pixels, SparK, computed at the kept tokens only);
    ``own`` embeds each kept patch alone, its neighbours read as hidden (docs/recipe.md measures both)."""

    def ratio(self, modality: str) -> float:
        from omnivec.nn.encoders.base import default_mask_ratio

        return self.mask_ratio.get(modality, default_mask_ratio(modality))


class MaskedAutoencoder(nn.Module):
    """The unified model plus the reconstruction decoder: what the optimizer updates during pretraining."""

    def __init__(self, omni: OmniModel, pcfg: PretrainConfig) -> None:
        super().__init__()
        if pcfg.objective not in OBJECTIVES:
            raise OmnivecError(f"pretraining objective {pcfg.objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if pcfg.stem_context not in STEM_CONTEXTS:
            raise OmnivecError(f"stem context {pcfg.stem_context!r}: expected one of {', '.join(STEM_CONTEXTS)}")
        self.omni = omni
        self.pcfg = pcfg
        D = omni.cfg.embed_dim
        dd = pcfg.decoder_dim or max(32, D // 2)
        heads = max(1, dd // 32)
        latent = pcfg.objective == "latent"
        dims = {m: D if latent else omni.encoder(m).target_dim() for m in omni.encoders}
        self.decoder = ReconstructionDecoder(D, dims, dd, pcfg.decoder_depth, heads)
        self.teacher: OmniModel | None = None
        if latent:  # not a parameter of the optimizer: it follows the model by EMA (update_teacher)
            self.teacher = copy.deepcopy(omni).requires_grad_(False).eval()
        self.global_head = nn.Linear(D, D) if latent and pcfg.global_weight > 0 else None

    def train(self, mode: bool = True) -> MaskedAutoencoder:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # the teacher's targets never see dropout or stochastic depth
        return self

    def teacher_decay(self, step: int, total: int) -> float:
        """The EMA decay after optimizer step ``step`` of ``total``: from ``teacher_decay`` up to
        ``teacher_decay_end`` along a half cosine."""
        p = self.pcfg
        t = min(1.0, step / max(1, total))
        return p.teacher_decay_end - (p.teacher_decay_end - p.teacher_decay) * (math.cos(math.pi * t) + 1) / 2

    @torch.no_grad()
    def update_teacher(self, step: int, total: int) -> None:
        """teacher <- decay * teacher + (1 - decay) * model, for every parameter."""
        if self.teacher is None:
            return
        decay = self.teacher_decay(step, total)
        student = dict(self.omni.named_parameters())
        for name, t in self.teacher.named_parameters():
            t.lerp_(student[name].detach(), 1.0 - decay)

    @torch.no_grad()
    def teacher_targets(self, modality: str, inp: EncoderInput) -> tuple[Tensor, Tensor | None]:
        """(B, N, D) targets and their padding mask: the average of the teacher's top blocks on the *whole* input,
        each block's output layer-normalised, and the average layer-normalised again (data2vec's targets; a
        per-token norm, not data2vec 2.0's instance norm over the sequence, so padding cannot move the
        statistics)."""
        assert self.teacher is not None
        t = self.teacher
        x, pad = t.with_prefix(modality, t.encode(modality, inp))
        layers = t.trunk.forward_layers(x, pad)
        top = layers[-self.pcfg.target_layers :] if self.pcfg.target_layers else layers
        P = t.num_prefix
        y = torch.stack([F.layer_norm(h[:, P:].float(), h.shape[-1:]) for h in top]).mean(0)
        return F.layer_norm(y, y.shape[-1:]), None if pad is None else pad[:, P:]

    def mask(self, modality: str, inp: EncoderInput, ratio: float) -> tuple[Masked, tuple[int, ...], Tensor | None]:
        """The kept tokens (modality embedding added), the token grid and the input's padding mask; the encoder
        decides how to compute kept tokens without leaking hidden ones (:meth:`Encoder.masked_tokens`)."""
        own = self.pcfg.stem_context == "own"
        m, grid, pad = self.omni.encoder(modality).masked_tokens(inp, ratio, own_patch=own)
        return m._replace(kept=m.kept + self.omni.modality_embed[modality]), grid, pad

    def loss(self, modality: str, inp: EncoderInput, ratio: float) -> tuple[Tensor, dict[str, float]]:
        omni = self.omni
        target, target_pad = self.teacher_targets(modality, inp) if self.teacher is not None else (None, None)
        if (M := self.pcfg.num_masks) > 1:  # M masks of every sample: the batch repeated, each copy masked anew
            lengths = None if inp.lengths is None else inp.lengths.repeat_interleave(M, 0)
            inp = EncoderInput(inp.data.repeat_interleave(M, 0), lengths)
            target = None if target is None else target.repeat_interleave(M, 0)
            target_pad = None if target_pad is None else target_pad.repeat_interleave(M, 0)
        m, grid, pad = self.mask(modality, inp, ratio)
        feats = omni.forward_tokens(modality, Tokens(m.kept, m.kept_pad, grid))
        visible = feats.data_tokens
        enc = omni.encoder(modality)  # the encoder owns its targets, positions and loss
        pos, context = enc.decoder_positions(inp, grid, m.mask.shape[1])
        pred = self.decoder(modality, visible, m.ids_restore, m.mask, pos, pad)  # (B, N, P)
        if target is None:
            return enc.reconstruction_loss(pred, inp, m.target, context, self.pcfg.norm_targets)
        mse = (pred.float() - target).pow(2).mean(-1)  # (B, N)
        loss = (mse * m.target).sum() / m.target.sum().clamp(min=1)
        report = {"loss": float(loss.detach())}
        if self.global_head is not None:  # the pooled visible tokens predict the whole input's mean target
            want = F.layer_norm(masked_mean(target, target_pad), target.shape[-1:])  # (B, D)
            glob = (self.global_head(omni.pool(feats)).float() - want).pow(2).mean()
            loss = loss + self.pcfg.global_weight * glob
            report["global"] = float(glob.detach())
        return loss, report


class PretrainObjective(Objective):
    """Engine objective: each stream's batch (one modality) -> its masked-reconstruction loss; summed (the
    supervised objective's ``forward``, :class:`omnivec.training.objective.Objective`)."""

    model: MaskedAutoencoder

    def __init__(self, mae: MaskedAutoencoder, modalities: dict[str, str]) -> None:
        super().__init__(mae)
        self.modalities = modalities

    def after_step(self, step: int, total: int) -> None:
        """Called by the engine after each optimizer step: the latent objective's teacher follows the model."""
        self.model.update_teacher(step, total)

    def stream_loss(self, name: str, batch: EncoderInput) -> tuple[Tensor, dict[str, float], float]:
        mod = self.modalities[name]
        loss, report = self.model.loss(mod, batch, self.model.pcfg.ratio(mod))
        return loss, report, 1.0


def pretrain_tasks(tasks: dict[str, PreparedTask]) -> dict[str, PreparedTask]:
    """Tasks whose samples are single-modality inputs (paired ones, retrieval's, are left to fine-tuning)."""
    return {n: p for n, p in tasks.items() if not task_kind(p.cfg.kind).paired}


def pretrain_streams(model: OmniModel, tasks: dict[str, PreparedTask]) -> dict[str, StreamSpec]:
    """Each task's training split as inputs of its modality alone (the labels are dropped)."""

    def collate_for(mod: str) -> Any:
        return lambda items: model.collate(mod, [s for s, _ in items])

    return {name: StreamSpec(p.splits.train, collate_for(p.cfg.modality)) for name, p in tasks.items()}


def skipped_files(engine: Engine) -> int:
    """Unreadable files skipped so far (each once), as ``skipped.jsonl`` lists them."""
    return len({r.get("path") for r in read_log(engine.skip_log)})


def save_pretrained(mae: MaskedAutoencoder, run_cfg: RunConfig, pcfg: PretrainConfig, out: Path) -> None:
    save_run(mae.omni, run_cfg, out)
    ckpt.save_weights(mae.decoder.state_dict(), out / DECODER_WEIGHTS)
    if mae.teacher is not None:
        ckpt.save_weights(mae.teacher.state_dict(), out / TEACHER_WEIGHTS)
    save_yaml(pcfg, out / PRETRAIN_CONFIG)


def pretrain(
    run_cfg: RunConfig,
    out: str | Path,
    pcfg: PretrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    device: str = "auto",
    init: str | Path | None = None,
    probe: bool = True,
) -> dict[str, Any]:
    """Masked pretraining on the training splits of ``run_cfg.tasks`` (labels unused; the user's folders are
    tasks of ``run_cfg.byo``) into the run folder ``out``; returns the last logged losses and the number of
    unreadable files skipped. ``device``: see :func:`omnivec.training.runner.run_job`. ``init``: continue
    from this run folder's or Hugging Face folder's encoders, trunk and tokenizer (:mod:`omnivec.training.warm_start`);
    the reconstruction decoder starts fresh. ``probe``: at the end, the linear-probe and k-NN accuracy of the
    frozen features on every labelled classification task, beside random weights (:mod:`omnivec.api.probe`), in the
    results under ``"probe"``."""
    out = Path(out)
    resume = resume or elastic_restart(out)  # torchrun --max-restarts relaunched the fresh command
    if not resume and not run_cfg.tasks:
        raise OmnivecError("pretrain: no data given; pass --tasks NAME[,NAME...] and/or --train DIR")
    source = None if resume else adopt(init, run_cfg)

    def build(info: DistInfo) -> Job:
        if resume:
            omni, cfg = load_run(out)
            cfg.train.max_steps = max(cfg.train.max_steps, run_cfg.train.max_steps)
            masking = load_yaml(PretrainConfig, out / PRETRAIN_CONFIG)
            prepared = prepare_tasks(cfg, cfg.tasks)
            check_resumed_classes(out, omni, cfg, prepared)
            tasks = pretrain_tasks(prepared)
            mae = MaskedAutoencoder(omni, masking)
            ckpt.load_into(mae.decoder, out / DECODER_WEIGHTS)
            if mae.teacher is not None:
                ckpt.load_into(mae.teacher, out / TEACHER_WEIGHTS)
        else:
            cfg, masking = run_cfg, pcfg or PretrainConfig()
            tasks = pretrain_tasks(prepare_tasks(cfg, cfg.tasks))
            if not tasks:
                raise OmnivecError("pretrain: none of the given tasks has single-modality samples")
            cfg.model.tasks = []
            omni = new_model(cfg.model, source, lambda: same_tokenizer(train_tokenizer(cfg, tasks), info))
            if source is not None:
                print(copy_matching(omni, source, str(init)).summary())
            mae = MaskedAutoencoder(omni, masking)

        def summary(engine: Engine) -> dict[str, Any]:
            log = read_log(engine.log_path)
            first, last = (log[0], log[-1]) if log else ({}, {})
            out = {"steps": engine.state.step, "first": first, "last": last, "skipped": skipped_files(engine)}
            if probe:  # did it learn anything? frozen features beside random weights (omnivec.api.probe)
                from omnivec.api.probe import probe_report

                out["probe"] = probe_report(mae.omni, tasks, seed=cfg.train.seed)
                if masking.objective == "pixels":  # inputs, masked inputs and their reconstructions
                    from omnivec.api.recon_figure import FIGURE, write_figure

                    write_figure(mae, tasks, engine.run_dir / FIGURE)
            return out

        return Job(
            PretrainObjective(mae, {n: p.cfg.modality for n, p in tasks.items()}),
            pretrain_streams(omni, tasks),
            cfg.train,
            make_schedule(list(tasks), cfg.train.task_schedule),
            save=lambda d: save_pretrained(mae, cfg, masking, d),
            evaluate=summary,
            title="masked pretraining loss",
            results_file="pretrain.json",
        )

    seed = None if resume else run_cfg.train.seed
    return run_job(out, build, resume=resume, seed=seed, progress=progress, device=device)


__all__ = ["MaskedAutoencoder", "PretrainConfig", "PretrainObjective", "pretrain"]
