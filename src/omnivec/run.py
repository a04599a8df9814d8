"""Run folders: save a model with its resolved config and tokenizer; load it back from the folder alone."""

from __future__ import annotations

from pathlib import Path

from omnivec import checkpoint as ckpt
from omnivec.config import RunConfig, load_yaml, save_yaml
from omnivec.errors import OmnivecError
from omnivec.model import OmniModel
from omnivec.tokenizer import TextTokenizer


def save_run(model: OmniModel, run_cfg: RunConfig, run_dir: str | Path) -> None:
    run_dir = Path(run_dir)
    run_cfg.model = model.cfg
    save_yaml(run_cfg, run_dir / ckpt.CONFIG)
    if model.tokenizer is not None:
        model.tokenizer.save(run_dir / ckpt.TOKENIZER)
    ckpt.save_weights(model.state_dict(), run_dir / ckpt.WEIGHTS, metadata={"format": "omnivec"})


def load_config(run_dir: str | Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise OmnivecError(f"run folder {run_dir} does not exist")
    return load_yaml(RunConfig, run_dir / ckpt.CONFIG)


def load_run(run_dir: str | Path, weights: str = ckpt.WEIGHTS) -> tuple[OmniModel, RunConfig]:
    """Rebuild the model from ``config.yaml`` and ``tokenizer.json`` and load its safetensors weights (or the EMA
    weights with ``weights=ckpt.EMA_WEIGHTS``). Keys and shapes must match exactly."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    tok_path = run_dir / ckpt.TOKENIZER
    tokenizer = TextTokenizer.load(tok_path) if tok_path.is_file() else None
    model = OmniModel(cfg.model, tokenizer)
    state = ckpt.load_weights(run_dir / weights)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or extra or bad:
        raise OmnivecError(
            f"{run_dir / weights} does not match {ckpt.CONFIG}: missing {missing[:5]}, "
            f"unexpected {extra[:5]}, shape mismatch {bad[:5]}"
        )
    model.load_state_dict(state)
    model.eval()
    return model, cfg


def load(path: str | Path) -> OmniModel:
    """``omnivec.load(run_dir)``: the trained model, in eval mode, with ``run_config`` attached."""
    model, cfg = load_run(path)
    model.run_config = cfg  # type: ignore[assignment]
    return model
