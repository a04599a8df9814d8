"""UnIVAL training: multitask pretraining with a curriculum, fine-tuning. Runs through the shared
run skeleton (:func:`omnivec.training.runner.run_job`), so ``torchrun`` shards the data and one rank writes the folder.

Curriculum (UnIVAL §4): stage 1 trains the image-text tasks; from ``stage1_steps`` on, stage 2 adds the
video-text tasks; audio is never pretrained on. Task balancing: every optimizer step holds one batch of
*every* active task (equal batch sizes, equal loss weights). UnIVAL instead interleaves each auxiliary task
every k-th main sample; with a handful of comparably sized tasks, one batch each per step is the simpler
scheme with the same expected mix and no k to tune (see docs/unival.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from omnivec.data.base import Skipped, holdout, label_subset
from omnivec.errors import OmnivecError
from omnivec.families.unival.config import UnivalRunConfig
from omnivec.families.unival.derived_tasks import STAGE1, STAGE2
from omnivec.families.unival.manifest_tasks import task_names as manifest_task_names
from omnivec.families.unival.model import Seq2SeqBatch, UnivalModel, load_unival, save_unival
from omnivec.families.unival.prompts import MODALITIES
from omnivec.families.unival.scoring import evaluate, evaluate_splits
from omnivec.families.unival.task_registry import SEQ2SEQ_TASKS
from omnivec.families.unival.tasks import get_seq2seq_task
from omnivec.families.unival.tsv_tasks import task_names as tsv_task_names
from omnivec.nn.encoders.text import TextEncoderConfig
from omnivec.training.distributed import DistInfo
from omnivec.training.objective import SupervisedObjective
from omnivec.training.runner import Job, StreamSpec, elastic_restart, run_job, same_tokenizer


def build_data(cfg: UnivalRunConfig, names: Sequence[str]) -> dict[str, tuple[Dataset, Dataset]]:
    """Every task's (train, test) splits; ``cfg.train.label_fraction`` keeps a seeded share of each train split."""
    out = {}
    for n in names:
        train, test = get_seq2seq_task(n).build(cfg)
        out[n] = (label_subset(train, cfg.train.label_fraction, cfg.train.seed, n), test)
    return out


def corpus(data: dict[str, tuple[Dataset, Dataset]], limit: int = 3000) -> list[str]:
    """Prompt and answer texts of the training splits, for the tokenizer (TSV and manifest splits without decoding
    their files)."""
    texts: list[str] = []
    for name, (train, _) in data.items():
        spec = get_seq2seq_task(name)
        if hasattr(train, "text_examples"):  # a TSV or a manifest: no file decoded
            examples = train.text_examples(limit)
        else:
            examples = [train[i] for i in range(min(len(train), limit))]  # type: ignore[arg-type]
        for raw, answer, _ in examples:
            if isinstance(raw, Skipped):
                continue
            prompt, _ = spec.prompt_and_sample(raw)
            texts += [prompt, answer]
    return texts


def vocabulary_corpus(cfg: UnivalRunConfig, data: dict[str, tuple[Dataset, Dataset]], limit: int = 500) -> list[str]:
    """The texts the subword vocabulary is learnt from before pretraining: the pretraining tasks' prompts and
    answers plus those of every other derived task whose data is present (SciTLDR, the spoken-digit captions,
    ...), ``limit`` samples each. It stands in for UnIVAL's general-purpose GPT-2 BPE: a vocabulary learnt from
    the digit captions alone cut a downstream task's words into characters, and fine-tuning audio captioning
    from the pretrained run then lost to training from scratch (whose vocabulary was its own) by 3 CIDEr-D
    (docs/unival.md). Only text enters the vocabulary; no audio signal is seen before fine-tuning."""
    texts = corpus(data)
    for name, task in SEQ2SEQ_TASKS.items():
        if name in data or task.source in ("tsv", "manifest"):
            continue
        try:
            texts += corpus({name: task.build(cfg)}, limit)
        except OmnivecError:  # its dataset is not staged here: the vocabulary simply does not see it
            continue
    return texts


