"""Dataclass configs, named presets and their YAML round trip.

Configs hold only serialisable values. Each field carries a docstring (the string literal under it); `field_docs`
reads them back so the CLI can print what every knob means. A run folder saves the resolved config, so evaluate,
embed, merge and generate rebuild the model from the folder alone.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import itertools
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from omnivec.config.encoder import EncoderConfig
from omnivec.config.safe_yaml import MAX_YAML_BYTES, safe_yaml
from omnivec.config.serial import from_dict, to_dict
from omnivec.errors import OmnivecError

T = TypeVar("T")

PRESETS = ("tiny", "cpu", "small", "base")
"""tiny: seconds, for tests; cpu: the default -- the quickstart's model, good on a laptop CPU in minutes;
small/base: wider and deeper, for GPUs."""


@dataclass
class TaskConfig:
    """One task: a dataset seen through one modality, a head kind, and its loss weight."""

    name: str
    """Unique task name; keys the head and the metrics."""
    kind: str
    """Head/task kind: classification, segmentation or retrieval."""
    modality: str
    """Input modality (image, video, audio, text, points); retrieval uses `modality` and `pair_modality`."""
    dataset: str = ""
    """Data source name in the dataset catalogue (e.g. synthetic/shapes, mnist) or a bring-your-own path."""
    num_classes: int = 0
    """Number of classes (classification, segmentation); 0 for retrieval."""
    class_names: list[str] = field(default_factory=list)
    """Names of the classes, so predictions come back as names."""
    group: str = "simple"
    """Task group for the grouped schedule (OmniVec): simple (global) or dense (per-token)."""
    loss_weight: float = 1.0
    """Weight of this task's loss when tasks share an optimizer step."""
    pair_modality: str = ""
    """Retrieval only: the second modality of each pair."""
    input_shape: list[int] = field(default_factory=list)
    """Shape of one training sample, e.g. [C, H, W] (image) or [C, T, H, W] (video); files given to
    ``predict`` are resized to it. Empty when samples vary in size (audio, text) or the run predates it."""


@dataclass
class ModelConfig:
    """The unified model: encoders -> one shared width -> trunk -> vectorizer -> heads."""

    embed_dim: int = 192
    """Width D of the shared token space and of the trunk."""
    depth: int = 6
    """Number of transformer blocks in the shared trunk."""
    num_heads: int = 3
    """Attention heads per block."""
    mlp_ratio: float = 4.0
    """MLP hidden width as a multiple of embed_dim."""
    drop_path: float = 0.0
    """Maximum stochastic-depth rate, linearly increased over the blocks."""
    layer_scale: float = 1e-4
    """Initial value of the per-channel scale on every residual branch of the trunk (CaiT's LayerScale); the
    trunk starts near the identity, so the model first learns like its encoders + pooling. 0 disables it."""
    post_norm: bool = False
    """Trunk blocks normalise after each residual sum (BERT, BART) instead of before each branch (ViT, ours);
    a post-norm trunk has no final norm. Set by ``omnivec import`` for weights trained that way."""
    norm_eps: float = 1e-5
    """Epsilon of the trunk's LayerNorms (ViT and BERT checkpoints use 1e-12)."""
    vectorizer: str = "auto"
    """How tokens become one vector per sample: auto (each encoder's own pooling: max for images, video, audio
    and points, mean for text), mean, max, cls (a learned token) or attn (learned-query attention pooling)."""
    num_meta_tokens: int = 0
    """Learned meta tokens prepended per modality (OmniVec); 0 disables them."""
    augment: bool = True
    """Augment training batches with each encoder's augmentation (its augment_* fields); never at evaluation."""
    label_smoothing: float = 0.0
    """Label smoothing of the classification heads' cross-entropy (Szegedy et al. 2016; UnIVAL's decoder trains
    with 0.1): the target puts this much of its mass evenly on every class. Training only; 0 disables it."""
    encoders: dict[str, EncoderConfig] = field(default_factory=dict)
    """Per-modality encoder configs: modality -> the config of a registered encoder (written as {name: that
    encoder, ...its fields})."""
    tasks: list[TaskConfig] = field(default_factory=list)
    """The tasks whose heads sit on the trunk."""


