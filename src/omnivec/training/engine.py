"""One training engine for train, pretrain and finetune.

An *objective* is an ``nn.Module`` holding the model whose ``forward(batches)`` turns one step's batches (a dict
keyed by stream name) into ``(loss, logs)``; the engine owns everything else: AdamW with warmup + cosine decay,
gradient accumulation and clipping, data parallelism under ``torchrun`` (DDP on the objective: gloo on CPU, nccl
on CUDA), autocast per ``train.precision`` (bf16 on CUDA by default; on CPU bf16 is slower than fp32), optional
activation checkpointing, an optional EMA of the weights, a JSONL log (and TensorBoard, CSV), a progress bar, and
atomic checkpoints that ``resume`` continues bit for bit.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from omnivec.config import TrainConfig
from omnivec.data.stream import BatchStream
from omnivec.training import checkpoint as ckpt
from omnivec.training.device import PRECISIONS as PRECISIONS  # re-exported: callers import them from here
from omnivec.training.device import autocast_dtype
from omnivec.training.distributed import DistInfo as DistInfo
from omnivec.training.distributed import default_device as default_device
from omnivec.training.distributed import end_rank as end_rank
from omnivec.training.distributed import init_distributed as init_distributed
from omnivec.training.distributed import leave_process_group as leave_process_group
from omnivec.training.distributed import rank_device as rank_device
from omnivec.training.ema import EMA
from omnivec.training.logs import CSV, TensorBoardLog, check_log_formats, truncate_log, write_csv
from omnivec.training.logs import plot_losses as plot_losses  # re-exported: callers import them from here
from omnivec.training.logs import read_log as read_log
from omnivec.training.optim import lr_at, make_optimizer
from omnivec.training.selection import VALIDATION, Selection, repair_best, write_best
from omnivec.training.state_check import check_weights
from omnivec.types import to_device


@dataclass
class TrainState:
    step: int = 0
    samples: int = 0
    elapsed: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class Engine:
    """Runs ``objective`` over ``streams`` with ``schedule(step) -> stream names for that step``."""

    def __init__(
        self,
        objective: nn.Module,
        streams: dict[str, BatchStream],
        cfg: TrainConfig,
        run_dir: Path,
        schedule: Callable[[int], list[str]],
        dist_info: DistInfo | None = None,
        save_model: Callable[[Path], None] | None = None,
        log_name: str = ckpt.METRICS,
        progress: bool = True,
        validate: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.objective = objective
        self.model: nn.Module = objective.model  # type: ignore[assignment]
        self.streams = streams
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.schedule = schedule
        self.dist = dist_info or DistInfo()
        self.save_model = save_model
        self.log_path = self.run_dir / log_name
        self.progress = progress
        self.validate = validate  # () -> {"score": ..., task: value}, main rank only (training/selection.py)
        self.selection = Selection()
        self.device = next(self.model.parameters()).device
        self.autocast_dtype = autocast_dtype(cfg.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.autocast_dtype == torch.float16 else None
        for m in self.model.modules():  # the trunk and the decoders recompute their blocks in the backward
            if hasattr(m, "grad_checkpoint"):
                setattr(m, "grad_checkpoint", cfg.grad_checkpoint)  # noqa: B010 -- a plain flag, not a submodule
        self.optimizer = make_optimizer(self.model, cfg)
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.state = TrainState()
        self.saved_step: int | None = None
        self.wrapped: nn.Module = objective
        if self.dist.world_size > 1:
            self.wrapped = nn.parallel.DistributedDataParallel(
                objective,
                device_ids=[self.device] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        check_log_formats(cfg.log_formats)
        self.tensorboard: TensorBoardLog | None = None  # opened by fit, once the first step to log is known
        self.skip_log = self.run_dir / "skipped.jsonl"
        self._reported: set[tuple[Any, Any, Any]] | None = None
        for s in streams.values():
            s.on_epoch_end = self._report_skipped

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.state.step,
            "samples": self.state.samples,
            "elapsed": self.state.elapsed,
            "optimizer": self.optimizer.state_dict(),
            "streams": {k: s.state_dict() for k, s in self.streams.items()},
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            **({"grad_scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
            "selection": self.selection.state_dict(),
        }

    def save_checkpoint(self) -> None:
        """Weights, EMA, optimizer, RNG and stream state as one checkpoint (:func:`omnivec.training.checkpoint.
        write_checkpoint`): a crash at any instant leaves the previous complete checkpoint or this one. A step
        already on disk is not written again (the last periodic checkpoint and the final one coincide)."""
        if not self.dist.is_main or self.saved_step == self.state.step:
            return

        def fill(folder: Path) -> None:
            if self.save_model is not None:
                self.save_model(folder)
            if self.ema is not None:
                ckpt.save_weights(self.ema.shadow, folder / ckpt.EMA_WEIGHTS)
            ckpt.save_state(self.state_dict(), folder / ckpt.TRAIN_STATE)

        ckpt.write_checkpoint(self.run_dir, self.state.step, fill, keep=self.cfg.keep_checkpoints)
        self.saved_step = self.state.step
        if "csv" in self.cfg.log_formats:
            write_csv(self.log_path, self.run_dir / CSV)

    def resume_from(self, path: Path) -> None:
        """Load the train state at ``path`` after checking every tensor and counter of it against this engine's
        optimizer, parameters, streams and RNG (:func:`omnivec.training.state_check.check_train_state`), then drop the
        metrics lines a crash left beyond its step."""
        from omnivec.training.state_check import check_train_state

        state = ckpt.load_state(path)
        check_train_state(state, self.optimizer, self.streams, path)
        self.load_checkpoint(state)
        self.selection = Selection.from_state(state.get("selection"), path)
        self.saved_step = self.state.step
        if self.dist.is_main:
            truncate_log(self.log_path, self.state.step)
            truncate_log(self.run_dir / VALIDATION, self.state.step)
            repair_best(self.run_dir, self.selection, self.state.step)

    def load_checkpoint(self, state: dict[str, Any]) -> None:
        """Apply a train state already checked by :meth:`resume_from`."""
        self.state.step = int(state["step"])
        self.state.samples = int(state["samples"])
        self.state.elapsed = float(state["elapsed"])
        self.optimizer.load_state_dict(state["optimizer"])
        for k, s in self.streams.items():
            if k in state["streams"]:
                s.load_state_dict(state["streams"][k])
        if self.scaler is not None and "grad_scaler" in state:  # fp16's loss scale continues where it was
            self.scaler.load_state_dict(state["grad_scaler"])
        torch.set_rng_state(state["rng_cpu"])
        if torch.cuda.is_available() and state.get("rng_cuda"):
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        if self.ema is not None and (self.run_dir / ckpt.EMA_WEIGHTS).is_file():
            shadow = ckpt.load_weights(self.run_dir / ckpt.EMA_WEIGHTS)
            check_weights(shadow, self.ema.shadow, self.run_dir / ckpt.EMA_WEIGHTS, "the model's EMA")
            self.ema.shadow = {k: shadow[k].to(v.device, v.dtype) for k, v in self.ema.shadow.items()}

    # ------------------------------------------------------------------ the loop

    def _report_skipped(self, stream: BatchStream, skipped: list[Any]) -> None:
        """Append each unreadable file (or TSV row: its reason names the line) to ``skipped.jsonl`` once, the
        first time it is met: a file unreadable in one epoch is unreadable in every epoch, and writing it per
        visit filled disks."""
        if not skipped or not self.dist.is_main:
            return
        if self._reported is None:
            self._reported = {(r.get("stream"), r.get("path"), r.get("reason")) for r in read_log(self.skip_log)}
        new = [s for s in dict.fromkeys(skipped) if (stream.name, s.path, s.reason) not in self._reported]
        if not new:
            return
        tqdm.write(f"[{stream.name}] epoch {stream.epoch}: skipped {len(new)} unreadable file(s), see {self.skip_log}")
        with open(self.skip_log, "a") as f:
            for s in new:
                self._reported.add((stream.name, s.path, s.reason))
                f.write(
                    json.dumps({"stream": stream.name, "epoch": stream.epoch, "path": s.path, "reason": s.reason})
                    + "\n"
                )

    def _to_device(self, batch: Any) -> Any:
        return to_device(batch, self.device)

    def _micro_step(self, names: list[str], sync: bool) -> tuple[float, dict[str, float], int]:
        batches = {n: self._to_device(next(self.streams[n])) for n in names}
        n_samples = sum(_batch_size(b) for b in batches.values())
        dtype = self.autocast_dtype
        autocast = torch.autocast(self.device.type, dtype=dtype) if dtype is not None else nullcontext()
        no_sync = (
            self.wrapped.no_sync()
            if not sync and isinstance(self.wrapped, nn.parallel.DistributedDataParallel)
            else nullcontext()
        )
        with no_sync:
            with autocast:
                loss, logs = self.wrapped(batches)
            scaled = loss / self.cfg.grad_accum
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        return loss.item(), logs, n_samples

    def fit(self, stop_at: int = 0) -> TrainState:
        """Train to ``cfg.max_steps``, or stop after step ``stop_at`` (> 0) with a checkpoint there: the schedule is
        still the full run's, so resuming the folder later continues it as if it had never stopped (a long run
        trained in pieces, e.g. the ledger parts of ``reproduce-unival``)."""
        cfg = self.cfg
        end = min(cfg.max_steps, stop_at) if stop_at > 0 else cfg.max_steps
        self.objective.train()
        bar = tqdm(
            total=cfg.max_steps,
            initial=self.state.step,
            disable=not (self.progress and self.dist.is_main),
            dynamic_ncols=True,
            desc="train",
        )
        if "tensorboard" in cfg.log_formats and self.dist.is_main and self.tensorboard is None:
            # a resumed run hides what an interrupted one logged after its checkpoint, as the JSONL was truncated
            self.tensorboard = TensorBoardLog(self.run_dir, purge_step=self.state.step + 1 if self.state.step else None)
        try:
            self._steps(end, bar)
        except BaseException:
            self.close_logs()  # what was logged before the failure reaches TensorBoard's files
            raise
        bar.close()
        self.save_checkpoint()
        self.close_logs()
        return self.state

    def _steps(self, end: int, bar: tqdm) -> None:
        """The optimizer steps up to ``end`` (or the seconds budget, or early stopping), each logged, validated
        and checkpointed as the config says."""
        cfg = self.cfg
        window_t, window_n = time.perf_counter(), 0
        while (
            self.state.step < end
            and not (cfg.max_seconds > 0 and self.state.elapsed >= cfg.max_seconds)
            and not self.selection.exhausted(cfg.patience)
        ):
            step = self.state.step
            t0 = time.perf_counter()
            lr = lr_at(step, cfg, self.state.elapsed)
            frozen = step < cfg.head_only_steps  # LP-FT: the heads learn alone first
            for g in self.optimizer.param_groups:
                g["lr"] = 0.0 if frozen and not g.get("follows_trunk", True) else lr * g.get("lr_scale", 1.0)
            names = self.schedule(step)
            losses: list[float] = []
            logs: dict[str, float] = {}
            n = 0
            for micro in range(cfg.grad_accum):
                loss, logs_i, n_i = self._micro_step(names, sync=micro == cfg.grad_accum - 1)
                losses.append(loss)
                n += n_i
                logs = {k: logs.get(k, 0.0) + v / cfg.grad_accum for k, v in logs_i.items()}
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            grad_norm = (
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                if cfg.grad_clip > 0
                else torch.tensor(0.0)
            )
            if self.scaler is not None:  # skips the step when the scaled gradients overflowed, then adjusts
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            n = self._samples_across_ranks(n)
            self.state.step += 1
            if self.ema is not None:
                self.ema.update(self.model, self.state.step)
            if (after_step := getattr(self.objective, "after_step", None)) is not None:
                after_step(self.state.step, cfg.max_steps)  # e.g. a latent-target teacher follows the model
            self.state.samples += n
            self.state.elapsed += time.perf_counter() - t0
            window_n += n
            loss_mean = sum(losses) / len(losses)
            if not math.isfinite(loss_mean):
                raise FloatingPointError(f"loss became {loss_mean} at step {step}; lower --lr or check the data")
            last = self.state.step == end or (cfg.max_seconds > 0 and self.state.elapsed >= cfg.max_seconds)
            if self.state.step % cfg.log_every == 0 or last:
                dt = time.perf_counter() - window_t
                rec = {
                    "step": self.state.step,
                    "samples": self.state.samples,
                    "lr": lr,
                    "loss": loss_mean,
                    "grad_norm": float(grad_norm),
                    "samples_per_s": window_n / max(dt, 1e-9),
                    "tasks": ",".join(names),
                    **logs,
                }
                self._log(rec)
                bar.set_postfix(loss=f"{loss_mean:.3f}", sps=f"{rec['samples_per_s']:.0f}")
                window_t, window_n = time.perf_counter(), 0
            bar.update(1)
            final = self.state.step >= cfg.max_steps or (cfg.max_seconds > 0 and self.state.elapsed >= cfg.max_seconds)
            if self.validate is not None and cfg.eval_every and (self.state.step % cfg.eval_every == 0 or final):
                self._validate()  # before the periodic checkpoint, which then holds the updated selection
            if cfg.checkpoint_every and self.state.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()

    def _validate(self) -> None:
        """Score the model on the validation split (main rank), log it, and on a new best write a checkpoint and
        ``best/`` from it (training/selection.py); every rank learns the outcome, so all stop together."""
        step = self.state.step
        rng = torch.get_rng_state()  # training continues on the random numbers it would have drawn without this
        t0 = time.perf_counter()
        scores = self.validate() if self.dist.is_main and self.validate is not None else {}
        seconds = round(time.perf_counter() - t0, 2)
        torch.set_rng_state(rng)
        self.objective.train()
        box: list[Any] = [scores]
        if self.dist.world_size > 1:
            dist.broadcast_object_list(box, src=0)
        scores = box[0]
        improved = self.selection.observe(step, float(scores["score"]))
        if self.dist.is_main:
            with open(self.run_dir / VALIDATION, "a") as f:
                f.write(
                    json.dumps({"step": step, **scores, "best_step": self.selection.best_step, "seconds": seconds})
                    + "\n"
                )
            if self.tensorboard is not None:
                self.tensorboard.write({"step": step, **{f"val/{k}": v for k, v in scores.items()}})
            best = f"{self.selection.best_score:.4f} at step {self.selection.best_step}"
            tqdm.write(f"step {step}: validation score {scores['score']:.4f} (best {best})")
        if improved:
            self.save_checkpoint()
            if self.dist.is_main:
                write_best(self.run_dir, step, scores)

    def close_logs(self) -> None:
        """Flush and close the TensorBoard writer (``fit`` does at its end; a run that stops early may too)."""
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None

    def _samples_across_ranks(self, n: int) -> int:
        """This step's samples summed over the ranks (they differ when some rank dropped unreadable samples)."""
        if self.dist.world_size == 1:
            return n
        total = torch.tensor([n], dtype=torch.long, device=self.device)
        dist.all_reduce(total)
        return int(total.item())

    def report_unfinished_epochs(self) -> None:
        """Report the samples skipped so far in each stream's current, unfinished epoch (the last one of a run):
        finished epochs were reported as they ended."""
        for stream in self.streams.values():
            if stream.skipped:
                self._report_skipped(stream, stream.skipped)

    def _log(self, rec: dict[str, Any]) -> None:
        self.state.history.append({k: v for k, v in rec.items() if isinstance(v, (int, float))})
        if self.dist.is_main:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            if self.tensorboard is not None:
                self.tensorboard.write(rec)


def _batch_size(batch: Any) -> int:
    x = batch
    while isinstance(x, (tuple, list)) and x:
        x = x[0]
    if isinstance(x, dict):
        return _batch_size(next(iter(x.values())))
    return int(x.shape[0]) if isinstance(x, Tensor) else 1