def new_unival_model(
    cfg: UnivalRunConfig,
    data: dict[str, tuple[Dataset, Dataset]],
    texts: list[str] | None = None,
    info: DistInfo | None = None,
) -> UnivalModel:
    """A fresh model whose vocabulary is learnt from ``texts`` (default: ``data``'s); under ``torchrun``
    (``info``) every rank ends with the main rank's tokenizer (:func:`omnivec.training.runner.same_tokenizer`)."""
    text = cfg.model.backbone.encoders["text"]
    if not isinstance(text, TextEncoderConfig):
        raise OmnivecError(f"a UnIVAL model's text encoder is text_embedding, not {text.name}")
    vocab = text.vocab_size or (2048 if cfg.preset == "tiny" else 8192)  # 0 (the presets'): by the preset's size
    # the subword part of the vocabulary; the bins come on top
    base = vocab - cfg.model.num_bins if vocab > cfg.model.num_bins + 300 else vocab
    tok = UnivalModel.train_tokenizer(texts if texts is not None else corpus(data), base, cfg.model.num_bins)
    shared = same_tokenizer(tok, info or DistInfo())
    assert shared is not None
    return UnivalModel(cfg.model, shared)


def init_encoders(model: UnivalModel, source: str | Path, log: Callable[[str], None] = print) -> list[str]:
    """Copy the modality encoders (not text: the vocabularies differ) of the OmniVec run folder ``source`` into
    ``model``: every tensor under ``encoders.<image|video|audio>.`` of the source, which must exist here with the
    same shape. Returns the modalities that were initialised; a source with a tensor that does not fit, or with no
    encoder this model has, is an error naming what did not fit."""
    from omnivec.training.warm_start import source_model

    src, _ = source_model(source)
    theirs = src.encoders.state_dict()
    ours = model.backbone.encoders.state_dict()
    loaded: dict[str, int] = {}
    misfit: list[str] = []
    for k, v in theirs.items():
        modality = k.split(".")[0]
        if modality not in MODALITIES or k not in ours:
            continue
        if ours[k].shape != v.shape:
            misfit.append(f"{k} {tuple(v.shape)} != {tuple(ours[k].shape)}")
            continue
        ours[k] = v.clone()
        loaded[modality] = loaded.get(modality, 0) + 1
    if misfit or not loaded:  # half an encoder from the source would be worse than a fresh one
        raise OmnivecError(
            f"{source}: its image/video/audio encoders do not fit this model"
            + (f" (shape mismatch: {', '.join(misfit[:3])})" if misfit else " (no encoder of the same modality)")
        )
    model.backbone.encoders.load_state_dict(ours)
    log(f"encoders from {source}: " + ", ".join(f"{m} ({n} tensors)" for m, n in loaded.items()))
    return sorted(loaded)


def seq2seq_collate(model: UnivalModel, name: str) -> Callable[[list[Any]], Seq2SeqBatch]:
    spec = get_seq2seq_task(name)

    def collate(items: list[Any]) -> Seq2SeqBatch:
        prompts, samples = zip(*(spec.prompt_and_sample(raw) for raw, _, _ in items))
        return model.collate(spec.modality, prompts, samples, [a for _, a, _ in items])

    return collate


def curriculum(names: Sequence[str], stage1_steps: int) -> Callable[[int], list[str]]:
    """Before ``stage1_steps``: the tasks outside STAGE2 (image-text); afterwards every task."""
    first = [n for n in names if n not in STAGE2] or list(names)
    every = list(names)
    return lambda step: first if step < stage1_steps else every