@dataclass
class TrainConfig:
    """The optimisation schedule, shared by train, pretrain and finetune."""

    max_steps: int = 300
    """Optimizer steps."""
    max_seconds: float = 0.0
    """When > 0, also stop after this many seconds of training (data, forward, backward, update; evaluation and
    checkpoints excluded) and run the learning-rate schedule on elapsed time instead of steps, so a run given a
    wall budget still warms up and decays fully. Set ``max_steps`` high as a cap. Steps then depend on the
    machine's speed: a seconds-budgeted run is comparable across models on one machine, not bit-reproducible."""
    batch_size: int = 32
    """Samples per task per step (each task contributes one sub-batch to a step)."""
    lr: float = 1e-3
    """Peak learning rate for AdamW."""
    min_lr_ratio: float = 0.05
    """Cosine decay ends at lr * min_lr_ratio."""
    weight_decay: float = 0.05
    """AdamW weight decay (not applied to biases, norms, embeddings and tokens)."""
    embed_lr_scale: float = 1.0
    """Learning-rate multiplier for lookup tables (text token and bigram embeddings), which see each row only
    when its token occurs."""
    warmup_steps: int = 30
    """Linear warmup steps before the cosine decay."""
    head_only_steps: int = 0
    """The first N steps train only what follows the trunk (heads, vectorizer, final norm); the encoders and trunk
    stay at lr 0, then everything trains: linear probing then fine-tuning (LP-FT, arXiv 2202.10054), so a random
    head does not pull pretrained features apart before it points anywhere useful. 0 disables."""
    layer_decay: float = 1.0
    """Layer-wise learning-rate decay (BEiT, MAE fine-tuning): with a trunk of depth L, block i (from 0) learns at
    lr * layer_decay^(L - i), the encoders and modality/prefix tokens at lr * layer_decay^(L + 1), the heads and
    the final norm at lr; 1 disables. Pretrained weights keep more of what they learnt (MAE fine-tunes at
    0.65-0.75)."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 disables."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    grad_checkpoint: bool = False
    """Activation (gradient) checkpointing of the trunk's and the decoders' blocks: each block's activations are
    recomputed in the backward pass instead of kept, trading about a third more compute for the memory a deep
    model's activations take (bench/memory_knobs.py measures both)."""
    precision: str = "auto"
    """``auto``: bf16 autocast on CUDA, fp32 elsewhere (bf16 on a CPU is slower than fp32); ``fp32``; ``bf16``
    (autocast; refused on a GPU without bf16); ``fp16`` (autocast with loss scaling, whose state is checkpointed).
    The weights and the optimizer stay fp32 in every case."""
    seed: int = 0
    """Seed for parameters, data order, augmentation and dropout."""
    log_every: int = 10
    """Write a metrics line every this many steps."""
    log_formats: list[str] = field(default_factory=lambda: ["tensorboard", "csv"])
    """Logs written beside ``metrics.jsonl`` (always written): ``tensorboard`` event files under ``tensorboard/``
    in the run folder (``tensorboard --logdir runs/``) and ``csv`` (``metrics.csv``, one row per metrics line,
    rewritten from the JSONL at each checkpoint); ``[]`` writes neither."""
    eval_every: int = 0
    """Score the model on a validation split every this many steps and at the last one, keep the best-scoring
    checkpoint as ``RUN/best`` (training/selection.py); 0: no validation, the test split is scored at the end."""
    val_fraction: float = 0.1
    """With ``eval_every``: the share of each task's training split held out (seeded) as its validation split. The
    test split is never used to select."""
    patience: int = 0
    """With ``eval_every``: stop after this many validations in a row without a new best; 0 never stops early."""
    checkpoint_every: int = 0
    """Write an atomic checkpoint every this many steps; 0 writes only at the end."""
    keep_checkpoints: int = 2
    """Complete checkpoints kept under ``checkpoints/`` (the newest N, at least 1); older ones are deleted after
    each new one is complete."""
    num_workers: int = 0
    """DataLoader worker processes per task stream."""
    ema_decay: float = 0.0
    """Keep an exponential moving average of the weights with this decay; 0 disables."""
    task_schedule: str = "mixed"
    """mixed: every task contributes to every step; round_robin: one task per step in turn."""
    label_fraction: float = 1.0
    """Share of each task's training split whose labels are used (a seeded subset per task and seed, at least one
    sample); 1.0 uses all. The label-scarce protocol (``reproduce omnivec-label-scarce``) fine-tunes with 1 %,
    10 % and 100 % of the samples a masked pretraining run saw unlabelled."""


