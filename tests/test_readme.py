"""The README's Python example runs as written (in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path: Path, monkeypatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["vectors"].shape[0] == 1
    assert namespace["labels"][0] in {"sphere", "cube", "cylinder", "cone", "torus"}


def test_readme_names_the_two_commands() -> None:
    text = README.read_text()
    assert "make quickstart" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make test-slow" in ci and "make test-slow" in text  # CI runs the slow set too, and the README says so


def _readme_commands() -> list[list[str]]:
    """Every ``omnivec ...`` line of the README's bash blocks, as argv (comments and continuations dropped)."""
    import shlex

    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("omnivec "):
                argv = shlex.split(line)[1:]
                commands.append(argv[: argv.index(">")] if ">" in argv else argv)  # shell redirection
    return commands


def test_every_readme_command_parses_with_the_real_cli() -> None:
    """A flag or command the README shows but the CLI lacks fails here (argparse exits 2)."""
    from omnivec.cli import build_parser

    commands = _readme_commands()
    assert len(commands) >= 15, commands
    parser = build_parser()
    for argv in commands:
        argv = [a.replace("[", "").replace("]", "") for a in argv if a not in ("[--seconds", "60]")]
        try:
            parser.parse_args(argv)
        except SystemExit as e:
            raise AssertionError(f"README command does not parse: omnivec {' '.join(argv)}") from e


def test_readme_commands_run_on_a_tiny_run(tmp_path: Path, monkeypatch, capsys) -> None:
    """The README's read-only commands (info, evaluate, embed, predict, tasks, config show) run as written on a
    tiny run folder put where the README's examples point."""
    from omnivec.api.train import train
    from omnivec.cli import main
    from omnivec.config import preset

    monkeypatch.chdir(tmp_path)
    cfg = preset("tiny")
    cfg.tasks = ["shapes", "tones", "topics"]
    cfg.train.max_steps, cfg.num_train, cfg.num_test = 2, 32, 16
    train(cfg, "runs/demo", progress=False)
    Path("sentences.txt").write_text("the first sentence\nand a second one\n")
    ran = 0
    for argv in _readme_commands():
        if argv[0] in ("tasks", "config") or (argv[0] in ("info", "evaluate", "embed") and "runs/demo" in argv):
            assert main(argv) == 0, argv
            ran += 1
    assert ran >= 4
    assert Path("vectors.npz").is_file()
