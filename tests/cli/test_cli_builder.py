"""One set of config and data flags for every training command of both families, one builder applying them
(:func:`omnivec.cli.common.build_run_config`), and `omnivec --help` grouped as one tool (merge of N runs:
test_merge_cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from data_helpers import unival_pretraining_tsv
from omnivec.cli import COMMAND_GROUPS, build_parser, main
from omnivec.cli.common import build_run_config
from omnivec.families.registry import family as family_named
from omnivec.families.unival.config import UnivalRunConfig
from omnivec.training import checkpoint as ckpt

TRAINING_COMMANDS = {  # command line up to the shared flags -> the family whose config it builds
    ("train", "--out", "X"): "omnivec",
    ("pretrain", "--out", "X"): "omnivec",
    ("finetune", "scratch", "--out", "X"): "omnivec",
    ("unival", "pretrain", "--out", "X"): "unival",
    ("unival", "finetune", "scratch", "--out", "X"): "unival",
}
COMMANDS = list(TRAINING_COMMANDS)
SHARED = ["--preset", "tiny", "--set", "train.lr=0.001", "--set", "train.seed=3", "--train-limit", "5"]
SHARED += ["--test-limit", "6", "--data-root", "/data", "--strict"]


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_training_command_takes_the_shared_flags(command: tuple[str, ...]) -> None:
    a = parse([*command, *SHARED, "--config", "c.yaml"])
    assert (a.preset, a.config, a.set) == ("tiny", "c.yaml", ["train.lr=0.001", "train.seed=3"])
    assert (a.train_limit, a.test_limit, a.data_root, a.strict) == (5, 6, "/data", True)


SHARED_FLAGS = ["--out", "--steps", "--max-steps", "--batch-size", "--lr", "--seed", "--checkpoint-every"]
SHARED_FLAGS += ["--num-train", "--num-test", "--preset", "--config", "--set", "--train-limit", "--test-limit"]
SHARED_FLAGS += ["--data-root", "--strict", "--resume", "--quiet", "--device"]


def _subparser(command: tuple[str, ...]) -> argparse.ArgumentParser:
    p = build_parser()
    for word in command[: 2 if command[0] == "unival" else 1]:
        p = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
    return p


def test_every_training_command_spells_and_explains_the_shared_flags_alike() -> None:
    """One builder (:func:`omnivec.cli.common.add_training_flags`): the same flags, dests and help on all five
    (the help names the family's default preset, config family and task source where those differ)."""
    seen: dict[str, set[tuple[str, str]]] = {}
    for command in COMMANDS:
        actions = {s: a for a in _subparser(command)._actions for s in a.option_strings}
        for flag in SHARED_FLAGS:
            a = actions[flag]
            assert a.help, f"{' '.join(command[:2])} {flag} has a help text"
            seen.setdefault(flag, set()).add((a.dest, a.help.replace("unival", "F").replace("omnivec", "F")))
    varying = {"--preset", "--config", "--num-train", "--num-test"}  # default preset; `config show`; task source
    assert {f: len(v) for f, v in seen.items() if len(v) > 1 and f not in varying} == {}
    assert all(len({dest for dest, _ in seen[f]}) == 1 for f in varying)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_steps_and_seed_reach_the_config(command: tuple[str, ...]) -> None:
    family = TRAINING_COMMANDS[command]
    for steps in ("--steps", "--max-steps"):
        cfg = build_run_config(parse([*command, steps, "7", "--seed", "4"]), family)
        assert (cfg.train.max_steps, cfg.train.seed) == (7, 4)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_builder_applies_one_policy(command: tuple[str, ...]) -> None:
    family = TRAINING_COMMANDS[command]
    cfg = build_run_config(parse([*command, *SHARED, "--lr", "0.002"]), family)
    assert cfg.preset == "tiny" and cfg.strict and cfg.data_root == "/data"
    assert cfg.train.lr == 0.002, "a flag given wins over --set"
    assert cfg.train.seed == 3, "--set reaches the config"
    if isinstance(cfg, UnivalRunConfig):  # no cap fields: the limits cap the derived tasks' sizes
        assert (cfg.num_train, cfg.num_test) == (5, 6)
    else:
        assert (cfg.train_limit, cfg.test_limit) == (5, 6)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_default_preset_lives_in_one_place(command: tuple[str, ...]) -> None:
    family = TRAINING_COMMANDS[command]
    cfg = build_run_config(parse(list(command)), family)
    assert cfg.preset == family_named(family).default_preset == {"omnivec": "cpu", "unival": "tiny"}[family]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_config_file_then_set_then_flags(command: tuple[str, ...], tmp_path: Path) -> None:
    family = TRAINING_COMMANDS[command]
    (tmp_path / "c.yaml").write_text("preset: small\ntrain: {lr: 0.004, weight_decay: 0.5}\n")
    argv = [*command, "--config", str(tmp_path / "c.yaml"), "--set", "train.weight_decay=0.25", "--batch-size", "3"]
    cfg = build_run_config(parse(argv), family)
    assert cfg.preset == "small" and cfg.train.lr == 0.004
    assert (cfg.train.weight_decay, cfg.train.batch_size) == (0.25, 3)


def test_unival_caps_never_raise_sizes() -> None:
    argv = ["unival", "pretrain", "--out", "X", "--num-train", "8", "--train-limit", "50"]
    cfg = build_run_config(parse(argv), "unival")
    assert cfg.num_train == 8
    cfg = build_run_config(parse(["unival", "pretrain", "--out", "X", "--train-limit", "0"]), "unival")
    assert (cfg.num_train, cfg.num_test) == (2000, 200), "0: no cap"


def test_a_tiny_unival_run_saves_set_and_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMNIVEC_DATA", raising=False)
    data = unival_pretraining_tsv(tmp_path / "pretrain.tsv", 4)
    run = tmp_path / "run"
    argv = ["unival", "finetune", "scratch", "--tsv", f"pretrain={data}", "--out", str(run), "--steps", "1"]
    argv += ["--num-bins", "16", "--image-size", "16", "--batch-size", "2", "--eval-limit", "2", "--quiet"]
    argv += ["--set", "train.weight_decay=0.01", "--test-limit", "3"]
    assert main(argv) == 0
    from omnivec.config import load_yaml

    cfg = load_yaml(UnivalRunConfig, run / ckpt.CONFIG)
    assert cfg.train.weight_decay == 0.01 and cfg.num_test == 3 and cfg.train.max_steps == 1
    argv = ["unival", "finetune", "scratch", "--out", str(run), "--resume", "--set", "train.lr=1"]
    assert main(argv) == 2, "--set cannot change on resume"


# ------------------------------------------------------------------------------------------------ --help


def test_help_lists_every_command_once_in_its_group(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    grouped = [n for names in COMMAND_GROUPS.values() for n in names]
    assert sorted(grouped) == sorted(commands), "every command in exactly one group of omnivec --help"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "other:" not in text
    positions = [text.index(f"\n  {n} ") for n in grouped]
    assert positions == sorted(positions), "listed in the groups' order"
    for name in commands:
        help_line = text.split(f"\n  {name} ", 1)[1].split("\n", 1)[0].strip()
        assert help_line, f"{name} has a one-line help"
