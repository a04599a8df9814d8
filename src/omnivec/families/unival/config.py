"""The UnIVAL run config: the encoder-decoder's sizes (:class:`UnivalModelConfig`), the run around it
(:class:`UnivalRunConfig`, what ``config.yaml`` of a ``family: unival`` run folder holds) and the named presets.
Plain dataclasses, below the model and the tasks that read them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnivec.config import EncoderConfig, ModelConfig, TrainConfig, from_dict, preset_model, preset_train
from omnivec.errors import OmnivecError


@dataclass
class UnivalModelConfig:
    """The encoder-decoder: the shared encoders + trunk (``backbone``) and the text decoder."""

    backbone: ModelConfig = field(default_factory=ModelConfig)
    """Encoders and trunk (tasks unused: UnIVAL has no heads, only the decoder)."""
    decoder_depth: int = 2
    """Decoder blocks."""
    decoder_max_length: int = 32
    """Longest generated answer (tokens, bos included)."""
    num_bins: int = 1000
    """Location tokens <bin_0>…<bin_{N-1}> in the vocabulary."""
    bin_init: str = "random"
    """Location-token embeddings at the start: random (as every token; OFA's) or sincos (bin i as the
    sine-cosine position of coordinate i/(N-1) on the image's token grid, in both halves, at the embeddings'
    scale: neighbouring bins start alike, as the image tokens' positions do; docs/unival.md, "Grounded captioning")."""
    label_smoothing: float = 0.1
    """Label smoothing of the cross-entropy (UnIVAL/OFA use 0.1)."""
    decoder_embed_norm: bool = False
    """Normalise the decoder's token + position embeddings before its first block (BART's
    layernorm_embedding). The decoder's blocks follow the trunk's ``post_norm`` and ``norm_eps``."""


@dataclass
class UnivalRunConfig:
    """Everything a UnIVAL run folder needs (``config.yaml``)."""

    family: str = "unival"
    """The run-folder family: unival, the encoder-decoder (``omnivec.load`` reads it to build the right model;
    run folders written before it was named say ``kind: unival``, which is read the same)."""
    preset: str = "tiny"
    """Size preset the run started from."""
    model: UnivalModelConfig = field(default_factory=UnivalModelConfig)
    """The model."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The optimisation schedule of the last stage."""
    tasks: list[str] = field(default_factory=list)
    """The seq2seq tasks this run was trained on (see omnivec.families.unival.tasks)."""
    data_root: str = ""
    """Where the real datasets live; empty resolves OMNIVEC_DATA / ../shared/data."""
    num_train: int = 2000
    """Training samples per derived task."""
    num_test: int = 200
    """Test samples per derived task."""
    task_batch: dict[str, int] = field(default_factory=dict)
    """Samples per step of these tasks instead of ``train.batch_size`` (e.g. ``{grounding_image: 32}``). Every
    task's loss stays one mean, so a larger batch gives a task steadier steps, not more weight: which digit a
    phrase names is learnt only after several times the samples the other tasks need (docs/unival.md)."""
    stage1_steps: int = 0
    """Curriculum: steps of stage 1 (image-text only) before video-text tasks join; 0 = no curriculum."""
    parent: str = ""
    """The run this one was fine-tuned from (empty: from scratch)."""
    encoder_init: str = ""
    """An OmniVec run folder whose modality encoders start this model's (the rest starts fresh): UnIVAL's
    encoders are pretrained before the multimodal pretraining (ResNet-101 on ImageNet, 3D ResNeXt on
    Kinetics); here e.g. an image classifier trained on the staged MNIST (docs/unival.md, "Encoders")."""
    tsv: dict[str, list[str]] = field(default_factory=dict)
    """UnIVAL TSV files by schema (caption, vqa, refcoco, snli_ve, pretrain): [train] or [train, test];
    their tasks are tsv_<schema> (omnivec.families.unival.tsv_tasks)."""
    manifest: dict[str, list[str]] = field(default_factory=dict)
    """Manifests of the user's own files by kind (caption, vqa, grounding): [train] or [train, val], absolute
    paths; their tasks are manifest_<kind>_<modality> (omnivec.families.unival.manifest_tasks)."""
    image_size: int = 64
    """Images read from TSV rows and manifests are resized to this square side (the derived scenes are 64 x 64)."""
    strict: bool = False
    """Stop at the first unreadable TSV or manifest row, naming file and row, instead of skipping and reporting it."""


def parse_files_flag(flag: str, spec: str, keys: Sequence[str], key: str, second: str) -> tuple[str, list[str]]:
    """``--tsv`` / ``--manifest``: ``"KEY=TRAIN[,SECOND]"`` -> (KEY, [absolute TRAIN path, absolute SECOND path]);
    ``key`` names KEY in the error (SCHEMA, KIND), ``second`` the optional file (TEST, VAL)."""
    from omnivec.config import comma_list
    from omnivec.errors import DataError

    name, sep, paths = spec.partition("=")
    name = name.strip()
    if not sep or name not in keys:
        raise OmnivecError(f"{flag} {spec!r}: expected {key}=TRAIN[,{second}] with {key} one of {', '.join(keys)}")
    files = comma_list(paths)
    if not 1 <= len(files) <= 2:
        raise OmnivecError(f"{flag} {spec!r}: give one training file and at most one {second.lower()} file")
    for f in files:
        if not Path(f).is_file():
            raise DataError(f, "no such file")
    return name, [os.path.abspath(f) for f in files]


def file_read_options(cfg: UnivalModelConfig, modality: str, image_size: int) -> dict[str, Any]:
    """How files of ``modality`` are decoded for a model of ``cfg`` (fields of ``omnivec.data.readers.ReadOptions``):
    its encoder's options (a video encoder's ``num_frames`` and ``frame_size`` among them), images at the run's
    ``image_size``. Training on the user's files and generating for new files read alike (a class-level question:
    no model needed)."""
    from omnivec.nn.encoders import ENCODERS

    spec = cfg.backbone.encoders.get(modality)
    if spec is None:
        raise OmnivecError(f"the model has no {modality} encoder (it has {', '.join(cfg.backbone.encoders)})")
    opts = ENCODERS.get(spec.name).read_options(spec)
    if modality == "image":
        opts["image_size"] = image_size
    return opts


CNN_ENCODERS: dict[str, dict[str, Any]] = {
    "image": {"name": "image_resnet", "in_chans": 1, "width": 16, "stages": 2},
    "video": {"name": "video_conv3d", "in_chans": 1, "width": 8, "stages": 2},
    "audio": {"name": "audio_cnn14", "sample_rate": 8000, "width": 16, "blocks": 3, "max_seconds": 1.5},
}
"""``--cnn``: UnIVAL's lightweight CNN encoders instead of the patch encoders (as a config file gives them: read
with :func:`cnn_encoders`)."""


def cnn_encoders() -> dict[str, EncoderConfig]:
    """The ``--cnn`` encoders' configs."""
    return {m: from_dict(EncoderConfig, spec, f"encoders.{m}") for m, spec in CNN_ENCODERS.items()}


def unival_preset(name: str = "tiny", num_bins: int = 1000) -> UnivalRunConfig:
    """A small encoder-decoder on the preset's sizes; 1-channel inputs (the derived digit data is gray)."""
    backbone = preset_model(name)
    # Convolutional tokenizers, as the OmniVec presets (docs/design.md); over the per-patch hmlp stems this preset
    # had, 400 steps of multitask pretraining: counting 0.68 -> 0.98, video captioning CIDEr-D 1.42 -> 2.37
    # (docs/unival.md, "Encoders"). No translation augmentation: grounding boxes and the captions' positions are in
    # the image's pixels, and a shifted image would move the object under its label. No per-position norm in the
    # stems (stem_norm none): it raised every faint response to full size, and one digit on the canvas took
    # 500 steps to 0.37 against 0.93 without it; in the 7-task mix captioning 1.85 -> 2.60 (docs/unival.md).
    encoders: dict[str, dict[str, Any]] = {
        "image": {
            "name": "image_patch",
            "in_chans": 1,
            "patch_size": 8,
            "stem": "cnn",
            "stem_norm": "none",
            "augment_shift": 0,
        },
        "video": {
            "name": "video_tubelet",
            "in_chans": 1,
            "patch_size": 16,
            "tubelet_size": 2,
            "stem": "cnn",
            "stem_norm": "none",
            "augment_shift": 0,
        },
        "audio": {
            "name": "audio_spectrogram",
            "sample_rate": 8000,
            "max_seconds": 1.5,
            "stem": "linear",
            "patch_freq": 8,
            "patch_time": 4,
        },
        "text": {"name": "text_embedding", "vocab_size": 0, "max_length": 96 if name == "tiny" else 256},
    }
    backbone.encoders = {m: from_dict(EncoderConfig, spec, f"encoders.{m}") for m, spec in encoders.items()}
    backbone.vectorizer = "mean"
    backbone.layer_scale = 0.0
    train = preset_train(name)
    train.task_schedule = "mixed"
    return UnivalRunConfig(preset=name, model=UnivalModelConfig(backbone=backbone, num_bins=num_bins), train=train)