@dataclass
class RunConfig:
    """Everything a run folder needs to rebuild its model and continue its training."""

    family: str = "omnivec"
    """The model family of the run folder: omnivec (encoders + trunk + task heads; this config) or unival (the
    encoder-decoder, families/unival/config.py: UnivalRunConfig). ``omnivec.load`` reads it to build the right model."""
    preset: str = "tiny"
    """The preset this run started from."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The model."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The optimisation schedule."""
    data_root: str = ""
    """Where the real datasets live (OMNIVEC_DATA); empty uses the built-in generated data only."""
    num_train: int = 2000
    """Training samples per generated task (real datasets use their full split unless train_limit is set)."""
    num_test: int = 500
    """Test samples per generated task."""
    train_limit: int = 0
    """Cap on training samples per real dataset (a deterministic subset); 0 uses all."""
    test_limit: int = 0
    """Cap on test samples per real dataset; 0 uses all."""
    tasks: list[str] = field(default_factory=list)
    """The task names (catalogue names or bring-your-own specs) this run trains."""
    byo: dict[str, dict[str, str]] = field(default_factory=dict)
    """Bring-your-own tasks: task name -> {"train": path, "val": path or "", "modality": "" to detect}."""
    strict: bool = False
    """Stop at the first unreadable data file (path and reason) instead of skipping and reporting it."""


# --------------------------------------------------------------------------------------------- presets


def _encoders(preset: str) -> dict[str, EncoderConfig]:
    patch = 8 if preset != "base" else 16
    specs: dict[str, dict[str, Any]] = {
        "image": {"name": "image_patch", "in_chans": 3, "patch_size": patch},
        "video": {
            "name": "video_tubelet",
            "in_chans": 3,
            "patch_size": 8 if preset != "base" else 16,
            "tubelet_size": 4 if preset != "base" else 2,
        },
        "audio": {"name": "audio_spectrogram", "sample_rate": 8000 if preset != "base" else 16000},
        "text": {
            "name": "text_embedding",
            "vocab_size": 2048 if preset in ("tiny", "cpu") else 8192,
            "max_length": 64 if preset != "base" else 256,
            **({"bigram_buckets": 4096} if preset == "tiny" else {}),
        },
        "points": {
            "name": "points_pointnet",
            "num_groups": 16 if preset != "base" else 64,
            "group_size": 32,
        },
    }
    return {m: from_dict(EncoderConfig, spec, f"encoders.{m}") for m, spec in specs.items()}


def preset_model(preset: str) -> ModelConfig:
    sizes = {
        "tiny": dict(embed_dim=64, depth=2, num_heads=2),
        "cpu": dict(embed_dim=128, depth=4, num_heads=4),
        "small": dict(embed_dim=192, depth=6, num_heads=3),
        "base": dict(embed_dim=768, depth=12, num_heads=12, drop_path=0.1),
    }
    if preset not in sizes:
        raise OmnivecError(f"unknown preset {preset!r}; expected one of: {', '.join(PRESETS)}")
    return ModelConfig(**sizes[preset], encoders=_encoders(preset))  # type: ignore[arg-type]


def preset_train(preset: str) -> TrainConfig:
    return {
        "tiny": TrainConfig(max_steps=60, batch_size=16, lr=2e-3, warmup_steps=5),
        # ~6 epochs of 8000 images in ~4 minutes on 2 cores (docs/learning.md, bring your own)
        "cpu": TrainConfig(max_steps=1500, batch_size=32, lr=4e-3, warmup_steps=100),
        "small": TrainConfig(max_steps=1000, batch_size=64, lr=1e-3, warmup_steps=50),
        "base": TrainConfig(max_steps=20000, batch_size=128, lr=5e-4, warmup_steps=1000),
    }[preset]


