"""The bad-input corpus (issue 14): every case must exit non-zero with ONE line naming the culprit, print no
traceback, and leave every run folder that existed before it byte-identical.

The cases come from small generators, not a hand list: every numeric flag of every command crossed with the
values that used to slip through (0, -1, nan, inf, abc, ...), bad config fields through ``--set`` and config
files, corrupted and crafted run folders, outputs that would land on an input or a run, and bad input files.
Almost all fail while the arguments or the config are parsed, before any model exists; the CLI runs in-process.
Each case that needs a crafted file or run folder builds it from the one tiny run trained per session.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from omnivec.cli import main
from omnivec.training import checkpoint as ckpt

pytestmark = pytest.mark.slow  # the bad-input corpus: ~450 CLI invocations (make test-slow)

# ----------------------------------------------------------------------------------------------- generators

POSITIVE_INT = ["0", "-1", "nan", "inf", "abc", "1.5"]
NON_NEGATIVE_INT = ["-1", "nan", "inf", "abc", "2.5"]
POSITIVE_FLOAT = ["0", "-1", "nan", "inf", "abc"]
BELOW_ONE = ["-0.1", "1", "1.5", "nan", "abc"]

TRAIN = ["train", "--preset", "tiny", "--tasks", "shapes", "--out", "{tmp}/new"]
PRETRAIN = ["pretrain", "--tasks", "shapes", "--out", "{tmp}/new"]
FINETUNE = ["finetune", "scratch", "--tasks", "shapes", "--out", "{tmp}/new"]
UNIVAL_PRE = ["unival", "pretrain", "--out", "{tmp}/new"]
UNIVAL_FT = ["unival", "finetune", "scratch", "--tasks", "caption_image", "--out", "{tmp}/new"]
GENERATE = ["generate", "{run}", "--input", "{tmp}/x.png"]
MERGE = ["merge", "{run}", "{run}", "--out", "{tmp}/merged"]
EVALUATE = ["evaluate", "{run}"]

RECIPE_FLAGS = {
    "--steps": POSITIVE_INT,
    "--batch-size": POSITIVE_INT,
    "--lr": POSITIVE_FLOAT,
    "--seed": NON_NEGATIVE_INT,
    "--checkpoint-every": NON_NEGATIVE_INT,
    "--grad-accum": POSITIVE_INT,
    "--ema": BELOW_ONE,
    "--label-smoothing": BELOW_ONE,
    "--log-every": POSITIVE_INT,
    "--label-fraction": ["0", "-1", "1.5", "nan", "abc"],
    "--num-train": POSITIVE_INT,
    "--num-test": POSITIVE_INT,
    "--train-limit": NON_NEGATIVE_INT,
    "--test-limit": NON_NEGATIVE_INT,
}
FLAGS: list[tuple[str, list[str], dict[str, list[str]]]] = [
    (
        "train",
        TRAIN,
        {
            "--max-steps": POSITIVE_INT,
            "--batch-size": POSITIVE_INT,
            "--lr": POSITIVE_FLOAT,
            "--seed": NON_NEGATIVE_INT,
            "--checkpoint-every": NON_NEGATIVE_INT,
            "--keep-checkpoints": POSITIVE_INT,
            "--num-workers": NON_NEGATIVE_INT,
            "--label-smoothing": BELOW_ONE,
            "--grad-accum": POSITIVE_INT,
            "--num-train": POSITIVE_INT,
            "--num-test": POSITIVE_INT,
            "--train-limit": NON_NEGATIVE_INT,
            "--test-limit": NON_NEGATIVE_INT,
        },
    ),
    ("pretrain", PRETRAIN, {**RECIPE_FLAGS, "--decoder-depth": POSITIVE_INT, "--decoder-dim": NON_NEGATIVE_INT}),
    ("finetune", FINETUNE, {**RECIPE_FLAGS, "--rounds": POSITIVE_INT, "--close": BELOW_ONE}),
    (
        "unival-pretrain",
        UNIVAL_PRE,
        {
            "--steps": POSITIVE_INT,
            "--batch-size": POSITIVE_INT,
            "--lr": POSITIVE_FLOAT,
            "--num-bins": POSITIVE_INT,
            "--image-size": POSITIVE_INT,
            "--stage1-steps": NON_NEGATIVE_INT,
            "--label-smoothing": BELOW_ONE,
        },
    ),
    (
        "unival-finetune",
        UNIVAL_FT,
        {"--num-train": POSITIVE_INT, "--eval-limit": NON_NEGATIVE_INT, "--checkpoint-every": NON_NEGATIVE_INT},
    ),
    (
        "generate",
        GENERATE,
        {
            "--beam": POSITIVE_INT,
            "--max-len": NON_NEGATIVE_INT,
            "--no-repeat-ngram": NON_NEGATIVE_INT,
            "--length-penalty": ["nan", "inf", "abc"],
            "--batch-size": POSITIVE_INT,
        },
    ),
    ("merge", MERGE, {"--beam": POSITIVE_INT, "--eval-limit": NON_NEGATIVE_INT}),
    (
        "evaluate",
        EVALUATE,
        {"--beam": POSITIVE_INT, "--no-repeat-ngram": NON_NEGATIVE_INT, "--limit": NON_NEGATIVE_INT},
    ),
]

SET_FIELDS = {  # --set KEY=VALUE -> the field the error must name
    "train.lr=nan": "train.lr",
    "train.lr=-1": "train.lr",
    "train.lr=.inf": "train.lr",
    "train.batch_size=0": "train.batch_size",
    "train.batch_size=-3": "train.batch_size",
    "train.max_steps=-5": "train.max_steps",
    "train.max_steps=0": "train.max_steps",
    "train.grad_accum=0": "train.grad_accum",
    "train.seed=-1": "train.seed",
    "train.num_workers=-1": "train.num_workers",
    "train.checkpoint_every=-1": "train.checkpoint_every",
    "train.keep_checkpoints=0": "train.keep_checkpoints",
    "train.ema_decay=1.5": "train.ema_decay",
    "train.min_lr_ratio=2": "train.min_lr_ratio",
    "train.warmup_steps=-1": "train.warmup_steps",
    "train.weight_decay=-0.1": "train.weight_decay",
    "train.max_seconds=-1": "train.max_seconds",
    "train.task_schedule=sideways": "train.task_schedule",
    "model.embed_dim=-8": "model.embed_dim",
    "model.num_heads=5": "model.num_heads",
    "model.depth=0": "model.depth",
    "model.mlp_ratio=nan": "model.mlp_ratio",
    "model.drop_path=1.5": "model.drop_path",
    "model.vectorizer=median": "model.vectorizer",
    "model.encoders.audio.sample_rate=-8000": "model.encoders.audio.sample_rate",
    "model.encoders.image.patch_size=0": "model.encoders.image.patch_size",
    "model.encoders.text.max_length=-1": "model.encoders.text.max_length",
    "num_train=0": "num_train",
    "test_limit=-1": "test_limit",
    "train.lr=[1]": "train.lr",
    "train.lr=*a": "--set",
}


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    says: str
    """A regex the one error line must match (it names the culprit)."""
    setup: Callable[[Path, Path], None] | None = None
    """``setup(tmp, run_copy)``: writes crafted files before the command runs."""


def flag_cases() -> list[Case]:
    cases = []
    for command, base, flags in FLAGS:
        for flag, values in flags.items():
            for v in values:
                cases.append(Case(f"{command} {flag} {v}", [*base, f"{flag}={v}"], re.escape(flag)))
    alphas = ["nan", "1.5", "-0.5", "inf", "abc", "0.2,nan", "", "0.5,0.5"]
    cases += [Case(f"merge --alpha {a!r}", [*MERGE, f"--alpha={a}"], "--alpha") for a in alphas]
    cases += [
        Case(
            f"export --opset {v}",
            ["export", "{run}", "--modality", "image", "--out", "{tmp}/m.onnx", f"--opset={v}"],
            "--opset",
        )
        for v in ("0", "-1", "abc")
    ]
    cases += [
        Case(
            f"export --shape {v}",
            ["export", "{run}", "--modality", "image", "--out", "{tmp}/m.onnx", f"--shape={v}"],
            "--shape",
        )
        for v in ("0,32,32", "-3,4", "a,b", "")
    ]
    return cases


def set_cases() -> list[Case]:
    return [Case(f"--set {a}", [*TRAIN, "--set", a], re.escape(field)) for a, field in SET_FIELDS.items()]


def _writer(name: str, content: bytes) -> Callable[[Path, Path], None]:
    def setup(tmp: Path, run: Path) -> None:
        (tmp / name).write_bytes(content)

    return setup


BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n".encode() for p, c in zip("abcdefgh", "bcdefghi")
)
CONFIG_FILES = {
    "empty": (b"", "is empty"),
    "alias bomb": (BOMB, "aliases"),
    "a list": (b"- 1\n- 2\n", "expected a mapping"),
    "unknown field": (b"preset: tiny\ntrian: {lr: 1}\n", r"unknown field\(s\) \['trian'\]"),
    "wrong type": (b"preset: tiny\ntrain: {max_steps: ten}\n", "train.max_steps: expected int"),
    "negative sample rate": (
        b"preset: tiny\nmodel: {encoders: {audio: {sample_rate: -8000}}}\n",
        "encoders.audio.sample_rate",
    ),
    "num_heads not dividing": (b"preset: tiny\nmodel: {embed_dim: 64, num_heads: 6}\n", "num_heads"),
    "unknown vectorizer": (b"preset: tiny\nmodel: {vectorizer: nope}\n", "vectorizer"),
    "nan lr": (b"preset: tiny\ntrain: {lr: .nan}\n", "train.lr"),
    "not yaml": (b"preset: [tiny\n", "not valid YAML"),
    "python tag": (b"preset: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "not utf-8": (b"preset: \xff\xfe tiny\n", "not UTF-8"),
    "huge": (b"a: " + b"x" * (1 << 20) + b"\n", "too large"),
    "preset not a name": (b"preset: 3\n", "preset"),
    "unknown preset": (b"preset: huge\n", "unknown preset 'huge'"),
}


def config_cases() -> list[Case]:
    return [
        Case(f"train --config {name}", [*TRAIN, "--config", "{tmp}/c.yaml"], says, _writer("c.yaml", content))
        for name, (content, says) in CONFIG_FILES.items()
    ]


# crafted run folders: setup(tmp, run) damages the copy ``run`` ({copy} in argv)


def _edit_config(text: bytes) -> Callable[[Path, Path], None]:
    """A damaged ``config.yaml``. In a folder with checkpoints a resume re-publishes the checkpoint's own copy
    (the top-level files are a view of the newest checkpoint), so the damage goes into an old-style folder."""

    def setup(tmp: Path, run: Path) -> None:
        _old_style(run)
        _replace(run / ckpt.CONFIG, text)

    return setup


def _old_style(run: Path) -> None:
    """Drop ``checkpoints/``: the top-level files are then what a resume reads, as in folders from before."""
    shutil.rmtree(run / ckpt.CHECKPOINTS)


def _replace(path: Path, content: bytes) -> None:
    path.unlink()  # the top-level files are hard links into checkpoints/: never write through them
    path.write_bytes(content)


def _state_edit(edit: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    """A crafted ``train_state.pt``: the real one with ``edit`` applied."""

    def setup(tmp: Path, run: Path) -> None:
        _old_style(run)
        state = torch.load(run / ckpt.TRAIN_STATE, weights_only=True)
        edit(state)
        (run / ckpt.TRAIN_STATE).unlink()
        torch.save(state, run / ckpt.TRAIN_STATE)

    return setup


def _state_file(content: bytes) -> Callable[[Path, Path], None]:
    def setup(tmp: Path, run: Path) -> None:
        _old_style(run)
        _replace(run / ckpt.TRAIN_STATE, content)

    return setup


def _first_moments(state: dict) -> dict:
    return next(iter(state["optimizer"]["state"].values()))


def _undersized_moment(state: dict) -> None:
    _first_moments(state)["exp_avg"] = torch.zeros(2)


def _weights_edit(edit: Callable[[dict[str, torch.Tensor]], object]) -> Callable[[Path, Path], None]:
    """Crafted weights for an embed of ``{tmp}/t.txt``: the real ones with ``edit`` applied."""

    def setup(tmp: Path, run: Path) -> None:
        _text(tmp, run)
        _old_style(run)
        w = ckpt.load_weights(run / ckpt.WEIGHTS)
        edit(w)
        (run / ckpt.WEIGHTS).unlink()
        ckpt.save_weights(w, run / ckpt.WEIGHTS)

    return setup


def _nan_weights(w: dict[str, torch.Tensor]) -> None:
    key = next(k for k, v in w.items() if v.is_floating_point())
    w[key] = torch.full_like(w[key], float("nan"))


def _shrink_first(w: dict[str, torch.Tensor]) -> None:
    key = next(iter(w))
    w[key] = w[key][:1]


def _weights_file(content: bytes | None) -> Callable[[Path, Path], None]:
    def setup(tmp: Path, run: Path) -> None:
        _text(tmp, run)
        _old_style(run)
        if content is None:
            (run / ckpt.WEIGHTS).unlink()
        else:
            _replace(run / ckpt.WEIGHTS, content)

    return setup


def _saved(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _tamper_checkpoint(tmp: Path, run: Path) -> None:
    newest = ckpt.checkpoint_dirs(run)[-1][1]
    data = bytearray((newest / ckpt.WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    _replace(newest / ckpt.WEIGHTS, bytes(data))


def _negative_lr(tmp: Path, run: Path) -> None:
    _old_style(run)
    text = (run / ckpt.CONFIG).read_text()
    _replace(run / ckpt.CONFIG, re.sub(r"\blr: [0-9.e-]+", "lr: -1.0", text, count=1).encode())


def _text(tmp: Path, run: Path) -> None:
    (tmp / "t.txt").write_text("a red cat\n")


PICKLE = b"\x80\x04cos\nsystem\n."
RESUME = ["train", "--out", "{copy}", "--resume", "--quiet"]
EMBED_TEXT = ["embed", "{copy}", "--modality", "text", "--input", "{tmp}/t.txt", "--out", "{tmp}/v.npz"]
MOMENT = r"optimizer\.state\[\d+\]\.exp_avg: expected a torch.float32 tensor of shape"


def run_folder_cases() -> list[Case]:
    folder = [
        ("config alias bomb", RESUME, "aliases", _edit_config(BOMB)),
        ("config empty", RESUME, "is empty", _edit_config(b"")),
        ("config garbage", RESUME, "not valid YAML", _edit_config(b"model: [\n")),
        ("config unknown family", RESUME, "family 'nope' is unknown", _edit_config(b"family: nope\n")),
        ("config negative lr", RESUME, "train.lr", _negative_lr),
        ("undersized moment", RESUME, MOMENT, _state_edit(_undersized_moment)),
        (
            "moment of another dtype",
            RESUME,
            "exp_avg_sq",
            _state_edit(lambda s: _first_moments(s).update(exp_avg_sq=_first_moments(s)["exp_avg_sq"].double())),
        ),
        ("moment missing", RESUME, "AdamW moments", _state_edit(lambda s: _first_moments(s).pop("exp_avg"))),
        ("moment nan", RESUME, "finite values", _state_edit(lambda s: _first_moments(s)["exp_avg"].fill_(math.nan))),
        (
            "moment step int",
            RESUME,
            r"\.step: expected a one-element float",
            _state_edit(lambda s: _first_moments(s).update(step=torch.tensor([1, 2]))),
        ),
        (
            "moment of no parameter",
            RESUME,
            "a parameter index",
            _state_edit(lambda s: s["optimizer"]["state"].update({10_000: _first_moments(s)})),
        ),
        ("state without step", RESUME, "step: expected a non-negative int", _state_edit(lambda s: s.pop("step"))),
        ("state string step", RESUME, "step: expected a non-negative int", _state_edit(lambda s: s.update(step="4"))),
        ("state negative step", RESUME, "step: expected a non-negative int", _state_edit(lambda s: s.update(step=-1))),
        ("state nan elapsed", RESUME, "elapsed", _state_edit(lambda s: s.update(elapsed=math.nan))),
        ("state rng wrong", RESUME, "rng_cpu", _state_edit(lambda s: s.update(rng_cpu=torch.zeros(3)))),
        ("state streams wrong", RESUME, "streams", _state_edit(lambda s: s.update(streams=[1]))),
        (
            "state stream position",
            RESUME,
            r"streams\.shapes\.position",
            _state_edit(lambda s: s["streams"]["shapes"].update(position=-2)),
        ),
        ("state group count", RESUME, "param_groups", _state_edit(lambda s: s["optimizer"]["param_groups"].pop())),
        (
            "state group lr nan",
            RESUME,
            r"param_groups\[0\]\.lr",
            _state_edit(lambda s: s["optimizer"]["param_groups"][0].update(lr=math.nan)),
        ),
        ("state not a dict", RESUME, "expected a mapping", _state_file(_saved([1, 2]))),
        ("state pickle", RESUME, "refused to load training state", _state_file(PICKLE)),
        ("tampered checkpoint", RESUME, "differ from manifest.json", _tamper_checkpoint),
        (
            "no train state",
            RESUME,
            "has no train_state.pt",
            lambda t, r: (_old_style(r), (r / ckpt.TRAIN_STATE).unlink()),
        ),
        ("nan weights embed", EMBED_TEXT, "non-finite", _weights_edit(_nan_weights)),
        ("nan weights evaluate", ["evaluate", "{copy}"], "non-finite", _weights_edit(_nan_weights)),
        ("missing weight", EMBED_TEXT, "missing", _weights_edit(lambda w: w.popitem())),
        ("wrong shape weight", EMBED_TEXT, "shape mismatch", _weights_edit(_shrink_first)),
        ("weights a pickle", EMBED_TEXT, "not a valid safetensors file", _weights_file(PICKLE)),
        ("weights missing", EMBED_TEXT, "does not exist", _weights_file(None)),
        (
            "broken eval.json",
            ["info", "{copy}"],
            "eval.json: not an evaluation file",
            lambda t, r: _replace(r / "eval.json", b'{"shapes": {"metric": "acc", "val'),
        ),
        ("not a run", ["info", "{tmp}"], "not a run folder", None),
        ("missing run", ["evaluate", "{tmp}/nope"], "does not exist", None),
        ("generate on an omnivec run", ["generate", "{copy}", "--input", "{tmp}/x.png"], "needs a UnIVAL run", None),
    ]
    return [Case(f"run folder: {n}", argv, says, setup) for n, argv, says, setup in folder]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int) -> bytes:
    """A PNG declaring ``width x height`` with almost no pixel data: the size check must come before decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def output_and_input_cases() -> list[Case]:
    embed = ["embed", "{run}", "--modality", "text", "--input", "{tmp}/t.txt"]
    rows = [
        (
            "merge --out an existing run",
            ["merge", "{run}", "{copy}", "--alpha", "0.3", "--out", "{other}"],
            "is an existing run folder",
            None,
        ),
        ("merge --out an input, grid", ["merge", "{run}", "{copy}", "--out", "{copy}"], "is one of the inputs", None),
        ("merge --out inside an input", ["merge", "{run}", "{copy}", "--out", "{copy}/m"], "inside the input", None),
        ("merge --out a file", ["merge", "{run}", "{copy}", "--out", "{tmp}/t.txt"], "is a file", _text),
        ("embed --out a folder", [*embed, "--out", "{tmp}"], "is a folder", _text),
        ("embed --out the run", [*embed, "--out", "{run}"], "is a folder|is one of the inputs", _text),
        ("embed --out in the run", [*embed, "--out", "{run}/v.npz"], "inside the input folder", _text),
        ("embed --out the input", [*embed, "--out", "{tmp}/t.txt"], "is one of the inputs", _text),
        (
            "export --out in the run",
            ["export", "{run}", "--modality", "image", "--out", "{run}/m.onnx"],
            "inside the input folder",
            None,
        ),
        (
            "train --out a file",
            ["train", "--preset", "tiny", "--tasks", "shapes", "--out", "{tmp}/t.txt"],
            "is a file",
            _text,
        ),
        ("train --out an existing run", [*TRAIN[:-1], "{run}"], "already holds a run", None),
        (
            "embed non-UTF-8 text",
            [*embed, "--out", "{tmp}/v.npz"],
            "t.txt: not UTF-8",
            _writer("t.txt", b"\xff\xfe\x00"),
        ),
        ("embed empty text", [*embed, "--out", "{tmp}/v.npz"], "no text to embed", _writer("t.txt", b"\n \n")),
        (
            "embed missing input",
            ["embed", "{run}", "--modality", "image", "--input", "{tmp}/no.png", "--out", "{tmp}/v.npz"],
            "no.png",
            None,
        ),
        (
            "embed corrupt image",
            ["embed", "{run}", "--modality", "image", "--input", "{tmp}/x.png", "--out", "{tmp}/v.npz"],
            "x.png",
            _writer("x.png", b"\x89PNG\r\n\x1a\nnot really"),
        ),
        (
            "embed huge image",
            ["embed", "{run}", "--modality", "image", "--input", "{tmp}/x.png", "--out", "{tmp}/v.npz"],
            "absurd dimensions",
            _writer("x.png", _png(100_000, 100_000)),
        ),
        (
            "predict --out in the run",
            ["predict", "{run}", "--task", "shapes", "--input", "{tmp}/t.txt", "--out", "{run}/p.jsonl"],
            "inside the input folder",
            _text,
        ),
        (
            "generate --out in the run",
            ["generate", "{run}", "--input", "{tmp}/t.txt", "--out", "{run}/g.jsonl"],
            "inside the input folder",
            _text,
        ),
        ("predict missing input", ["predict", "{run}", "--task", "shapes", "--input", "{tmp}/no.png"], "no.png", None),
        (
            "predict unknown task",
            ["predict", "{run}", "--task", "nope", "--input", "{tmp}/x.png"],
            "nope",
            _writer("x.png", b"x"),
        ),
        (
            "embed wrong points",
            ["embed", "{run}", "--modality", "points", "--input", "{tmp}/p.npy", "--out", "{tmp}/v.npz"],
            "p.npy",
            lambda t, r: np.save(t / "p.npy", np.zeros((5, 7))),
        ),
    ]
    for flag in (
        "--lr=0.1",
        "--batch-size=2",
        "--tasks=topics",
        "--seed=3",
        "--preset=small",
        "--grad-accum=2",
        "--num-train=8",
        "--set=train.lr=0.1",
        "--checkpoint-every=1",
        "--strict",
    ):
        rows.append(
            (
                f"resume changing {flag}",
                ["train", "--out", "{run}", "--resume", flag],
                f"{re.escape(flag.split('=')[0])} cannot change on resume",
                None,
            )
        )
    return [Case(n, argv, says, setup) for n, argv, says, setup in rows]