def check_task_batch(cfg: UnivalRunConfig, names: Sequence[str]) -> None:
    """Every ``cfg.task_batch`` entry names a task (of this run or the registry: a misspelt name would change
    nothing, silently) and a whole number of samples >= 1."""
    for name, n in cfg.task_batch.items():
        if name not in names and name not in SEQ2SEQ_TASKS:
            raise OmnivecError(f"task_batch: unknown task {name!r}; this run's tasks: {', '.join(names)}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise OmnivecError(f"task_batch.{name}: expected a whole number of samples >= 1, got {n!r}")


Loaded = tuple[UnivalModel, UnivalRunConfig, dict[str, tuple[Dataset, Dataset]]]
"""A run's model, its config and its tasks' (train, test) data."""


def fit(
    out: str | Path,
    load: Callable[[DistInfo], Loaded],
    resume: bool = False,
    seed: int | None = None,
    progress: bool = True,
    eval_limit: int = 0,
    device: str = "auto",
    stop_at: int = 0,
) -> dict[str, Any]:
    """Train on the training splits of the data ``load`` returns (after the run folder check and the seeding,
    on every rank) with the curriculum of the config's ``stage1_steps``, save the run folder, evaluate the test
    splits (:func:`omnivec.training.runner.run_job`). ``resume``: ``load`` reads the model and config from ``out``, and
    training continues from its train state. ``stop_at`` > 0: stop after that step, resumable (a long run in
    pieces)."""

    def build(info: DistInfo) -> Job:
        model, cfg, data = load(info)
        cfg.tasks = list(data)
        check_task_batch(cfg, cfg.tasks)
        train_sets, validate = held_out(model, cfg, data, eval_limit)
        return Job(
            SupervisedObjective(model),
            {
                n: StreamSpec(tr, seq2seq_collate(model, n), batch_size=cfg.task_batch.get(n, 0))
                for n, tr in train_sets.items()
            },
            cfg.train,
            curriculum(cfg.tasks, cfg.stage1_steps),
            save=lambda d: save_unival(model, cfg, d),
            evaluate=lambda _: evaluate_splits(model, data, limit=eval_limit),
            title="UnIVAL training loss",
            validate=validate,
        )

    return run_job(out, build, resume=resume, seed=seed, progress=progress, device=device, stop_at=stop_at)


def held_out(
    model: UnivalModel, cfg: UnivalRunConfig, data: dict[str, tuple[Dataset, Dataset]], limit: int = 0
) -> tuple[dict[str, Dataset], Callable[[], dict[str, float]] | None]:
    """Each task's training data and, with ``train.eval_every`` > 0, the periodic validation
    (training/selection.py): ``train.val_fraction`` of each training split held out, scored by its primary metric
    under greedy decoding (the first ``limit`` samples when > 0)."""
    if cfg.train.eval_every <= 0:
        return {n: tr for n, (tr, _) in data.items()}, None
    from omnivec.training.selection import selection_score

    split = {n: holdout(tr, cfg.train.val_fraction, cfg.train.seed, n) for n, (tr, _) in data.items()}
    return {n: tr for n, (tr, _) in split.items()}, lambda: selection_score(
        {n: float(evaluate(model, n, val, None, limit)["value"]) for n, (_, val) in split.items()}
    )


def resume_run(
    out: str | Path,
    max_steps: int = 0,
    progress: bool = True,
    eval_limit: int = 0,
    device: str = "auto",
    stop_at: int = 0,
) -> dict[str, Any]:
    """Continue a stopped pretraining or fine-tuning run from the train state in ``out``, bit for bit. The
    folder's config is authoritative (tasks, TSV files, curriculum, schedule); ``max_steps`` can only extend.
    ``stop_at`` > 0: stop again after that step."""

    def load(info: DistInfo) -> Loaded:
        model, cfg = load_unival(out)
        cfg.train.max_steps = max(cfg.train.max_steps, max_steps)
        return model, cfg, build_data(cfg, cfg.tasks)

    return fit(out, load, resume=True, progress=progress, eval_limit=eval_limit, device=device, stop_at=stop_at)


def _with_tsv(names: Sequence[str], cfg: UnivalRunConfig) -> list[str]:
    """``names`` plus the tasks of the run's TSV files and manifests."""
    files = [*tsv_task_names(cfg.tsv), *manifest_task_names(cfg.manifest)]
    return [*names, *(n for n in files if n not in names)]


def pretrain(
    cfg: UnivalRunConfig,
    out: str | Path,
    tasks: Sequence[str] | None = None,
    progress: bool = True,
    eval_limit: int = 0,
    resume: bool = False,
    device: str = "auto",
    stop_at: int = 0,
) -> dict[str, Any]:
    """Multitask pretraining with the curriculum (``cfg.stage1_steps`` image-text steps first) on ``tasks``
    (default: the derived stage 1 and 2 tasks, or only the tasks of the TSV files and manifests when ``cfg.tsv``
    or ``cfg.manifest`` has files). ``resume`` continues the run in ``out`` (see :func:`resume_run`; ``cfg``
    only extends its steps). ``device``: see :func:`omnivec.training.runner.run_job`. ``stop_at`` > 0: stop after
    that step with the full run's schedule, to be continued by a resume (:meth:`omnivec.training.engine.Engine.fit`)."""
    if resume or elastic_restart(out):  # torchrun --max-restarts relaunched the fresh command
        return resume_run(out, cfg.train.max_steps, progress, eval_limit, device, stop_at)

    def load(info: DistInfo) -> Loaded:
        names = _with_tsv(tasks or ([] if cfg.tsv or cfg.manifest else [*STAGE1, *STAGE2]), cfg)
        # the built-in audio task is the unseen modality; a user's own audio manifest may be pretrained on
        audio = [
            n for n in names if get_seq2seq_task(n).modality == "audio" and get_seq2seq_task(n).source != "manifest"
        ]
        if audio:
            raise OmnivecError(f"audio is never in pretraining (UnIVAL's unseen-modality setting): drop {audio}")
        data = build_data(cfg, names)
        model = new_unival_model(cfg, data, vocabulary_corpus(cfg, data), info)
        if cfg.encoder_init:
            init_encoders(model, cfg.encoder_init, print if progress and info.is_main else lambda _: None)
        return model, cfg, data

    return fit(out, load, seed=cfg.train.seed, progress=progress, eval_limit=eval_limit, device=device, stop_at=stop_at)


def load_parent(parent: str | Path) -> tuple[UnivalModel, UnivalRunConfig]:
    """A UnIVAL run folder, or a Hugging Face BART folder converted in memory (:mod:`omnivec.hf`)."""
    from omnivec.hf.folder import is_hf_folder
    from omnivec.runs import require_model_family

    if not is_hf_folder(parent):
        return load_unival(parent)
    from omnivec.hf import load_hf

    model = load_hf(parent)
    require_model_family(model, "unival", parent)
    return model, model.run_config  # type: ignore[return-value]


def finetune(
    parent: str | Path | None,
    tasks: Sequence[str],
    out: str | Path,
    cfg: UnivalRunConfig | None = None,
    steps: int | None = None,
    lr: float | None = None,
    progress: bool = True,
    eval_limit: int = 0,
    resume: bool = False,
    device: str = "auto",
) -> dict[str, Any]:
    """Fine-tune ``parent`` (a UnIVAL run folder) on ``tasks`` and the tasks of ``cfg.tsv``'s files and
    ``cfg.manifest``'s manifests; ``parent=None`` trains from scratch with ``cfg``'s architecture (the baseline
    of the unseen-modality comparison). ``resume`` continues the run in ``out`` (see :func:`resume_run`).
    ``device``: see :func:`omnivec.training.runner.run_job`."""
    if resume or elastic_restart(out):  # torchrun --max-restarts relaunched the fresh command
        return resume_run(out, steps or (cfg.train.max_steps if cfg else 0), progress, eval_limit, device)
    # the parent and the config are inputs, resolved before the run's seeding
    pretrained: UnivalModel | None = None
    if parent is not None:
        pretrained, pcfg = load_parent(parent)
        if cfg is not None:  # schedule, data sizes and files from the caller, architecture from the parent
            pcfg.train, pcfg.num_train, pcfg.num_test = cfg.train, cfg.num_train, cfg.num_test
            pcfg.data_root = cfg.data_root or pcfg.data_root
            pcfg.tsv, pcfg.manifest, pcfg.strict = cfg.tsv, cfg.manifest, cfg.strict
        cfg = pcfg
        cfg.parent = str(parent)
    elif cfg is None:
        raise OmnivecError("finetune from scratch needs a config")
    if steps is not None:
        cfg.train.max_steps = steps
    if lr is not None:
        cfg.train.lr = lr
    cfg.stage1_steps = 0
    run_cfg = cfg

    def load(info: DistInfo) -> Loaded:
        names = _with_tsv(tasks, run_cfg)
        if not names:
            raise OmnivecError("nothing to fine-tune on: give tasks, TSV files or manifests")
        data = build_data(run_cfg, names)
        # from scratch: the same vocabulary a pretrained run would have, so only the weights differ
        model = pretrained
        if model is None:
            model = new_unival_model(run_cfg, data, vocabulary_corpus(run_cfg, data), info)
            if run_cfg.encoder_init:  # the from-scratch arm starts where the pretraining run started
                init_encoders(model, run_cfg.encoder_init, print if progress and info.is_main else lambda _: None)
        for n in names:
            m = get_seq2seq_task(n).modality
            if m not in (None, "text") and m not in model.backbone.encoders:
                raise OmnivecError(f"the model has no {m} encoder for task {n}")
        return model, run_cfg, data

    return fit(out, load, seed=run_cfg.train.seed, progress=progress, eval_limit=eval_limit, device=device)
