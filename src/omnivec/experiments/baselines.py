"""Strong small specialists, one per task kind and modality, trained on exactly the samples omnivec sees for the
same budget, so every omnivec number can be read against what a few lines of classic code reach on this CPU.

=============  ================================================================================================
image          a 3-layer CNN (conv3x3-BN-ReLU-maxpool x3, 32-64-128 channels), global average pool, linear
segmentation   a small U-Net (three scales, two conv3x3-BN-ReLU per scale, 16-32-64 channels, skips)
video          a small 3-D CNN (conv3d-BN-ReLU-maxpool x3, 16-32-64 channels), global average pool, linear
audio          a 3-layer CNN (32-64-128) on the log-mel spectrogram omnivec's audio encoder computes, pooled
               over each clip's valid frames
text           TF-IDF over word 1-2 grams + a linear SVM (scikit-learn); it has no steps: it fits the samples
points         PointNet (shared MLP 3-64-128-256 with BN, max pool, MLP head)
=============  ================================================================================================

``--wide`` variants (two convs per stage, twice the channels) are measured in docs/design.md: they cost 3-6x the
time for at most +0.02 at the quickstart's budget.

The neural baselines use the same optimiser family as omnivec (AdamW, linear warmup, cosine decay) and the same
steps x batch (or the same wall seconds); their learning rates were picked by a small sweep (docs/design.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.config import EncoderConfig, TaskConfig, from_dict
from omnivec.data.base import drop_skipped
from omnivec.errors import OmnivecError
from omnivec.nn.heads.classify import ClassifyOutput
from omnivec.nn.heads.segment import SegmentOutput
from omnivec.registry import Registry
from omnivec.tasks import task_kind
from omnivec.types import Modality


@dataclass(frozen=True)
class Budget:
    """How long a baseline trains: ``steps`` optimizer steps of ``batch_size`` samples, or ``seconds`` of wall
    time when ``seconds > 0`` (the learning-rate schedule then runs on elapsed time)."""

    steps: int = 300
    batch_size: int = 32
    seconds: float = 0.0
    lr: float = 2e-3
    warmup_frac: float = 0.1
    wide: bool = False


DEFAULT_LR = {"image": 6e-3, "segmentation": 1.2e-2, "video": 1.2e-2, "audio": 3e-3, "points": 3e-3}
"""AdamW peak learning rate per baseline, the best of a sweep over {1e-3, 3e-3, 6e-3, 1.2e-2, 2.4e-2} at 300
steps x 32 on the quickstart's data (docs/learning.md)."""


def default_lr(task: TaskConfig) -> float:
    return DEFAULT_LR.get("segmentation" if task.kind == "segmentation" else task.modality, 3e-3)