def all_cases() -> list[Case]:
    return flag_cases() + set_cases() + config_cases() + run_folder_cases() + output_and_input_cases()


CASES = all_cases()

# ----------------------------------------------------------------------------------------------- the test


def tree_hash(folder: Path) -> dict[str, str]:
    """Every file (and folder) under ``folder`` with its sha256 and mode: byte-identical means equal."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() + oct(p.stat().st_mode)
    return out


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "run"
    argv = ["train", "--preset", "tiny", "--tasks", "shapes,topics", "--num-train", "16", "--num-test", "8"]
    argv += ["--batch-size", "4", "--max-steps", "2", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 250, len(CASES)
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy, other = tmp_path / "copy", tmp_path / "other"
    work = tmp_path / "work"
    work.mkdir()
    needs_copy = any("{copy}" in a or "{other}" in a for a in case.argv)
    if needs_copy:
        shutil.copytree(trained_run, copy)
        shutil.copytree(trained_run, other)
    if case.setup is not None:
        case.setup(work, copy)
    folders = [trained_run] + ([copy, other] if needs_copy else [])
    before = [tree_hash(f) for f in folders]
    argv = [a.format(run=trained_run, copy=copy, other=other, tmp=work) for a in case.argv]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    assert rc != 0, f"exit 0 for {argv}\n{out}\n{err}"
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1, err
    assert re.search(case.says, errors[0]), errors[0]
    assert [tree_hash(f) for f in folders] == before, "a run folder changed"


def _embed_argv(run: Path, tmp: Path) -> list[str]:
    (tmp / "t.txt").write_text("a red cat\n")
    return ["embed", str(run), "--modality", "text", "--input", str(tmp / "t.txt"), "--out", str(tmp / "v.npz")]


def test_a_full_disk_is_one_line_naming_the_file(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(path: Path, write: Callable[[Path], None]) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(ckpt, "atomic_write", full)
    assert main(_embed_argv(trained_run, tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"omnivec embed: error: No space left on device: {tmp_path / 'v.npz'}"


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import omnivec.api.embed

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(omnivec.api.embed, "embed_inputs", broken)
    assert main(_embed_argv(trained_run, tmp_path)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unexpected error: KeyError" in err and "--debug" in err
    assert main([*_embed_argv(trained_run, tmp_path), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("omnivec embed: unexpected error")
