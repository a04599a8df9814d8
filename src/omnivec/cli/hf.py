"""``omnivec import PATH --out RUN``: a local Hugging Face model folder as an omnivec run folder."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_import(a: argparse.Namespace) -> int:
    from omnivec.hf import ImportOptions, import_hf

    r = import_hf(a.path, a.out, ImportOptions(num_bins=a.num_bins))
    print(f"imported {r.model_type} from {a.path} into {r.out} ({r.family} run, {r.converted} tensors converted)")
    if r.fresh:
        shown = ", ".join(r.fresh[:6]) + (" ..." if len(r.fresh) > 6 else "")
        print(f"  initialised fresh ({len(r.fresh)}): {shown}")
    if r.not_converted:
        shown = ", ".join(r.not_converted[:6]) + (" ..." if len(r.not_converted) > 6 else "")
        print(f"  not converted ({len(r.not_converted)}): {shown}")
    for note in r.notes:
        print(f"  {note}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "import",
        help="convert a local Hugging Face folder (ViT, ViT-MAE, BERT, BART, AST) into a run folder",
        description="Reads config.json, model.safetensors (or pytorch_model.bin, weights only), the tokenizer "
        "and preprocessor files; nothing is downloaded. The run folder has no task heads: train it with "
        "`omnivec finetune RUN`, `omnivec train --init RUN` or (BART) `omnivec unival finetune RUN`.",
    )
    p.add_argument("path", help="the Hugging Face model folder")
    p.add_argument("--out", required=True, help="the run folder to write (new or empty)")
    p.add_argument("--num-bins", type=int, default=1000, help="BART: location tokens to append (UnIVAL's 1000)")
    p.set_defaults(fn=cmd_import)
