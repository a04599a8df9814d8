"""Banking77 under the full-budget protocol, one recipe per call: the full-budget row's config
(``experiments/full_budget.full_budget_config``: the quickstart's model, 64 queries per step, the best step chosen
on a seeded 10 % of the training split) with the ``--set`` overrides given, and the optional masked pretraining
start. Prints the validation split's best score and step, and the test accuracy of that step and of the last one:
the rows of docs/results.md, "Banking77", each re-run by the command beside it.

    python bench/banking77_recipes.py OUT [--steps 1500] [--seed 0] [--init PRETRAINED_RUN] [--set KEY=VALUE ...]
    python bench/banking77_recipes.py /tmp/b77-ls --set model.label_smoothing=0.1

A recipe is chosen by its validation score, never by the test split's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from omnivec.api.evaluate import evaluate_run
from omnivec.api.train import train
from omnivec.config import apply_override
from omnivec.data.root import require_root
from omnivec.experiments.full_budget import FULL_BUDGET, full_budget_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=FULL_BUDGET["banking77"][0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default=None, help="a pretrained run folder to start from (omnivec pretrain)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a = p.parse_args()
    cfg = full_budget_config("banking77", str(require_root()), a.seed, a.steps, FULL_BUDGET["banking77"][1])
    for assignment in a.set:
        cfg = apply_override(cfg, assignment)
    t0 = time.perf_counter()
    train(cfg, a.out, progress=False, init=a.init)
    seconds = round(time.perf_counter() - t0)
    rows = [json.loads(line) for line in (Path(a.out) / "validation.jsonl").read_text().splitlines()]
    best = max(rows, key=lambda r: r["score"])  # the first step of the best score, as training/selection.py keeps
    result = {
        "sets": a.set,
        "init": a.init,
        "steps": a.steps,
        "seed": a.seed,
        "val_best": best["score"],
        "val_best_step": best["step"],
        "test_selected": round(evaluate_run(Path(a.out) / "best")["banking77"]["value"], 4),
        "test_last": round(evaluate_run(a.out)["banking77"]["value"], 4),
        "seconds": seconds,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
