"""Text datasets: Banking77 (intent classification, CSV) and SciTLDR-A (summarization, JSONL with several
reference TLDRs per paper)."""

from __future__ import annotations

import json

from omnivec.data.base import SampleDataset, TaskSplits
from omnivec.data.datasets.cards import info
from omnivec.data.datasets.loading import LOADERS, subsample
from omnivec.data.datasets.verify import dataset_dir, verify_dataset
from omnivec.data.readers.text import read_table
from omnivec.data.root import StrPath
from omnivec.errors import DataError, OmnivecError
from omnivec.types import Modality


class SummaryDataset(SampleDataset):
    """SciTLDR split: sample = abstract, target = first TLDR; ``references`` keeps all TLDRs per paper."""

    def __init__(
        self,
        samples: list[str],
        references: list[list[str]],
        titles: list[str],
        paper_ids: list[str],
        name: str,
    ) -> None:
        super().__init__(Modality.TEXT, samples, [r[0] for r in references], (), name)
        self.references = references
        self.titles = titles
        self.paper_ids = paper_ids


def load_banking77(
    root: StrPath | None = None, *, limit: int | None = None, seed: int = 0, verify: bool = True
) -> TaskSplits:
    """Banking77: train 10,003 / test 3,080 queries; class = index in categories.json (77)."""
    folder = dataset_dir("banking77", root)
    if verify:
        verify_dataset("banking77", root, ["train.csv", "test.csv", "categories.json"])
    try:
        classes = json.loads((folder / "categories.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(folder / "categories.json", f"not a JSON list of intents ({e})") from None
    if not isinstance(classes, list) or len(set(classes)) != len(classes):
        raise DataError(folder / "categories.json", "expected a JSON list of distinct intent names")
    index = {c: i for i, c in enumerate(classes)}
    splits = {}
    for split in ("train", "test"):
        path = folder / f"{split}.csv"
        rows = read_table(path, required=("text", "category"))
        bad = sorted({r["category"] for r in rows} - set(index))
        if bad:
            raise DataError(path, f"categories not in categories.json: {bad[:5]}")
        keep = subsample(len(rows), limit, seed)
        texts = [rows[i]["text"] for i in keep]
        labels = [index[rows[i]["category"]] for i in keep]
        splits[split] = SampleDataset(Modality.TEXT, texts, labels, classes, f"banking77/{split}")
    meta = info("banking77")
    return TaskSplits(
        splits["train"], splits["test"], Modality.TEXT, "classification", classes, meta.description, "real"
    )


def load_scitldr_split(
    split: str, root: StrPath | None = None, *, limit: int | None = None, seed: int = 0, verify: bool = True
) -> SummaryDataset:
    """One SciTLDR-A split (train/dev/test): abstract (source sentences joined by spaces) -> first TLDR."""
    if split not in ("train", "dev", "test"):
        raise OmnivecError(f"scitldr splits are train, dev and test, not {split!r}")
    rel = f"SciTLDR-A/{split}.jsonl"
    path = dataset_dir("scitldr", root) / rel
    if verify:
        verify_dataset("scitldr", root, [rel])
    rows = read_table(path, required=("source", "target"))
    for n, r in enumerate(rows, 1):
        if not (isinstance(r["source"], list) and r["source"] and isinstance(r["target"], list) and r["target"]):
            raise DataError(path, f"record {n}: 'source' and 'target' must be non-empty lists of sentences")
    keep = subsample(len(rows), limit, seed)
    sel = [rows[i] for i in keep]
    return SummaryDataset(
        [" ".join(s.strip() for s in r["source"]) for r in sel],
        [list(r["target"]) for r in sel],
        [str(r.get("title", "")) for r in sel],
        [str(r.get("paper_id", "")) for r in sel],
        f"scitldr/{split}",
    )


def load_scitldr(
    root: StrPath | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    verify: bool = True,
    eval_split: str = "test",
) -> TaskSplits:
    """SciTLDR-A summarization: train (1,992) and ``eval_split`` (test 618 or dev 619). Targets are the first
    TLDR; the split's ``references`` hold every TLDR for ROUGE against multiple references."""
    train = load_scitldr_split("train", root, limit=limit, seed=seed, verify=verify)
    test = load_scitldr_split(eval_split, root, limit=limit, seed=seed, verify=verify)
    return TaskSplits(train, test, Modality.TEXT, "summarization", [], info("scitldr").description, "real")


LOADERS.register("banking77")(load_banking77)
LOADERS.register("scitldr")(load_scitldr)
