"""``omnivec info``: what a run folder of either family holds (sizes, encoders, tasks, step, scores)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt


def run_info(run: str | Path) -> dict[str, Any]:
    from omnivec.api.load import load_any
    from omnivec.families.registry import family
    from omnivec.nn.layers.attention import count_parameters

    model, cfg = load_any(run)
    fam = family(cfg.family)
    backbone = fam.backbone_config(cfg)
    info: dict[str, Any] = {
        "run": str(run),
        "family": cfg.family,
        "preset": cfg.preset,
        "parameters": count_parameters(model),
        "trunk": {
            "embed_dim": backbone.embed_dim,
            "depth": backbone.depth,
            "num_heads": backbone.num_heads,
            "vectorizer": backbone.vectorizer,
            "num_meta_tokens": backbone.num_meta_tokens,
        },
        "encoders": {m: spec.name for m, spec in backbone.encoders.items()},
    }
    info.update(fam.describe(cfg))
    if ckpt.has_state(Path(run)):
        info["step"] = _step(Path(run))
    evalf = Path(run) / "eval.json"
    if evalf.is_file():
        try:
            info["eval"] = {
                k: {"metric": v["metric"], "value": v["value"]} for k, v in json.loads(evalf.read_text()).items()
            }
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise OmnivecError(
                f"{evalf}: not an evaluation file ({type(e).__name__}: {e}); expected task -> {{metric, value}}"
            ) from None
    return info


def _step(run: Path) -> int:
    """The step of the run's newest checkpoint (its manifest), else of its train state."""
    found = ckpt.checkpoint_dirs(run)
    if found:
        return found[-1][0]
    state = ckpt.load_state(run / ckpt.TRAIN_STATE)
    step = state.get("step")
    if not isinstance(step, int) or isinstance(step, bool):
        raise OmnivecError(f"{run / ckpt.TRAIN_STATE}: step: expected an integer, got {step!r}")
    return step
