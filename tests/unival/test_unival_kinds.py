"""Seq2seq task kinds: every registered kind scores a perfect answer at its best and a wrong one lower, its
decoding constraints reach generation (grounding: exactly four location tokens), its output format (grounding:
a box in pixels; the rest: text); and a task registered here, in the test only, trains, evaluates and generates
through the ordinary UnIVAL entry points: a task is one place. No real data needed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from omnivec.api.evaluate import evaluate_run
from omnivec.api.task_list import list_tasks
from omnivec.families.unival.config import UnivalRunConfig, unival_preset
from omnivec.families.unival.model import UnivalModel, load_unival
from omnivec.families.unival.prompts import caption_prompt
from omnivec.families.unival.task_registry import SEQ2SEQ_TASKS, Seq2SeqDataset, Seq2SeqTask, register
from omnivec.families.unival.tasks import get_seq2seq_task
from omnivec.families.unival.train import finetune
from omnivec.registry import Registry
from omnivec.tasks import SEQ2SEQ_KINDS, TASK_KINDS, Decoding, Seq2SeqKind, seq2seq_kind
from omnivec.tasks.base import Kind
from omnivec.tasks.locations import Detection, Grounding, parse_bins, parse_detections, tokens_to_pixel_box
from omnivec.tasks.seq2seq import TeacherForced
from omnivec.training.objective import SupervisedObjective

NUM_BINS = 8
KINDS = SEQ2SEQ_KINDS.names()

# kind -> (references, a perfect answer per reference, a wrong answer per reference)
EXAMPLES: dict[str, tuple[list[Any], list[str], list[str]]] = {
    "captioning": (
        ["a 7 at the top", "a 1 at the left and a 3 at the right", "a 4 at the centre"],
        ["a 7 at the top", "a 1 at the left and a 3 at the right", "a 4 at the centre"],
        ["a 2 at the bottom", "a 9", "nothing"],
    ),
    "vqa": (["7", "three", "yes"], ["7", "three", "yes"], ["1", "two", "no"]),
    "grounding": (
        [torch.tensor([1 / 7, 2 / 7, 5 / 7, 6 / 7]), torch.tensor([0.0, 0.0, 3 / 7, 3 / 7])],
        ["<bin_1><bin_2><bin_5><bin_6>", "<bin_0><bin_0><bin_3><bin_3>"],
        ["<bin_0><bin_0><bin_1><bin_1>", "the 7"],  # a box elsewhere; a malformed answer is no box
    ),
    "matching": (["yes", "no", "maybe"], ["yes", "no", "maybe"], ["no", "yes", "yes"]),
    "classification": (["two", "four"], ["two", "four"], ["four", "three"]),
    "grounded_captioning": (["a 7", "an 8"], ["a 7", "an 8"], ["a 1", "a 7"]),
    "detection": (
        [[((1 / 7, 2 / 7, 5 / 7, 6 / 7), "7")], [((0.0, 0.0, 3 / 7, 3 / 7), "1"), ((4 / 7, 4 / 7, 1.0, 1.0), "3")]],
        ["<bin_1><bin_2><bin_5><bin_6> 7", "<bin_0><bin_0><bin_3><bin_3> 1 <bin_4><bin_4><bin_7><bin_7> 3"],
        ["<bin_1><bin_2><bin_5><bin_6> 1", "<bin_4><bin_4><bin_7><bin_7> 1 <bin_0><bin_0>"],  # wrong name; swapped
    ),
    "summarization": (
        [["we propose a new loss for training"], ["a model of scenes", "scenes modelled"]],
        ["we propose a new loss for training", "a model of scenes"],
        ["zebra", "quantum"],
    ),
}


def tiny_model() -> UnivalModel:
    torch.manual_seed(0)
    cfg = unival_preset("tiny", num_bins=NUM_BINS)
    texts = ["a 7 at the top", "the 7", "what does the image describe?", "yes no", "how many digits"] * 5
    return UnivalModel(cfg.model, UnivalModel.train_tokenizer(texts, 300, NUM_BINS))


@pytest.fixture(scope="module")
def model() -> UnivalModel:
    return tiny_model()


def raw_input(task: Seq2SeqTask, image: torch.Tensor) -> Any:
    """An input of ``task``: the document for text tasks; the sample, paired with text when its kind says so."""
    if task.modality == "text":
        return "we study scenes of digits and propose a model of them"
    sample = {"image": image, "video": torch.rand(1, 8, 64, 64), "audio": torch.randn(8000) * 0.1}[task.modality]
    return (sample, "the 7") if seq2seq_kind(task.kind).input_text else sample


def task_of(kind: str) -> Seq2SeqTask:
    """A built-in (not TSV) task of ``kind``."""
    return next(t for n, t in SEQ2SEQ_TASKS.items() if t.kind == kind and t.source != "tsv")


def test_every_kind_is_covered_and_uses_the_shared_registry() -> None:
    assert isinstance(SEQ2SEQ_KINDS, Registry) and isinstance(TASK_KINDS, Registry)
    assert isinstance(SEQ2SEQ_TASKS, Registry)
    assert set(EXAMPLES) == set(KINDS) == {t.kind for _, t in SEQ2SEQ_TASKS.items()}
    for name in KINDS:
        assert isinstance(seq2seq_kind(name), Seq2SeqKind)
    with pytest.raises(ValueError, match="unknown kind"):
        Seq2SeqTask("bad", "poetry", "image", "", lambda cfg: (None, None), lambda x: ("", x))  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("name", KINDS)
def test_kind_scores_a_perfect_answer_at_its_best_and_a_wrong_one_lower(name: str) -> None:
    kind = seq2seq_kind(name)
    refs, perfect, wrong = EXAMPLES[name]
    best = kind.score(perfect, refs, NUM_BINS)
    assert best[kind.primary_metric] == pytest.approx(kind.best)
    worse = kind.score(wrong, refs, NUM_BINS)
    assert worse[kind.primary_metric] < kind.best
    half = [p if i % 2 else w for i, (p, w) in enumerate(zip(perfect, wrong))]
    assert worse[kind.primary_metric] <= kind.score(half, refs, NUM_BINS)[kind.primary_metric] <= kind.best


def test_vqa_scores_unival_confidences() -> None:
    refs = [{"red": 1.0, "dark red": 0.3}, {"2": 1.0}]
    assert seq2seq_kind("vqa").score(["dark red", "2"], refs, NUM_BINS)["vqa_acc"] == pytest.approx(0.65)


@pytest.mark.parametrize("beam", [1, 3])
@pytest.mark.parametrize("name", KINDS)
def test_kind_decoding_constraints_reach_generation(
    name: str, beam: int, model: UnivalModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, task = seq2seq_kind(name), task_of(name)
    asked = Decoding(0, beam, 3, 0.5)
    expected = kind.decoding(model, asked, 5)
    if name == "grounding":  # exactly four location tokens, whatever the caller asks; a box may repeat a bin
        assert expected == Decoding(4, beam, 0, 0.5, min_len=4, allowed_ids=tuple(model.bin_ids))
    elif name == "detection":  # two objects of one name legitimately repeat a phrase
        assert expected == Decoding(5, beam, 0, 0.5)
    else:  # every free-text kind: the caller's options, the n-gram ban greedy or beam, the task's length
        assert expected == Decoding(5, beam, 3, 0.5)
    assert kind.decoding(model, Decoding(7, beam), 5).max_len == (4 if name == "grounding" else 7)

    seen: list[Decoding | None] = []
    ids: list[list[int]] = []
    real = model.generate_ids

    def spy(modality: str | None, batch: Any, decoding: Decoding | None = None) -> list[list[int]]:
        seen.append(decoding)
        ids.extend(real(modality, batch, decoding))
        return ids[-len(batch.target) :]

    monkeypatch.setattr(model, "generate_ids", spy)
    image = torch.rand(1, 35, 70)  # height 35, width 70
    inputs = [raw_input(task, image), raw_input(task, torch.rand(1, 35, 70))]
    out = model.generate(task.name, inputs, beam=beam, max_len=5, length_penalty=0.5)
    assert seen == [expected]
    assert len(out) == len(ids) == 2
    eos = model.tokenizer.eos_id
    for o, seq in zip(out, ids):
        answer = [i for i in seq if i != eos]
        if name == "grounding":  # four location tokens; the output: them and the box in the input's pixels
            assert len(answer) == 4 and set(answer) <= set(model.bin_ids)
            assert isinstance(o, Grounding) and len(parse_bins(o.text)) == 4
            assert o.box == pytest.approx(tokens_to_pixel_box(o.text, 70, 35, NUM_BINS))
        elif name == "detection":  # the well-formed (box, name) pieces of the text, boxes in the input's pixels
            assert len(answer) <= 5 and isinstance(o, list)
            assert o == [
                Detection(n, (b[0] * 70, b[1] * 35, b[2] * 70, b[3] * 35))
                for n, b in parse_detections(model.decode(seq), NUM_BINS)
            ]
        else:  # text of at most max_len tokens
            assert len(answer) <= 5 and isinstance(o, str) and o == model.decode(seq)


@pytest.mark.parametrize("name", KINDS)
def test_built_in_kinds_train_on_the_shared_cross_entropy(name: str, model: UnivalModel) -> None:
    task = task_of(name)
    prompt, sample = task.prompt_and_sample(raw_input(task, torch.rand(1, 64, 64)))
    batch = model.collate(task.modality, [prompt], [sample], ["<bin_1><bin_2><bin_5><bin_6>"])
    spec, kind = model.supervised_task(task.name)  # what the supervised objective asks, as of an OmniVec head's task
    assert isinstance(kind, Kind) and spec is task
    loss, report = kind.loss(kind.forward(model, spec, batch), kind.targets(batch))
    shared, _ = Seq2SeqKind().loss(model.teacher_forced(task.modality, batch), batch.target)
    torch.testing.assert_close(loss, shared)
    assert report == {"loss": float(loss.detach())}


def test_a_kind_may_own_its_loss(model: UnivalModel) -> None:
    class Doubled(Seq2SeqKind):
        def loss(self, out: TeacherForced, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
            loss, _ = super().loss(out, targets)
            return 2 * loss, {"loss": float(2 * loss.detach())}

    SEQ2SEQ_KINDS.register("doubled")(Doubled)
    try:
        base = get_seq2seq_task("caption_image")
        register(Seq2SeqTask("doubled_caption", "doubled", "image", "", base.build, base.prompt))
        batch = model.collate("image", [caption_prompt()], [torch.rand(1, 64, 64)], ["a 7 at the top"])
        total, logs = SupervisedObjective(model)({"doubled_caption": batch})  # the objective both families train with
        shared, _ = Seq2SeqKind().loss(model.teacher_forced("image", batch), batch.target)
        torch.testing.assert_close(total, 2 * shared)
        assert logs == {"doubled_caption/loss": float(total.detach())}
    finally:
        SEQ2SEQ_TASKS.unregister("doubled_caption") if "doubled_caption" in SEQ2SEQ_TASKS else None
        SEQ2SEQ_KINDS.unregister("doubled")


# ------------------------------------------------------------------------------ a task in one place


DIGITS = ["zero", "one", "two", "three", "four"]


class CountDigits(Dataset):
    """``"3 1 4"`` -> ``"three"``: how many digits a text holds (1 to 4), drawn from ``seed``."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.rows = []
        for _ in range(n):
            k = int(torch.randint(1, 5, (1,), generator=g))
            self.rows.append((" ".join(str(int(d)) for d in torch.randint(0, 10, (k,), generator=g)), DIGITS[k]))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[str, str]:
        return self.rows[i]


