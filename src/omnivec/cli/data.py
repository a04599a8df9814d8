"""`omnivec data list | check | prepare | download`.

``data check`` also accepts a path (a bring-your-own folder or manifest): every file is decoded and each
unreadable one is named with its reason. Any problem makes the command exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from omnivec.cli.common import modality_names
from omnivec.config import comma_list
from omnivec.config.validate import non_negative_int
from omnivec.errors import OmnivecError


def _root(a: argparse.Namespace) -> str | None:
    return a.data_root or os.environ.get("OMNIVEC_DATA") or None


def cmd_list(a: argparse.Namespace) -> int:
    from omnivec.data.datasets.cards import info
    from omnivec.data.datasets.verify import list_datasets
    from omnivec.data.real_tasks import NEEDS, present_tasks
    from omnivec.data.root import resolve_root

    root = resolve_root(_root(a))
    present = list_datasets(root)
    tasks = present_tasks(str(root) if root else None)
    if a.json:
        print(json.dumps({"root": str(root) if root else None, "datasets": present, "tasks": tasks}, indent=2))
        return 0
    print(f"data root: {root if root else '(none: pass --data-root or set OMNIVEC_DATA)'}")
    print(f"{'dataset':15s} {'present':8s} {'folder':15s} description")
    for name, ok in present.items():
        meta = info(name)
        print(f"{name:15s} {'yes' if ok else 'no':8s} {meta.folder + '/':15s} {meta.description}")
    print(f"\n{'task':15s} {'ready':8s} needs")
    for t, ok in tasks.items():
        print(f"{t:15s} {'yes' if ok else 'no':8s} {', '.join(NEEDS[t])}")
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    from omnivec.data.datasets.cards import DATASETS
    from omnivec.data.datasets.verify import check, list_datasets

    bad = 0
    targets = a.names or [n for n, ok in list_datasets(_root(a)).items() if ok]
    if not targets:
        raise OmnivecError("no datasets found to check; pass --data-root DIR or set OMNIVEC_DATA, or name a path")
    for name in targets:
        if name not in DATASETS and Path(name).exists():
            bad += _check_path(name, a.modality)
            continue
        report = check(name, _root(a), decode=not a.no_decode)
        print(report.summary())
        bad += len(report.problems)
    if bad:
        print(f"{bad} problem(s) found")
    return 1 if bad else 0


def _check_path(path: str, modality: str | None) -> int:
    from omnivec.data.byo import load_byo, scan

    ds = load_byo(path, **({"modality": modality} if modality else {}))
    bad = scan(ds)
    if not bad:
        print(f"{path}: {len(ds)} {ds.modality.value} file(s) in {len(ds.class_names)} classes, all readable")
    else:
        print(f"{path}: {len(bad)} of {len(ds)} file(s) unreadable:")
        for s in bad:
            print(f"  {s.path}: {s.reason}")
    return len(bad)


def cmd_prepare(a: argparse.Namespace) -> int:
    from omnivec.data.prepare import prepare

    rates = tuple(int(r) for r in comma_list(a.sample_rates))
    out = prepare(_root(a), a.cache_dir, seed=a.seed, sample_rates=rates)
    if not out:
        print("nothing to prepare: no fsdd or mnist under the data root")
    for name, path in out.items():
        print(f"{name:28s} {path}")
    return 0


def cmd_download(a: argparse.Namespace) -> int:
    from omnivec.data.datasets.download import download

    for name in a.names:
        folder = download(name, _root(a), urls=a.mirror or None, progress=not a.quiet)
        print(f"{name}: verified in {folder}")
    return 0


def register(sub: Any) -> None:
    d = sub.add_parser("data", help="real datasets: list, check, prepare caches, download")
    dsub = d.add_subparsers(dest="data_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-root", help="folder holding the datasets (default: $OMNIVEC_DATA)")

    p = dsub.add_parser("list", help="every dataset and task, and whether its data is present")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_list)

    p = dsub.add_parser("check", help="verify checksums and decode every file; exit 1 naming each bad one")
    common(p)
    p.add_argument("names", nargs="*", help="dataset names or bring-your-own paths (default: every present one)")
    p.add_argument("--modality", choices=modality_names(), help="for a path")
    p.add_argument("--no-decode", action="store_true", help="checksums only")
    p.set_defaults(fn=cmd_check)

    p = dsub.add_parser("prepare", help="build the decoded caches (FSDD audio, MNIST scenes)")
    common(p)
    p.add_argument("--cache-dir", help="default: $OMNIVEC_CACHE or ~/.cache/omnivec")
    p.add_argument("--sample-rates", default="8000,16000", help="FSDD resample rates, comma-separated")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.set_defaults(fn=cmd_prepare)

    p = dsub.add_parser("download", help="fetch datasets from their canonical URLs (resumable, sha256-checked)")
    common(p)
    p.add_argument("names", nargs="+")
    p.add_argument("--mirror", help="a base URL serving <base>/<file path> instead of the canonical URLs")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=cmd_download)
