"""``omnivec export``: one modality's embedding path of a run as an ONNX file, verified with onnxruntime; a UnIVAL
task's greedy encoder-decoder as two ONNX graphs (``--task`` without ``--modality``); or (``--format hf``) the run
as a Hugging Face folder."""

from __future__ import annotations

import argparse
from typing import Any

from omnivec.cli.common import modality_names
from omnivec.errors import OmnivecError


def _shape_arg(value: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in value.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 3,32,32, got {value!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes like 3,32,32, got {value!r}")
    return shape


def cmd_export(a: argparse.Namespace) -> int:
    from pathlib import Path

    if a.format == "hf":
        return _export_hf(a)
    if a.modality is None and a.task:
        return _export_unival(a)
    if a.modality is None:
        raise OmnivecError("--modality is required for --format onnx (or --task TASK alone for a UnIVAL run)")
    from omnivec.api.export import TOLERANCE, export_run
    from omnivec.training.outputs import check_output_file

    if a.opset is not None and a.opset < 1:
        raise OmnivecError(f"--opset must be a positive ONNX opset version, got {a.opset}")
    check_output_file(Path(a.out), [Path(a.run)], a.overwrite)
    r = export_run(a.run, a.modality, a.out, task=a.task, opset=a.opset, shape=a.shape)
    size_mb = r.path.stat().st_size / 2**20
    print(f"wrote {r.path} ({size_mb:.1f} MiB, opset {r.opset}) in {r.export_s:.1f} s")
    width = max(len(n) for n, _, _ in r.inputs + r.outputs)
    for title, rows in (("inputs", r.inputs), ("outputs", r.outputs)):
        print(f"{title}:")
        for name, kind, dims in rows:
            print(f"  {name:{width}s}  {_elem(kind):7s}  [{', '.join(map(str, dims))}]")
    for note in r.notes:
        print(f"fixed: {note}")
    print(f"verified with onnxruntime against PyTorch in {r.verify_s:.1f} s (max abs diff, tolerance {TOLERANCE:g}):")
    for c in r.checks:
        print(f"  batch of shape {tuple(c.shape)}: {c.max_diff:.2e}")
    return 0


def _export_unival(a: argparse.Namespace) -> int:
    from omnivec.families.unival.onnx import export_unival

    info = export_unival(a.run, a.task, a.out)
    c = info["checked"]
    print(f"wrote {a.out}/encoder.onnx, decoder_step.onnx, tokenizer.json and export.json ({info['task']})")
    print(f"inputs of encoder.onnx: {', '.join(info['inputs'])}; decoding: {info['decoding']}")
    print(
        f"verified with onnxruntime against PyTorch on {c['samples']} inputs: first-step logits within "
        f"{c['first_step_max_diff']:.2e}, greedy answers equal"
    )
    return 0


def _export_hf(a: argparse.Namespace) -> int:
    from omnivec.hf.export import export_hf

    r = export_hf(a.run, a.out)
    what = f"a Hugging Face {r.architecture} folder" if r.format == "hf" else "an omnivec run folder"
    print(f"wrote {what} to {r.out}")
    for note in r.notes:
        print(f"  {note}")
    return 0


def _elem(kind: str) -> str:
    """onnxruntime's 'tensor(float)' -> 'float32'."""
    inner = kind.removeprefix("tensor(").removesuffix(")")
    return {"float": "float32", "double": "float64"}.get(inner, inner)


def register(sub: Any) -> None:
    x = sub.add_parser(
        "export",
        help="export a run's embedding path for one modality to ONNX, verified with onnxruntime",
        description="Inputs: the collated tensor (and int64 lengths for audio/text) -> (B, D) embeddings, as "
        "`omnivec embed` computes them. The batch axis is dynamic, and the length axis for audio/text; image and "
        "video sizes and the point count are fixed. Needs pip install 'omnivec[export]'.",
    )
    x.add_argument("run", help="run folder")
    x.add_argument(
        "--format",
        choices=["onnx", "hf"],
        default="onnx",
        help="onnx: one modality's embedding path; hf: a folder transformers loads (ViT, BERT, BART; "
        "docs/pretrained.md), else an omnivec run folder",
    )
    x.add_argument("--modality", choices=modality_names(), help="the modality to export (onnx)")
    x.add_argument(
        "--out", required=True, help="the .onnx file (onnx), or the folder (hf; a UnIVAL run's --task) to write"
    )
    x.add_argument("--overwrite", action="store_true", help="allow --out inside a run folder")
    x.add_argument("--opset", type=int, help="ONNX opset version (default: the exporter's)")
    x.add_argument(
        "--task",
        help="also output this task's head: classification logits, segmentation mask_logits (B, K, H, W) or a "
        "retrieval task's projection; for a UnIVAL run without --modality: its greedy encoder-decoder "
        "(encoder.onnx + decoder_step.onnx)",
    )
    x.add_argument(
        "--shape",
        type=_shape_arg,
        help="image C,H,W or video C,T,H,W: the fixed input size of the graph (default: the run's data)",
    )
    x.set_defaults(fn=cmd_export)