def _count_digits_data(cfg: UnivalRunConfig) -> tuple[Dataset, Dataset]:
    def convert(i: int, s: str, t: str) -> tuple[str, str, str]:
        return s, t, t

    seed = cfg.train.seed
    return Seq2SeqDataset(CountDigits(cfg.num_train, seed), convert), Seq2SeqDataset(CountDigits(8, seed + 1), convert)


COUNT_DIGITS = Seq2SeqTask(
    "count_digits",
    "classification",  # its loss, metric, decoding and output come from the kind
    "text",
    "how many digits a text holds (a test's task)",
    _count_digits_data,
    lambda x: (" how many digits are in the text? " + x, None),
    3,
)


@pytest.fixture
def count_digits() -> Iterator[Seq2SeqTask]:
    """The one place the task is defined: registered for this test, gone afterwards (the vocabulary corpus
    of later runs reads every registered task)."""
    register(COUNT_DIGITS)
    try:
        yield COUNT_DIGITS
    finally:
        SEQ2SEQ_TASKS.unregister(COUNT_DIGITS.name)


def test_a_task_registered_in_one_place_trains_evaluates_and_generates(
    count_digits: Seq2SeqTask, tmp_path: Path
) -> None:
    assert get_seq2seq_task("count_digits") is count_digits
    assert ("count_digits", "unival", "classification", "text") in [
        (r.name, r.family, r.kind, r.modality) for r in list_tasks()
    ]
    cfg = unival_preset("tiny", num_bins=NUM_BINS)
    cfg.data_root = str(tmp_path / "no-data")  # the built-in tasks' data are absent: only ours is read
    cfg.num_train, cfg.train.batch_size, cfg.train.log_every = 32, 8, 1
    out = tmp_path / "run"
    results = finetune(None, ["count_digits"], out, cfg, steps=6, progress=False)

    log = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["count_digits/loss"] for r in log]
    assert len(losses) == 6 and losses[-1] < losses[0]
    r = results["count_digits"]
    assert (r["kind"], r["metric"], r["n"]) == ("classification", "accuracy", 8)
    assert 0.0 <= r["value"] <= 1.0 and r["value"] == r["accuracy"]

    model, saved = load_unival(out)
    assert saved.tasks == ["count_digits"]
    answers = model.generate("count_digits", ["1 2 3", "7"])
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    again = evaluate_run(out, device="cpu")  # the run folder names the task; the registry resolves it
    assert again["count_digits"]["value"] == r["value"]


def test_the_test_task_is_gone_and_every_family_is_listed() -> None:
    assert "count_digits" not in SEQ2SEQ_TASKS
    rows = list_tasks()
    assert {r.family for r in rows} == {"omnivec", "unival"}
    assert [r.name for r in rows if r.family == "unival"] == SEQ2SEQ_TASKS.names()
    assert all(r.kind in (TASK_KINDS if r.family == "omnivec" else SEQ2SEQ_KINDS) for r in rows)
    assert [r.name for r in list_tasks("unival")] == SEQ2SEQ_TASKS.names()
    assert len({r.name for r in rows}) == len(rows)  # one name space for both families
