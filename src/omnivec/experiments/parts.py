"""An experiment built in parts: each part (a training run, an evaluation) is its own folder and leaves a small
result record when it finishes, so a long table is built over several invocations and a killed run resumes at the
part it was in. Used by ``reproduce omnivec-label-scarce`` and ``reproduce-unival``.

Records live in the work folder (``ROOT/parts/<name>.json``, lost with the session) and, when a
:class:`~omnivec.experiments.ledger.Ledger` is given, in the ledger too (committed, kept): a part recorded for its
current config in either is skipped. A part whose folder a later part reads (a pretrained checkpoint) is re-created in
the work folder when an earlier session made it, and its logged losses are checked against its record.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
from omnivec.experiments.ledger import Ledger, check_losses, config_hash, loss_trajectory, provenance
from omnivec.training import checkpoint as ckpt


@dataclass(frozen=True)
class Part:
    """One part: ``fn(folder)`` trains into ``folder`` and returns its scores."""

    name: str
    """Its folder under the work folder, e.g. ``labels-10/a-mnist``; also its file in the ledger."""
    fn: Callable[[Path], dict[str, Any]] = field(compare=False)
    config: dict[str, Any] = field(default_factory=dict)
    """What defines it (JSON values): a part recorded for another config is run again, and not rendered."""
    needs: tuple[Part, ...] = ()
    """Parts whose folders ``fn`` reads; their hashes belong in ``config`` (:meth:`ref`)."""

    @property
    def hash(self) -> str:
        return config_hash(self.config)

    def ref(self) -> str:
        """``name@hash``: how a dependent part's config names this one, so a changed start changes it too."""
        return f"{self.name}@{self.hash}"


class Parts:
    """One seed's parts under the work folder ``root``: run a part unless a record says it finished.
    ``about`` (seed, budget, ...) is copied into every record."""

    def __init__(
        self,
        root: Path,
        log: Callable[[str], None],
        tag: str = "label-scarce",
        ledger: Ledger | None = None,
        about: dict[str, Any] | None = None,
    ) -> None:
        self.root, self.log, self.tag, self.ledger, self.about = root, log, tag, ledger, dict(about or {})
        (root / "parts").mkdir(parents=True, exist_ok=True)

    def _local_path(self, name: str) -> Path:
        return self.root / "parts" / f"{name.replace('/', '__')}.json"

    def _local(self, part: Part) -> dict[str, Any] | None:
        f = self._local_path(part.name)
        rec = json.loads(f.read_text()) if f.is_file() else None
        return rec if rec is not None and rec.get("config_hash") == part.hash else None

    def _ledgered(self, part: Part) -> dict[str, Any] | None:
        return self.ledger.find(part.name, part.hash) if self.ledger else None

    def done(self, part: Part) -> dict[str, Any] | None:
        """The part's record for its current config: the ledger's, else the work folder's."""
        return self._ledgered(part) or self._local(part)

    def run(self, part: Part) -> dict[str, Any]:
        """The part's record, running it (after the folders it needs) when no record has its config."""
        if (rec := self._ledgered(part)) is not None:
            return rec
        if (rec := self._local(part)) is not None:
            if self.ledger:  # finished in this work folder before it had a ledger (or another one)
                self.ledger.write(rec)
            return rec
        if self.ledger and (old := self.ledger.read(part.name)) is not None:
            self.log(f"[{self.tag}] {self.root.name}/{part.name}: config {old.get('config_hash')} -> {part.hash}")
        for need in part.needs:
            self.materialize(need)
        rec = self._execute(part)
        if self.ledger:
            self.ledger.write(rec)
        self.log(f"[{self.tag}] {self.root.name}/{part.name}: {rec['wall_s']:.0f}s {rec['scores']}")
        return rec

    def materialize(self, part: Part) -> None:
        """Make sure the part's folder is in the work folder. One the ledger records but this session lacks is
        re-created (training is seeded, so it replays) and its losses checked against the record, which is
        kept as it is: it is the result the table shows."""
        if self._local(part) is not None:
            return
        recorded = self._ledgered(part)
        if recorded is None:
            self.run(part)
            return
        for need in part.needs:
            self.materialize(need)
        rec = self._execute(part)
        where = (
            f" (ledger: torch {recorded.get('torch')}, {recorded.get('threads')} threads, CPU "
            f"{recorded.get('cpu', 'not recorded')}; now: torch {rec['torch']}, {rec['threads']} threads, CPU "
            f"{rec.get('cpu')}: another CPU's kernels round differently, so a part re-created on another machine "
            "may not replay; run the parts built on it where it was recorded, or run it again)"
        )
        try:
            check_losses(part.name, recorded.get("losses", []), rec.get("losses", []), where=where)
        except OmnivecError:  # not done: a later call must not take this run for the recorded one
            self._local_path(part.name).unlink(missing_ok=True)
            raise
        checked = "losses match" if recorded.get("losses") else "no losses recorded to check"
        self.log(f"[{self.tag}] {self.root.name}/{part.name}: re-created in {rec['wall_s']:.0f}s, {checked}")

    def _execute(self, part: Part) -> dict[str, Any]:
        """Run ``part.fn`` into a fresh folder; write and return its record."""
        folder = self.root / part.name
        if folder.exists():  # a part that was killed: its folder is incomplete, start it again
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        scores = part.fn(folder)
        rec: dict[str, Any] = {
            "part": part.name,
            **self.about,
            "config_hash": part.hash,
            "config": part.config,
            "scores": scores,
            "wall_s": round(time.perf_counter() - t0, 1),
            **provenance(),
        }
        if losses := loss_trajectory(folder):
            rec["losses"] = losses
        ckpt.atomic_write_text(self._local_path(part.name), json.dumps(rec, indent=2))
        return rec


__all__ = ["Part", "Parts"]
