"""ONNX export of a run's embedding path for one modality, verified against PyTorch with onnxruntime.

    EncoderInput tensor(s) --encoder--> Tokens (+ modality embedding) --prefix + trunk--> Features
        --vectorizer--> (B, D) "embeddings"   [--classification head--> (B, K) "logits" with ``task``]

This is what :meth:`OmniModel.embed` computes, as one graph for CPU/mobile runtimes. It is traced by
``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript). Axes: the batch is always dynamic; for the
variable-length modalities (audio waveforms, text token ids: the ones whose collate gives ``lengths``) axis 1 is
dynamic too and the valid length of each sample is a second int64 input, ``lengths``. Every other axis keeps the
example's size: image/video size (from the run's data, or a given shape) and the point count (``num_points``,
which collate resamples every cloud to). Raw-sample preprocessing (decoding, resampling, tokenizing, point
resampling) stays outside the graph, as it is outside ``forward`` in PyTorch.

Nothing is written unless onnxruntime reproduces ``model.embed`` within :data:`TOLERANCE` on the example and on a
batch of another size (and, for padded inputs, another length).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from omnivec.errors import OmnivecError
from omnivec.nn.model import OmniModel
from omnivec.training.checkpoint import atomic_write
from omnivec.types import EncoderInput, Modality

TOLERANCE = 1e-4
"""Largest max-abs difference between onnxruntime and PyTorch accepted by the verification."""

LENGTHS = "lengths"

HEAD_OUTPUTS = {"classification": "logits", "segmentation": "mask_logits", "retrieval": "projection"}
"""The graph output ``--task`` adds, per task kind: class logits (B, K); per-pixel class logits (B, K, H, W) at the
model's resolution; the retrieval task's unit projection (B, E), the space its two modalities share."""


class EmbeddingPath(nn.Module):
    """One modality's path through ``model`` as a module of plain tensors, the form an exporter traces."""

    def __init__(self, model: OmniModel, modality: str, task: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.modality = modality
        self.task = task

    def forward(self, data: Tensor, lengths: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        feats = self.model.forward_features(self.modality, EncoderInput(data, lengths))
        pooled = self.model.pool(feats)  # (B, D)
        if self.task is None:
            return pooled
        return pooled, self.model.heads[self.task](feats, pooled)[0]  # the head's first output: HEAD_OUTPUTS


class Check(NamedTuple):
    """One verification batch: its data shape and the largest |onnxruntime - PyTorch| over all outputs."""

    shape: tuple[int, ...]
    max_diff: float


class ExportReport(NamedTuple):
    path: Path
    opset: int
    inputs: list[tuple[str, str, list[int | str]]]
    """(name, element type, shape) per graph input; a str dimension is dynamic."""
    outputs: list[tuple[str, str, list[int | str]]]
    notes: list[str]
    """Which axes are fixed, and why."""
    checks: list[Check]
    export_s: float
    verify_s: float


def export_onnx(
    model_or_run: OmniModel | str | Path,
    modality: str,
    path: str | Path,
    example: EncoderInput | Sequence[Any] | None = None,
    *,
    task: str | None = None,
    opset: int | None = None,
) -> Path:
    """Export ``modality``'s embedding path of a model (or a run folder) to ``path`` and verify it; see
    :func:`export_run`."""
    return export_run(model_or_run, modality, path, example, task=task, opset=opset).path


def export_run(
    model_or_run: OmniModel | str | Path,
    modality: str,
    path: str | Path,
    example: EncoderInput | Sequence[Any] | None = None,
    *,
    task: str | None = None,
    opset: int | None = None,
    shape: Sequence[int] | None = None,
) -> ExportReport:
    """``example``: a collated batch or raw samples to trace with; by default dummy samples of the run's data size
    (or of ``shape``). ``task``: also output that task's head (:data:`HEAD_OUTPUTS`)."""
    ort = _require_onnx()
    model = model_or_run if isinstance(model_or_run, OmniModel) else _load(model_or_run)
    modality = _modality(model, modality)
    if task is not None:
        _check_task(model, modality, task)
    was = model.training
    model.eval()
    try:
        inp = _example_input(model, modality, example, shape)
        module = EmbeddingPath(model, modality, task)
        t0 = time.perf_counter()
        program = _trace(module, inp, opset)
        opset_used = _opset(program, opset)
        t1 = time.perf_counter()
        session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
        checks = [_check(session, module, batch) for batch in (inp, second_batch(inp))]
        verify_s = time.perf_counter() - t1
    finally:
        model.train(was)
    worst = max(checks, key=lambda c: c.max_diff)
    if not worst.max_diff <= TOLERANCE:  # NaN fails too
        raise OmnivecError(
            f"the ONNX graph differs from PyTorch by {worst.max_diff:.2e} (> {TOLERANCE:g}) on a batch of shape "
            f"{worst.shape}; nothing was written"
        )
    out = Path(path)
    atomic_write(out, lambda p: program.save(p, external_data=False))
    inputs = [(i.name, i.type, list(i.shape)) for i in session.get_inputs()]
    outputs = [(o.name, o.type, list(o.shape)) for o in session.get_outputs()]
    notes = _fixed_axes(model.encoder(modality), inputs)
    return ExportReport(out, opset_used, inputs, outputs, notes, checks, t1 - t0, verify_s)


# --------------------------------------------------------------------------------------------- steps


def _require_onnx() -> Any:
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise OmnivecError(
            f"ONNX export needs onnx, onnxscript and onnxruntime ({e.name} is missing): pip install 'omnivec[export]'"
        ) from None
    return onnxruntime


def _load(run: str | Path) -> OmniModel:
    """The run's OmniVec model; for a UnIVAL run, its shared encoders + trunk (the embedding path ``omnivec
    embed`` computes for it). Exported on the CPU: the graph is device-independent."""
    from omnivec.api.load import load
    from omnivec.families.registry import family

    model = load(run, device="cpu")
    return family(model.family).backbone(model)


def _modality(model: OmniModel, modality: str) -> str:
    model.encoder(modality)  # names the encoders the model does have
    return str(modality)


def _check_task(model: OmniModel, modality: str, task: str) -> None:
    cfg = model.task(task)
    if cfg.kind not in HEAD_OUTPUTS:
        raise OmnivecError(f"--task exports {', '.join(HEAD_OUTPUTS)} heads; {task!r} is a {cfg.kind} task")
    sides = (cfg.modality, cfg.pair_modality) if cfg.pair_modality else (cfg.modality,)
    if modality not in sides:
        raise OmnivecError(f"task {task!r} takes {' or '.join(sides)}, not {modality}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter warns about optional operator sets (torchvision) and deprecations the user cannot act on; a
    failed opset conversion is reported by :func:`export_run` itself."""
    logs = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def _trace(module: EmbeddingPath, inp: EncoderInput, opset: int | None) -> Any:
    name = module.model.encoder(module.modality).export_name
    if inp.lengths is None:
        args: tuple[Tensor, ...] = (inp.data,)
        names = [name]
        dynamic: tuple[dict[int, str], ...] = ({0: "batch"},)
    else:
        args = (inp.data, inp.lengths)
        names = [name, LENGTHS]
        dynamic = ({0: "batch", 1: "length"}, {0: "batch"})
    outputs = ["embeddings"] if module.task is None else ["embeddings", _head_output(module)]
    return _trace_module(module, args, names, outputs, list(dynamic), opset, f"the {module.modality} path")


def _trace_module(
    module: nn.Module,
    args: tuple[Tensor, ...],
    names: list[str],
    outputs: list[str],
    dynamic: list[dict[int, str]],
    opset: int | None = None,
    what: str = "the model",
) -> Any:
    """``torch.onnx.export(dynamo=True)`` of ``module`` on ``args`` with named inputs/outputs and dynamic axes;
    the exporter's pages-long errors become one line naming ``what`` (the cause chained)."""
    try:
        with _quiet():
            return torch.onnx.export(
                module,
                args,
                dynamo=True,
                input_names=names,
                output_names=outputs,
                dynamic_shapes=tuple(dynamic),
                opset_version=opset,
                verbose=False,
            )
    except Exception as e:  # the exporter's errors are many kinds and pages long: one line, the cause chained
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise OmnivecError(f"torch.onnx.export failed for {what}: {type(e).__name__}: {first}") from e


def _head_output(module: EmbeddingPath) -> str:
    assert module.task is not None
    return HEAD_OUTPUTS[module.model.task(module.task).kind]


def _opset(program: Any, requested: int | None) -> int:
    """The graph's opset; a requested one the exporter could not convert to is an error (it falls back quietly)."""
    used = int(next(o.version for o in program.model_proto.opset_import if o.domain in ("", "ai.onnx")))
    if requested is not None and used != requested:
        raise OmnivecError(
            f"the exporter could not convert the graph to opset {requested} (it gave {used}; LayerNormalization "
            "needs 17 or newer); nothing was written"
        )
    return used


@torch.no_grad()
def _check(session: Any, module: EmbeddingPath, batch: EncoderInput) -> Check:
    """Run onnxruntime on ``batch`` and compare with PyTorch's ``model.embed`` (and the head's logits)."""
    model, modality = module.model, module.modality
    feeds = {session.get_inputs()[0].name: batch.data.numpy()}
    if batch.lengths is not None:
        feeds[LENGTHS] = batch.lengths.numpy()
    got = session.run(None, feeds)
    want = [model.embed(modality, batch)]
    if module.task is not None and model.task(module.task).pair_modality:  # either side of a retrieval task
        want.append(model.embed(modality, batch, task=module.task))
    elif module.task is not None:
        want.append(model(module.task, batch)[0])
    diff = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want))
    return Check(tuple(batch.data.shape), diff)


def second_batch(inp: EncoderInput) -> EncoderInput:
    """The example's rows cycled to a batch two larger; for padded inputs also cut to the second-longest length
    (longer samples are truncated to it), so both dynamic axes take sizes the graph was not traced with."""
    B = inp.data.shape[0]
    idx = torch.arange(B + 2) % B
    data = inp.data[idx]
    if inp.lengths is None:
        return EncoderInput(data)
    lengths = inp.lengths[idx]
    shorter = lengths[lengths < lengths.max()]
    L = int(shorter.max()) if len(shorter) else data.shape[1]
    return EncoderInput(data[:, :L].contiguous(), lengths.clamp(max=L))


def _fixed_axes(encoder: Any, inputs: list[tuple[str, str, list[int | str]]]) -> list[str]:
    name, _, dims = inputs[0]
    notes = []
    if not isinstance(dims[0], str):
        notes.append(f"{name}: the exporter could not keep the batch axis dynamic; batches must have {dims[0]}")
    if len(inputs) > 1 and not isinstance(dims[1], str):  # a lengths input: the length axis should be dynamic
        notes.append(f"{name}: the exporter could not keep the length axis dynamic; inputs must have {dims[1]}")
    if encoder.fixed_size_why:
        fixed = "x".join(str(d) for d in dims[1:])
        notes.append(f"{name}: {fixed} is fixed ({encoder.fixed_size_why})")
    return notes


# --------------------------------------------------------------------------------------------- the example


def _example_input(
    model: OmniModel, modality: str, example: EncoderInput | Sequence[Any] | None, shape: Sequence[int] | None
) -> EncoderInput:
    if example is None:
        example = dummy_samples(model, modality, shape)
    inp = example if isinstance(example, EncoderInput) else model.collate(modality, example)
    if inp.data.shape[0] < 2:  # a traced batch of 1 would be specialised to 1
        inp = EncoderInput(inp.data.repeat_interleave(2, 0), None if inp.lengths is None else inp.lengths.repeat(2))
    return inp


def dummy_samples(model: OmniModel, modality: str, shape: Sequence[int] | None = None) -> list[Any]:
    """Three seeded random samples in the form ``collate`` takes (the encoder's ``example_samples``): images and
    clips of ``shape`` or of the run's data size; audio and text ones differ in length so the batch is padded."""
    g = torch.Generator().manual_seed(0)
    enc = model.encoder(modality)
    if shape and not enc.takes_shape:
        raise OmnivecError(
            f"--shape applies to fixed-size inputs (image, video), not {modality}: its sizes are dynamic or set by "
            "its encoder (points: num_points)"
        )
    samples = enc.example_samples(shape, g)
    if samples is None:
        samples = enc.example_samples(_data_shape(model, modality), g)
    assert samples is not None
    return samples


def _data_shape(model: OmniModel, modality: str) -> tuple[int, ...]:
    """The sample shape of the first of the run's tasks in ``modality`` whose data can be read."""
    from omnivec.data.base import Skipped
    from omnivec.data.task_catalog import get_task

    run_cfg = getattr(model, "run_config", None)
    tasks = [t.name for t in model.tasks.values() if t.modality == modality]
    if run_cfg is not None:
        small = dataclasses.replace(run_cfg, num_train=8, num_test=8, train_limit=8, test_limit=8)
        for name in tasks:
            try:
                test = get_task(name, small).build(small).test
            except OmnivecError:
                continue
            for i in range(len(test)):  # type: ignore[arg-type]
                sample = test[i][0]
                if not isinstance(sample, Skipped):
                    return tuple(torch.as_tensor(sample).shape)
    raise OmnivecError(
        f"cannot tell the {modality} input size from the run's data ({', '.join(tasks) or 'no ' + modality + ' task'}):"
        f" pass --shape ({'C,H,W' if modality == Modality.IMAGE else 'C,T,H,W'}) or example samples"
    )
