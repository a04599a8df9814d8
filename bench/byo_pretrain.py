"""The user's pretraining path, measured as a user would run it (issue 24's bar): ~8,000 unlabelled PNGs of a
10-class image set pretrained with ``omnivec pretrain --train DIR`` (DEFAULT settings), then
``omnivec finetune PT --train L --val V`` on 8 labelled images per class, beside ``omnivec train --train L --val V``
on the same 80 images (defaults). The bar: fine-tuned from the pretraining beats training from scratch by >= 5
points on the held-out split, and the pretraining takes <= 20 minutes on 2 cores.

    OMNIVEC_DATA=../shared/data python bench/byo_pretrain.py [--dataset fashion-mnist] [--unlabelled 8000] \\
        [--per-class 8] [--val 2000] [--work /tmp/byo-pt] [--results results/byo-pretrain]

The unlabelled folder is flat (no class subfolders: labels are not there to be ignored); the labelled 80 come from
the official training split but not from the unlabelled images, the held-out ones from the official test split.
Writes one JSON record (scores, wall times, the machine's matmul speed, commit) under ``--results``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from omnivec.data.byo import export_image_folder
from omnivec.data.datasets import load_dataset
from omnivec.experiments.ledger import provenance


def omnivec(*args: str) -> float:
    """Run one CLI command quietly; its wall seconds."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "omnivec", *args, "--quiet"], check=True)
    return time.perf_counter() - t0


def score(run: Path) -> float:
    (result,) = json.loads((run / "eval.json").read_text()).values()
    return float(result["value"])


def probes(runs: dict[str, Path], labelled: list, held_out: list) -> dict[str, dict[str, float]]:
    """Linear probe and k-NN of each run's frozen features with only the labelled images (the fine-tuning's
    labels), scored on the held-out split; ``random`` is the pretrained model's architecture with fresh weights.
    Tells whether the pretrained features are better than random ones and than a supervised model's."""
    import numpy as np

    from omnivec.api.load import load
    from omnivec.api.probe import features, knn_accuracy, linear_probe, random_twin

    ly = np.array([int(y) for _, y in labelled])
    ty = np.array([int(y) for _, y in held_out])
    models = {name: load(run).eval() for name, run in runs.items()}
    models["random"] = random_twin(models["pretrained"], 0).eval()
    out = {}
    for name, m in models.items():
        lx = features(m, "image", [s for s, _ in labelled])
        tx = features(m, "image", [s for s, _ in held_out])
        out[name] = {"linear": linear_probe(lx, ly, tx, ty), "knn": knn_accuracy(lx, ly, tx, ty)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--unlabelled", type=int, default=8000)
    ap.add_argument("--per-class", type=int, default=8)
    ap.add_argument("--val", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/omnivec-byo-pretrain")
    ap.add_argument("--results", default="results/byo-pretrain")
    ap.add_argument("--pretrain-args", default="", help="extra `omnivec pretrain` flags (a study, not the bar)")
    ap.add_argument("--note", default="", help="a line kept in the record (e.g. what else ran beside it)")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep --work and skip each command whose run is complete (an interrupted session); its wall time is "
        "then recorded as null and the step named under 'resumed'",
    )
    a = ap.parse_args()
    prov, load_start = provenance(), os.getloadavg()[0]  # the code that runs, and how busy the machine was
    work = Path(a.work)
    if not a.resume:
        shutil.rmtree(work, ignore_errors=True)
    splits = load_dataset(a.dataset, os.environ.get("OMNIVEC_DATA") or None)
    names = list(splits.class_names) or [f"class{i}" for i in range(10)]
    order = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(a.seed)).tolist()
    unlabelled = [splits.train[i] for i in order[: a.unlabelled]]
    labelled, counts = [], dict.fromkeys(range(len(names)), 0)
    for i in order[a.unlabelled :]:
        sample, y = splits.train[i]
        if counts[int(y)] < a.per_class:
            labelled.append((sample, y))
            counts[int(y)] += 1
        if len(labelled) == a.per_class * len(names):
            break
    if not (a.resume and (work / "val").is_dir()):  # the export is the same for the same --seed
        shutil.rmtree(work, ignore_errors=True)
        export_image_folder([(s, 0) for s, _ in unlabelled], ["all"], work / "unlabelled-tmp")
        (work / "unlabelled-tmp" / "all").rename(work / "unlabelled")  # flat: no class subfolders
        export_image_folder(labelled, names, work / "labelled")
        export_image_folder([splits.test[i] for i in range(a.val)], names, work / "val")

    data = ["--train", str(work / "labelled"), "--val", str(work / "val")]
    resumed: list[str] = []

    def step(name: str, done: str, *args: str) -> float | None:
        if a.resume and (work / name / done).is_file():
            resumed.append(name)
            return None
        shutil.rmtree(work / name, ignore_errors=True)  # a half-written run starts over
        return omnivec(*args, "--out", str(work / name))

    pt_s = step("pt", "pretrain.json", "pretrain", "--train", str(work / "unlabelled"), *a.pretrain_args.split())
    ft_s = step("ft", "eval.json", "finetune", str(work / "pt"), *data)
    sc_s = step("scratch", "eval.json", "train", *data)
    ft, sc = score(work / "ft"), score(work / "scratch")
    runs = {"pretrained": work / "pt", "finetuned": work / "ft", "scratch": work / "scratch"}
    probe = probes(runs, labelled, [splits.test[i] for i in range(a.val)])
    met = ft - sc >= 0.05 and pt_s is not None and pt_s <= 1200
    rec = {
        "dataset": a.dataset,
        "unlabelled": a.unlabelled,
        "labelled": len(labelled),
        "val": a.val,
        "seed": a.seed,
        "pretrain_args": a.pretrain_args,
        "finetuned_from_pretraining": ft,
        "trained_from_scratch": sc,
        "gain": ft - sc,
        "probe_with_labelled": probe,
        "wall_s": {"pretrain": pt_s, "finetune": ft_s, "train": sc_s},
        "resumed": resumed,
        "load_avg_1min": {"start": load_start, "end": os.getloadavg()[0]},
        "bar_met": met,
        "note": a.note,
        **prov,
    }
    print(f"{a.dataset}: {a.unlabelled} unlabelled PNGs, {len(labelled)} labelled, {a.val} held out")
    secs = {name: "resumed" if s is None else f"{s:.0f} s" for name, s in [("pt", pt_s), ("ft", ft_s), ("sc", sc_s)]}
    print(f"  omnivec pretrain (defaults): {secs['pt']} wall")
    print(f"  omnivec finetune PT (defaults): {ft:.4f}   ({secs['ft']})")
    print(f"  omnivec train, same 80 images (defaults): {sc:.4f}   ({secs['sc']})")
    for name, p in probe.items():
        print(f"  probe with the {len(labelled)} labels, {name} features: linear {p['linear']:.4f}, knn {p['knn']:.4f}")
    print(f"  gain {ft - sc:+.4f}; bar (>= +0.05, pretraining <= 1200 s): {'met' if met else 'NOT met'}")
    out = Path(a.results)
    out.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in a.pretrain_args.replace("--", "")).strip("-")
    tag = f"{a.dataset}-seed{a.seed}" + (f"-study-{slug}" if slug else "")  # one record per study
    (out / f"{tag}.json").write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
