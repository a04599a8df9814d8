"""``omnivec report RUN``: what people look at first after a run, as one markdown page with figures.

For any run folder of either family: what was trained (family, preset, steps, tasks, the best step when
``--eval-every`` kept one), the scores per task (``eval.json``, and ``best/eval.json``), the loss curves (total and
per task) with the validation curve, and for each OmniVec task its test predictions: a confusion matrix and the
per-class accuracy (classification), the IoU per class (segmentation), and a few test inputs with their predicted
and true labels (images, video frames, spectrograms, point clouds, texts). The quickstart's report adds these
sections to its omnivec-vs-specialists table by calling :func:`run_sections`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from omnivec.training import checkpoint as ckpt
from omnivec.training.logs import plot_losses, read_log
from omnivec.training.selection import BEST, VALIDATION, best_info

REPORT = "report"
"""The report's folder inside the run folder (its default place)."""


def report(
    run: str | Path, out: str | Path | None = None, limit: int = 1000, examples: int = 8, device: str = "auto"
) -> Path:
    """Write ``report.md`` and its figures for the run folder ``run`` into ``out`` (default ``RUN/report``),
    predicting the first ``limit`` test samples of each OmniVec task; returns the page's path."""
    run = Path(run)
    out = Path(out) if out is not None else run / REPORT
    out.mkdir(parents=True, exist_ok=True)
    from omnivec.api.load import load

    model = load(run, device)
    cfg: Any = model.run_config
    head = [
        f"# Run report: {run}",
        "",
        f"Family **{model.family}**, preset `{cfg.preset}`; trunk width {_width(cfg)}; trained "
        f"{_steps(run)} steps, batch {cfg.train.batch_size} per task. Rebuild with `omnivec report {run}`.",
        "",
    ]
    lines = head + run_sections(run, out, model, limit, examples)
    page = out / "report.md"
    ckpt.atomic_write_text(page, "\n".join(lines) + "\n")
    return page


def run_sections(run: Path, out: Path, model: Any, limit: int = 1000, examples: int = 8) -> list[str]:
    """The report's sections for a trained run (scores, curves, predictions), figures written into ``out``."""
    lines = _scores(run) + _curves(run, out)
    if model.family == "omnivec":
        for name in model.tasks:
            lines += _task_section(model, name, out, limit, examples)
    else:
        lines += ["Predictions of UnIVAL runs: `omnivec unival evaluate RUN` and `omnivec generate`.", ""]
    return lines


def _width(cfg: Any) -> int:
    model = getattr(cfg.model, "backbone", cfg.model)
    return int(model.embed_dim)


def _steps(run: Path) -> int:
    return max((int(r["step"]) for r in read_log(run / ckpt.METRICS) if "step" in r), default=0)


def _scores(run: Path) -> list[str]:
    last = _read(run / "eval.json")
    best = _read(run / BEST / "eval.json")
    if not last:
        return ["No `eval.json` in the run folder: it was not evaluated at its end.", ""]
    info = best_info(run)
    best_col = f" best step ({info['step']}) |" if info and best else ""
    lines = ["## Scores on the test split", "", f"| task | modality | metric | chance | last step |{best_col}"]
    lines.append("|---|---|---|---|---|" + ("---|" if best_col else ""))
    for name, r in last.items():
        chance = f"{r['chance']:.3f}" if "chance" in r else "-"
        row = f"| {name} | {r.get('modality') or 'text'} | {r['metric']} | {chance} | **{r['value']:.4f}** |"
        if best_col:
            row += f" {best.get(name, {}).get('value', float('nan')):.4f} |"
        lines.append(row)
    return [*lines, ""]


def _curves(run: Path, out: Path) -> list[str]:
    log = [r for r in read_log(run / ckpt.METRICS) if "loss" in r]
    if not log:
        return []
    plot_losses(log, out / "loss.png", f"training loss: {run.name}")
    lines = ["## Training", "", "![training loss](loss.png)", ""]
    val = read_log(run / VALIDATION)
    if val:
        _plot_validation(val, out / "validation.png")
        lines += ["![validation score](validation.png)", ""]
    return lines


def _plot_validation(records: list[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3))
    keys = [k for k in records[0] if k not in ("step", "best_step", "seconds")]
    for k in keys:
        ax.plot([r["step"] for r in records], [r.get(k) for r in records], label=k, linewidth=2 if k == "score" else 1)
    ax.set_xlabel("step")
    ax.set_ylabel("validation")
    ax.legend(fontsize=7)
    _save(fig, path)


def _task_section(model: Any, name: str, out: Path, limit: int, examples: int) -> list[str]:
    from omnivec.data.task_catalog import get_task

    task = model.task(name)
    if task.kind not in ("classification", "segmentation"):
        return [f"## {name}", "", f"A {task.kind} task: its scores are above; no per-sample figures.", ""]
    cfg: Any = model.run_config
    test = get_task(name, cfg).build(cfg).test
    inputs, preds, targets = predict_split(model, name, test, limit)
    if not preds:
        return [f"## {name}", "", "No readable test sample.", ""]
    if task.kind == "classification":
        return _classification(model, name, task, inputs, preds, targets, out, examples)
    return _segmentation(name, task, inputs, preds, targets, out, examples)


@torch.no_grad()
def predict_split(
    model: Any, name: str, dataset: Any, limit: int, batch_size: int = 64
) -> tuple[list[Any], list[Tensor], list[Tensor]]:
    """The first ``limit`` readable samples of ``dataset`` with the model's predicted and true targets (class
    indices; class maps for segmentation)."""
    from omnivec.data.base import drop_skipped
    from omnivec.tasks import task_kind
    from omnivec.types import to_device

    task = model.task(name)
    kind = task_kind(task.kind)
    device = next(model.parameters()).device
    model.eval()
    n = min(len(dataset), limit) if limit > 0 else len(dataset)
    inputs: list[Any] = []
    preds: list[Any] = []
    targets: list[Any] = []
    for start in range(0, n, batch_size):
        items, _ = drop_skipped([dataset[i] for i in range(start, min(start + batch_size, n))])
        if not items:
            continue
        inp, tgt = kind.collate(model, task, items)
        logits = kind.forward(model, task, (to_device(inp, device), tgt)).logits.cpu()
        inputs += [s for s, _ in items]
        preds += list(logits.argmax(1).unbind(0))
        targets += list(tgt.unbind(0))
    return inputs, preds, targets


def _classification(
    model: Any,
    name: str,
    task: Any,
    inputs: list[Any],
    preds: list[Tensor],
    targets: list[Tensor],
    out: Path,
    examples: int,
) -> list[str]:
    k = task.num_classes
    p, t = torch.stack(preds), torch.stack(targets)
    conf = torch.zeros(k, k, dtype=torch.long)
    conf.index_put_((t, p), torch.ones_like(t), accumulate=True)
    names = list(task.class_names) or [str(i) for i in range(k)]
    per_class = conf.diag().float() / conf.sum(1).clamp(min=1)
    worst = per_class.argsort()[: min(5, k)].tolist()
    _plot_confusion(conf, names, out / f"confusion-{name}.png", name)
    lines = [
        f"## {name} ({task.modality}, {k} classes)",
        "",
        f"Accuracy {float((p == t).float().mean()):.4f} on the first {len(p)} test samples. Worst classes: "
        + ", ".join(f"{names[i]} {float(per_class[i]):.2f}" for i in worst)
        + ".",
        "",
        f"![confusion matrix of {name}](confusion-{name}.png)",
        "",
    ]
    shown = list(range(min(examples, len(inputs))))
    label = [f"{names[int(p[i])]} / {names[int(t[i])]}" for i in shown]
    if task.modality == "text":
        lines += ["| text | predicted | true |", "|---|---|---|"]
        lines += [f"| {_cell(inputs[i])} | {names[int(p[i])]} | {names[int(t[i])]} |" for i in shown]
        return [*lines, ""]
    rate = int(getattr(model.cfg.encoders.get(task.modality), "sample_rate", 8000))
    _plot_examples([inputs[i] for i in shown], label, task.modality, out / f"examples-{name}.png", rate)
    return [*lines, f"![test examples of {name}: predicted / true](examples-{name}.png)", ""]


def _segmentation(
    name: str, task: Any, inputs: list[Any], preds: list[Tensor], targets: list[Tensor], out: Path, examples: int
) -> list[str]:
    from omnivec.tasks.segmentation import confusion, iou_from_confusion

    conf = torch.stack([confusion(p, t, task.num_classes) for p, t in zip(preds, targets, strict=True)]).sum(0)
    ious = iou_from_confusion(conf)
    per = (conf.diag().float() / (conf.sum(0) + conf.sum(1) - conf.diag()).clamp(min=1)).tolist()
    names = list(task.class_names) or [str(i) for i in range(task.num_classes)]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar(range(len(per)), per, color="#3060a0")
    ax.set_xticks(range(len(per)), names, fontsize=7, rotation=45)
    ax.set_ylabel("IoU")
    ax.set_ylim(0, 1)
    _save(fig, out / f"iou-{name}.png")
    n = min(examples, len(inputs), 4)
    fig, axes = plt.subplots(n, 3, figsize=(6, 2 * n), squeeze=False)
    for i in range(n):
        for j, (img, title) in enumerate(((inputs[i], "input"), (targets[i], "true"), (preds[i], "predicted"))):
            pic = torch.as_tensor(img).float()
            if j == 0:
                axes[i][j].imshow((pic[0] if pic.dim() == 3 else pic).numpy(), cmap="gray")
            else:  # one colour per class in both maps
                axes[i][j].imshow(
                    pic.numpy(), cmap="tab10", vmin=0, vmax=max(9, task.num_classes - 1), interpolation="nearest"
                )
            axes[i][j].set_title(title, fontsize=7)
            axes[i][j].axis("off")
    _save(fig, out / f"examples-{name}.png")
    return [
        f"## {name} (segmentation, {task.num_classes} classes)",
        "",
        f"mIoU {ious['miou']:.4f}, pixel accuracy {ious['pixel_accuracy']:.4f} on the first {len(inputs)} test "
        "samples.",
        "",
        f"![IoU per class of {name}](iou-{name}.png)",
        "",
        f"![test examples of {name}](examples-{name}.png)",
        "",
    ]


def _plot_confusion(conf: torch.Tensor, names: Sequence[str], path: Path, title: str) -> None:
    plt = _pyplot()
    k = len(names)
    size = min(10.0, 2.5 + 0.25 * k)
    fig, ax = plt.subplots(figsize=(size, size))
    rows = conf.float() / conf.sum(1, keepdim=True).clamp(min=1)
    ax.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    if k <= 20:
        ax.set_xticks(range(k), names, fontsize=7, rotation=90)
        ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: share of each true class", fontsize=9)
    _save(fig, path)


def _plot_examples(samples: list[Any], labels: list[str], modality: str, path: Path, sample_rate: int = 8000) -> None:
    plt = _pyplot()
    cols = min(4, len(samples))
    rows = (len(samples) + cols - 1) // cols
    fig = plt.figure(figsize=(2.4 * cols, 2.4 * rows))
    for i, (s, label) in enumerate(zip(samples, labels, strict=True)):
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d" if modality == "points" else None)
        x = torch.as_tensor(s).float()
        if modality in ("image", "video"):
            frame = x if modality == "image" else x[:, x.shape[1] // 2]  # video (C, T, H, W): its middle frame
            ax.imshow((frame[0] if frame.shape[0] == 1 else frame.permute(1, 2, 0).clamp(0, 1)).numpy(), cmap="gray")
        elif modality == "audio":
            ax.specgram(x.numpy(), Fs=sample_rate, NFFT=256, noverlap=128)
        elif modality == "points":
            ax.scatter(*x[:, :3].T.numpy(), s=1)
        ax.set_title(label, fontsize=8)
        ax.axis("off")
    _save(fig, path)


def _cell(text: Any) -> str:
    s = str(text).replace("|", "/").replace("\n", " ")
    return s if len(s) <= 80 else s[:77] + "..."


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    ckpt.atomic_write(path, lambda p: fig.savefig(p, dpi=100, format="png"))
    _pyplot().close(fig)


__all__ = ["REPORT", "predict_split", "report", "run_sections"]