def _bn_act(conv: nn.Module, c: int, dims: int = 2) -> list[nn.Module]:
    bn = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims](c)
    return [conv, bn, nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    def __init__(
        self, in_chans: int, num_classes: int, widths: tuple[int, ...] = (32, 64, 128), convs: int = 1
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_chans
        for i, w in enumerate(widths):
            for _ in range(convs):
                layers += _bn_act(nn.Conv2d(c, w, 3, padding=1, bias=False), w)
                c = w
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class UNet(nn.Module):
    def __init__(self, in_chans: int, num_classes: int, widths: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()

        def block(ci: int, co: int) -> nn.Sequential:
            return nn.Sequential(
                *_bn_act(nn.Conv2d(ci, co, 3, padding=1, bias=False), co),
                *_bn_act(nn.Conv2d(co, co, 3, padding=1, bias=False), co),
            )

        self.down = nn.ModuleList()
        c = in_chans
        for w in widths:
            self.down.append(block(c, w))
            c = w
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(c, w, 2, stride=2))
            self.fuse.append(block(2 * w, w))
            c = w
        self.out = nn.Conv2d(c, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for i, blk in enumerate(self.down):
            x = blk(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up, fuse, skip in zip(self.up, self.fuse, reversed(skips[:-1])):
            x = fuse(torch.cat([up(x), skip], dim=1))
        return self.out(x)


class Small3DCNN(nn.Module):
    def __init__(self, in_chans: int, num_classes: int, widths: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_chans
        for i, w in enumerate(widths):
            layers += _bn_act(nn.Conv3d(c, w, 3, padding=1, bias=False), w, 3)
            if i < len(widths) - 1:
                layers.append(nn.MaxPool3d((1, 2, 2) if i == 0 else 2))
            c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3, 4)))


class MelCNN(nn.Module):
    """A CNN over (B, 1, mels, frames); the time axis is pooled over each clip's valid frames only."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (32, 64, 128), convs: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for w in widths:
            for _ in range(convs):
                layers += _bn_act(nn.Conv2d(c, w, 3, padding=1, bias=False), w)
                c = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.stride = 2 ** len(widths)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, spec: Tensor, frames: Tensor) -> Tensor:
        x = self.features(spec).amax(dim=2)  # (B, C, T')
        valid = torch.arange(x.shape[-1], device=x.device)[None] < (frames // self.stride).clamp(min=1)[:, None]
        x = (x * valid[:, None]).sum(-1) / valid.sum(-1, keepdim=True)
        return self.fc(x)


class PointNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            *_bn_act(nn.Conv1d(3, 64, 1, bias=False), 64, 1),
            *_bn_act(nn.Conv1d(64, 128, 1, bias=False), 128, 1),
            *_bn_act(nn.Conv1d(128, 256, 1, bias=False), 256, 1),
        )
        self.head = nn.Sequential(
            nn.Linear(256, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(inplace=True), nn.Linear(128, num_classes)
        )

    def forward(self, xyz: Tensor) -> Tensor:  # (B, P, 3)
        return self.head(self.mlp(xyz.transpose(1, 2)).amax(dim=-1))


# ----------------------------------------------------------------------------------------------- batching


def _stack(samples: list[Any]) -> Tensor:
    xs = [torch.as_tensor(s, dtype=torch.float32) for s in samples]
    return torch.stack([x[None] if x.ndim == 2 else x for x in xs])


Featurize = Callable[[list[Any]], tuple[Tensor, ...]]
"""Raw samples -> the tensors a baseline network takes."""

FEATURIZERS: Registry[Callable[[EncoderConfig | None], Featurize]] = Registry("baseline featurizer")
"""Modality -> (the run's audio encoder config, if any) -> its :data:`Featurize`; a modality not registered stacks
its arrays as they are (image, video)."""


@FEATURIZERS.register(Modality.AUDIO)
def _log_mel(audio_cfg: EncoderConfig | None) -> Featurize:
    """omnivec's log-mel front end (a fixed transform, no learned weights), so both sides see the same
    spectrogram: (spectrogram, valid frames per clip)."""
    from omnivec.nn.encoders import build_encoder

    fields = {k: v for k, v in (audio_cfg.to_dict() if audio_cfg else {}).items() if k != "name"}
    audio: Any = build_encoder(from_dict(EncoderConfig, {"name": "audio_spectrogram", **fields}), 8)

    def featurize(samples: list[Any]) -> tuple[Tensor, ...]:
        spec, patches = audio.spectrogram(audio.collate(samples))
        return spec, patches * audio.cfg.patch_time

    return featurize


@FEATURIZERS.register(Modality.POINTS)
def _xyz(audio_cfg: EncoderConfig | None) -> Featurize:
    """Each cloud's coordinates (PointNet reads x, y, z only)."""
    return lambda samples: (torch.stack([torch.as_tensor(s, dtype=torch.float32)[:, :3] for s in samples]),)


def featurizer(modality: str, audio_cfg: EncoderConfig | None = None) -> Featurize:
    """The modality's registered featurizer, or stacking."""
    if modality in FEATURIZERS:
        return FEATURIZERS.get(modality)(audio_cfg)
    return lambda samples: (_stack(samples),)


Classifier = Callable[[int, tuple[Tensor, ...], int], tuple[str, nn.Module]]
"""(num_classes, an example batch, width multiplier 1 or 2) -> (a short name, the network)."""


def _wide(x2: int) -> str:
    return " (wide)" if x2 > 1 else ""


CLASSIFIERS: Registry[Classifier] = Registry("classification baseline")
"""Modality -> the neural baseline of its classification tasks (text's is fitted: :data:`FITTED`); a new modality
registers its own here (and, if its samples are not arrays to stack, its :data:`FEATURIZERS` entry)."""


@CLASSIFIERS.register(Modality.IMAGE)
def _image_cnn(k: int, example: tuple[Tensor, ...], x2: int) -> tuple[str, nn.Module]:
    return "CNN" + _wide(x2), SmallCNN(example[0].shape[1], k, convs=x2)


@CLASSIFIERS.register(Modality.VIDEO)
def _video_cnn(k: int, example: tuple[Tensor, ...], x2: int) -> tuple[str, nn.Module]:
    return "3D-CNN" + _wide(x2), Small3DCNN(example[0].shape[1], k, (16 * x2, 32 * x2, 64 * x2))


@CLASSIFIERS.register(Modality.AUDIO)
def _mel_cnn(k: int, example: tuple[Tensor, ...], x2: int) -> tuple[str, nn.Module]:
    return "log-mel CNN" + _wide(x2), MelCNN(k, convs=x2)


@CLASSIFIERS.register(Modality.POINTS)
def _pointnet(k: int, example: tuple[Tensor, ...], x2: int) -> tuple[str, nn.Module]:
    return "PointNet", PointNet(k)  # one width: wide leaves it as it is


def build_network(task: TaskConfig, example: tuple[Tensor, ...], wide: bool = False) -> tuple[str, nn.Module]:
    """The baseline for a task: (a short name, the module); ``wide`` doubles channels and convs per stage."""
    m, k = task.modality, task.num_classes
    x2 = 2 if wide else 1
    if task.kind == "segmentation":
        return "U-Net" + _wide(x2), UNet(example[0].shape[1], k, (16 * x2, 32 * x2, 64 * x2))
    if task.kind != "classification":
        raise OmnivecError(f"no baseline for {task.kind} tasks")
    if m not in CLASSIFIERS:
        raise OmnivecError(f"no neural baseline for {m} classification")
    return CLASSIFIERS.get(m)(k, example, x2)


# ----------------------------------------------------------------------------------------------- training


def _lr_factor(progress: float, warmup: float) -> float:
    if progress < warmup:
        return (progress + 1e-3) / warmup
    t = (progress - warmup) / max(1e-9, 1 - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def _items(ds: Any) -> list[tuple[Any, Any]]:
    items, _ = drop_skipped([ds[i] for i in range(len(ds))])
    return items


def train_neural(
    task: TaskConfig,
    train_ds: Any,
    test_ds: Any,
    budget: Budget,
    seed: int = 0,
    audio_cfg: EncoderConfig | None = None,
) -> dict[str, Any]:
    torch.manual_seed(seed)
    feat = featurizer(task.modality, audio_cfg)
    kind = task_kind(task.kind)
    train_items = _items(train_ds)
    n = len(train_items)
    bs = min(budget.batch_size, n)

    def batch(items: list[tuple[Any, Any]]) -> tuple[tuple[Tensor, ...], Tensor]:
        return feat([s for s, _ in items]), kind.collate_targets([t for _, t in items])

    name, net = build_network(task, batch(train_items[:2])[0], budget.wide)
    opt = torch.optim.AdamW(net.parameters(), lr=budget.lr, weight_decay=0.05)
    g = torch.Generator().manual_seed(seed)
    order: list[int] = []
    t0 = time.perf_counter()
    step = 0
    net.train()
    while True:
        elapsed = time.perf_counter() - t0
        progress = elapsed / budget.seconds if budget.seconds > 0 else step / budget.steps
        if progress >= 1.0:
            break
        for group in opt.param_groups:
            group["lr"] = budget.lr * _lr_factor(progress, budget.warmup_frac)
        if len(order) < bs:
            order += torch.randperm(n, generator=g).tolist()
        idx, order = order[:bs], order[bs:]
        x, y = batch([train_items[i] for i in idx])
        loss = F.cross_entropy(net(*x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
    train_s = time.perf_counter() - t0
    metric = kind.metric(task)
    net.eval()
    test_items = _items(test_ds)
    wrap: Callable[[Tensor], Any] = SegmentOutput if task.kind == "segmentation" else ClassifyOutput
    with torch.no_grad():
        for s in range(0, len(test_items), 256):
            x, y = batch(test_items[s : s + 256])
            metric.update(wrap(net(*x)), y)
    values = metric.compute()
    return {
        "baseline": name,
        "value": values[kind.primary_metric],
        "seconds": train_s,
        "steps": step,
        "params": sum(p.numel() for p in net.parameters()),
    }


def train_text(train_ds: Any, test_ds: Any) -> dict[str, Any]:
    """TF-IDF (word 1-2 grams, sublinear tf) + a linear SVM, fitted on the same training texts."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC
    except ModuleNotFoundError:  # pragma: no cover - the baselines extra is not installed
        raise OmnivecError("the text baseline needs scikit-learn: pip install 'omnivec[baselines]'") from None
    train_items, test_items = _items(train_ds), _items(test_ds)
    t0 = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    X = vec.fit_transform([s for s, _ in train_items])
    clf = LinearSVC(C=1.0).fit(X, [t for _, t in train_items])
    train_s = time.perf_counter() - t0
    pred = clf.predict(vec.transform([s for s, _ in test_items]))
    acc = float(sum(int(p == t) for p, (_, t) in zip(pred, test_items)) / max(len(test_items), 1))
    return {"baseline": "TF-IDF + linear SVM", "value": acc, "seconds": train_s, "steps": 0, "params": X.shape[1]}


FITTED: Registry[Callable[[Any, Any], dict[str, Any]]] = Registry("fitted classification baseline")
"""Modality -> a classification baseline with no steps, fitted on the training samples (train, test) -> its
result; a modality registered here uses it instead of a network from :data:`CLASSIFIERS`."""
FITTED.register(Modality.TEXT)(train_text)


def train_baseline(
    task: TaskConfig,
    train_ds: Any,
    test_ds: Any,
    budget: Budget,
    seed: int = 0,
    audio_cfg: EncoderConfig | None = None,
) -> dict[str, Any]:
    """Train the task's baseline on ``train_ds`` for ``budget``; its primary metric on ``test_ds``."""
    if task.kind == "classification" and task.modality in FITTED:
        return FITTED.get(task.modality)(train_ds, test_ds)
    return train_neural(task, train_ds, test_ds, budget, seed, audio_cfg)


def train_baselines(
    tasks: dict[str, Any],
    budget: Budget,
    seed: int = 0,
    audio_cfg: EncoderConfig | None = None,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Every prepared task's (``train.PreparedTask``) baseline at ``budget``, each at its own ``default_lr``."""
    out: dict[str, dict[str, Any]] = {}
    for name, p in tasks.items():
        if progress:
            print(f"baseline for {name} ...", flush=True)
        b = replace(budget, lr=default_lr(p.cfg))
        out[name] = train_baseline(p.cfg, p.splits.train, p.splits.test, b, seed, audio_cfg)
    return out


__all__ = ["DEFAULT_LR", "Budget", "build_network", "default_lr", "featurizer", "train_baseline", "train_baselines"]