def preset(preset_name: str) -> RunConfig:
    model = preset_model(preset_name)  # validates the name
    train = preset_train(preset_name)
    train.embed_lr_scale = 5.0  # the text lookup tables (docs/learning.md: Banking77 0.803 -> 0.819 at 300 steps)
    return RunConfig(preset=preset_name, model=model, train=train)


# --------------------------------------------------------------------------------------------- (de)serialisation


def comma_list(text: str | None) -> list[str]:
    """``"shapes, tones,,"`` -> ``["shapes", "tones"]``: a comma-separated list as the command line and the
    config take it (``--tasks``, ``--suite``, ``--tsv`` paths); blanks and surrounding spaces are dropped."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def apply_override(cfg: T, assignment: str) -> T:
    """``KEY=VALUE`` with a dotted KEY into a run config of either family (``train.lr=3e-3``,
    ``model.encoders.image.stem=hmlp``, ``model.augment=false``); VALUE is read as YAML. The result is checked
    like a config file, so a misspelt field or a wrong type names itself."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise OmnivecError(f"--set {assignment!r}: expected KEY=VALUE, e.g. train.lr=3e-3")
    data = to_dict(cfg)
    node: Any = data
    parts = key.strip().split(".")
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise OmnivecError(f"--set {assignment!r}: no field {'.'.join(parts[: i + 1])!r} in the config")
        node = node[part]
    if not isinstance(node, dict) or (parts[-1] not in node and len(parts) < 4):
        raise OmnivecError(f"--set {assignment!r}: no field {key.strip()!r} in the config")
    try:
        value = safe_yaml(raw)
    except yaml.YAMLError as e:
        raise OmnivecError(f"--set {assignment!r}: VALUE is not valid YAML ({' '.join(str(e).split())})") from None
    if isinstance(value, str):  # YAML 1.1 reads 3e-3 (no dot) as a string
        with contextlib.suppress(ValueError):
            value = float(value)
    node[parts[-1]] = value
    return from_dict(type(cfg), data)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge key by key, anything else replaces; a ``null`` value
    removes the key (``model.encoders.video: null`` drops the preset's video encoder)."""
    out = dict(base)
    for key, value in override.items():
        if value is None and isinstance(base.get(key), dict):
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = deep_merge(base[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping, or an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise OmnivecError(f"config file {path} does not exist")
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise OmnivecError(f"{path}: {size:,} bytes is too large for a config file (limit {MAX_YAML_BYTES:,})")
    try:
        data = safe_yaml(path.read_text())
    except yaml.YAMLError as e:
        raise OmnivecError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    except UnicodeDecodeError as e:
        raise OmnivecError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if data is None:
        raise OmnivecError(f"{path}: the file is empty; expected a mapping of config fields")
    if not isinstance(data, dict):
        raise OmnivecError(f"{path}: expected a mapping of config fields, got {type(data).__name__}")
    return data


def load_config_file(path: str | Path, cls: type[T], presets: Any = None, default_preset: str = "cpu") -> T:
    """A user's config file: the preset it names (``preset:``, else ``default_preset``) with only the fields the
    file gives overriding it, so ``{preset: small, train: {lr: 3e-4}}`` is a complete config. ``presets`` maps a
    preset name to a full config of ``cls`` (default: :func:`preset`). Run folders' ``config.yaml`` are complete
    and are read with :func:`load_yaml` instead."""
    data = read_yaml(path)
    name = data.get("preset", default_preset)
    if not isinstance(name, str):
        raise OmnivecError(f"{Path(path).name}: preset: expected a preset name, got {name!r}")
    base = (presets or preset)(name)
    merged = deep_merge(to_dict(base), {**data, "preset": name})
    return from_dict(cls, merged, where=Path(path).name)


def save_yaml(cfg: Any, path: str | Path) -> None:
    from omnivec.training.checkpoint import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False))


def load_yaml(cls: type[T], path: str | Path) -> T:
    """A complete config (a run folder's ``config.yaml``): every field checked, nothing inherited."""
    return from_dict(cls, read_yaml(path), where=Path(path).name)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass, read from its source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for stmt, nxt in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs
