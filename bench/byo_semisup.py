"""A study beside the user's pretraining path (bench/byo_pretrain.py): fine-tuning with the masked objective
kept on the unlabelled folder, from the pretrained start and from random weights.

    OMNIVEC_DATA=../shared/data python bench/byo_semisup.py START|scratch WORK [--weight 1.0] [--steps N] [--set K=V]

``WORK`` is a folder ``bench/byo_pretrain.py`` left (``labelled/``, ``val/``, ``unlabelled/``, ``pt/``); START is a
pretrained run folder (e.g. ``WORK/pt``) or ``scratch``. Each step draws one batch of the labelled task (its
cross-entropy) and one batch of the unlabelled folder (the start's masked objective, decoder included, times
``--weight``), as the paper's multi-task steps mix tasks; the cpu preset's schedule otherwise, as ``omnivec
finetune`` / ``omnivec train``. Prints and writes (``--results``) the held-out accuracy. Not a command of the
library yet: the study decides whether it becomes one.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from omnivec.api.pretrain import (
    DECODER_WEIGHTS,
    PRETRAIN_CONFIG,
    MaskedAutoencoder,
    PretrainConfig,
    PretrainObjective,
    pretrain_streams,
)
from omnivec.api.train import evaluate_tasks, prepare_tasks, task_streams, train_tokenizer
from omnivec.api.user_data import add_byo, add_pretraining_data
from omnivec.config import apply_override, load_yaml, preset
from omnivec.experiments.ledger import provenance
from omnivec.nn.model import OmniModel
from omnivec.runs import save_run
from omnivec.training import checkpoint as ckpt
from omnivec.training.objective import SupervisedObjective
from omnivec.training.runner import Job, run_job
from omnivec.training.warm_start import source_model


class SemiSupervised(nn.Module):
    """The labelled task's loss plus ``weight`` x the masked objective on the unlabelled stream."""

    def __init__(self, mae: MaskedAutoencoder, labelled: str, unlabelled: str, modality: str, weight: float) -> None:
        super().__init__()
        self.model = mae
        self.supervised = SupervisedObjective(mae.omni)
        self.masked = PretrainObjective(mae, {unlabelled: modality})
        self.labelled, self.unlabelled, self.weight = labelled, unlabelled, weight

    def after_step(self, step: int, total: int) -> None:
        self.masked.after_step(step, total)

    def forward(self, batches: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        loss, logs = self.supervised({self.labelled: batches[self.labelled]})
        masked, more = self.masked({self.unlabelled: batches[self.unlabelled]})
        return loss + self.weight * masked, {**logs, **more}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("start", help="a pretrained run folder, or scratch")
    ap.add_argument("work", help="the folder bench/byo_pretrain.py left")
    ap.add_argument("--weight", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=0, help="0: the cpu preset's")
    ap.add_argument("--results", default="results/byo-pretrain")
    ap.add_argument("--tag", default="fashion-mnist-seed0")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, as the CLI's")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    work, prov, load_start = Path(a.work), provenance(), os.getloadavg()[0]
    schedule = preset("cpu").train
    if a.start == "scratch":
        model, cfg = None, preset("cpu")
    else:
        model, cfg = source_model(a.start)
        cfg.byo, cfg.train = {}, schedule
    if a.steps:
        cfg.train.max_steps = a.steps
    for assignment in a.set:
        cfg = apply_override(cfg, assignment)
    cfg.tasks = []
    labelled = add_byo(cfg, str(work / "labelled"), str(work / "val"))
    unlabelled = add_pretraining_data(cfg, str(work / "unlabelled"))
    prepared = prepare_tasks(cfg, [labelled, unlabelled])
    if model is None:
        cfg.model.tasks = []
        model = OmniModel(cfg.model, train_tokenizer(cfg, prepared))
    model.add_task(prepared[labelled].cfg)
    pretrained = a.start != "scratch"
    mae = MaskedAutoencoder(
        model, load_yaml(PretrainConfig, Path(a.start) / PRETRAIN_CONFIG) if pretrained else PretrainConfig()
    )
    if pretrained:
        ckpt.load_into(mae.decoder, Path(a.start) / DECODER_WEIGHTS)
    modality = prepared[labelled].cfg.modality
    cfg.tasks = [labelled]
    streams = {
        **task_streams(model, {labelled: prepared[labelled]}),
        **pretrain_streams(model, {unlabelled: prepared[unlabelled]}),
    }
    out = work / f"semisup-{a.start.replace('/', '_')}-w{a.weight}"
    job = Job(
        SemiSupervised(mae, labelled, unlabelled, str(modality), a.weight),
        streams,
        cfg.train,
        lambda step: [labelled, unlabelled],
        save=lambda d: save_run(model, cfg, d),
        evaluate=lambda _: evaluate_tasks(model, {labelled: prepared[labelled].splits.test}),
    )
    score = run_job(out, lambda info: job, seed=cfg.train.seed, progress=False)[labelled]["value"]
    print(f"{a.start} + masked objective x {a.weight} on the unlabelled folder: {score:.4f}")
    rec = {
        "start": a.start,
        "weight": a.weight,
        "steps": cfg.train.max_steps,
        "set": a.set,
        "accuracy": score,
        "load_avg_1min": {"start": load_start, "end": os.getloadavg()[0]},
        "note": a.note,
        **prov,
    }
    sets = "".join("-" + k.split(".")[-1] + v for k, _, v in (s.partition("=") for s in a.set))  # own record
    path = Path(a.results) / f"{a.tag}-semisup-{'pretrained' if pretrained else 'scratch'}-w{a.weight}{sets}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
