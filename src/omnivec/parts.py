"""An experiment built in parts: each part (a training run, an evaluation) is its own folder and leaves a small
result file when it finishes, so a long table is built over several invocations and a killed run resumes at the
part it was in. Used by ``reproduce omnivec-label-scarce`` and ``reproduce-unival``."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omnivec import checkpoint as ckpt


class Parts:
    """One seed's parts under ``root``: run a part unless its result file says it finished."""

    def __init__(self, root: Path, log: Callable[[str], None], tag: str = "label-scarce") -> None:
        self.root, self.log, self.tag = root, log, tag
        (root / "parts").mkdir(parents=True, exist_ok=True)

    def done(self, name: str) -> dict[str, Any] | None:
        f = self.root / "parts" / f"{name.replace('/', '__')}.json"
        return json.loads(f.read_text()) if f.is_file() else None

    def run(self, name: str, fn: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        if (prior := self.done(name)) is not None:
            return prior
        folder = self.root / name
        if folder.exists():  # a part that was killed: its folder is incomplete, start it again
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        scores = fn(folder)
        result = {"scores": scores, "wall_s": time.perf_counter() - t0}
        ckpt.atomic_write_text(self.root / "parts" / f"{name.replace('/', '__')}.json", json.dumps(result, indent=2))
        self.log(f"[{self.tag}] {self.root.name}/{name}: {result['wall_s']:.0f}s {scores}")
        return result


__all__ = ["Parts"]
