"""Config files inherit their preset and override only what they name; ``omnivec config show`` prints a
complete, commented config that reads back to the preset; the UnIVAL commands take ``--config`` too."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from omnivec.cli import main
from omnivec.config import RunConfig, load_config_file, preset, to_dict
from omnivec.errors import OmnivecError
from omnivec.families.unival.config import UnivalRunConfig, unival_preset


def test_a_minimal_config_is_its_preset_plus_what_it_names(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("preset: small\ntrain: {lr: 3.0e-4}\nmodel: {encoders: {image: {stem: hmlp}, video: null}}\n")
    cfg = load_config_file(f, RunConfig, preset)
    want = preset("small")
    assert cfg.train.lr == 3e-4 and cfg.train.max_steps == want.train.max_steps
    assert cfg.model.embed_dim == want.model.embed_dim and cfg.preset == "small"
    assert cfg.model.encoders["image"].to_dict() == {**want.model.encoders["image"].to_dict(), "stem": "hmlp"}
    assert "video" not in cfg.model.encoders and "audio" in cfg.model.encoders


def test_without_preset_the_default_one_is_used_and_typos_are_named(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("train: {max_steps: 7}\n")
    assert to_dict(load_config_file(f, RunConfig, preset, "tiny")) == to_dict(_with(preset("tiny"), 7))
    f.write_text("train: {max_stpes: 7}\n")
    with pytest.raises(OmnivecError, match=r"c.yaml.train: unknown field\(s\) \['max_stpes'\]"):
        load_config_file(f, RunConfig, preset)


def _with(cfg: RunConfig, steps: int) -> RunConfig:
    cfg.train.max_steps = steps
    return cfg


@pytest.mark.parametrize("family", ["omnivec", "unival"])
@pytest.mark.parametrize("name", ["tiny", "small"])
def test_config_show_is_complete_commented_and_reads_back(family: str, name: str, capsys) -> None:
    assert main(["config", "show", "--preset", name, "--family", family]) == 0
    text = capsys.readouterr().out
    assert text.count("\n# ") >= 5 and "  # Width D of the shared token space" in text
    data = yaml.safe_load(text)
    if family == "unival":
        want = to_dict(unival_preset(name))
    else:
        want = to_dict(preset(name))
    # encoder specs are completed with their defaults, so compare after building both
    cls = UnivalRunConfig if family == "unival" else RunConfig
    from omnivec.config import from_dict

    got = to_dict(from_dict(cls, data))
    enc_key = ("model", "backbone", "encoders") if family == "unival" else ("model", "encoders")

    def strip(d: dict) -> dict:
        node = d
        for k in enc_key[:-1]:
            node = node[k]
        node.pop(enc_key[-1])
        return d

    assert strip(got) == strip(want)


def test_the_unival_commands_take_a_config(tmp_path: Path, monkeypatch) -> None:
    import omnivec.families.unival.train as ut

    seen = {}

    def fake_pretrain(cfg, out, tasks=None, progress=True, eval_limit=0, device="auto"):
        seen["cfg"] = cfg
        return {}

    monkeypatch.setattr(ut, "pretrain", fake_pretrain)
    f = tmp_path / "u.yaml"
    f.write_text("model: {decoder_depth: 3}\ntrain: {lr: 0.01}\nnum_train: 64\n")
    assert main(["unival", "pretrain", "--config", str(f), "--out", str(tmp_path / "o"), "--steps", "5"]) == 0
    cfg = seen["cfg"]
    assert cfg.model.decoder_depth == 3 and cfg.train.lr == 0.01 and cfg.num_train == 64
    assert cfg.train.max_steps == 5  # a flag given overrides the file
    assert cfg.model.num_bins == unival_preset("tiny").model.num_bins


FIXTURES = Path(__file__).parents[1] / "fixtures" / "main_configs"
"""``config.yaml`` of tiny runs written by main before the encoder configs were typed (``omnivec train`` with
``--set model.encoders.image.patch_size=4 --set model.encoders.audio.augment_noise=0.0``; ``omnivec unival
pretrain`` with and without ``--cnn``)."""


@pytest.mark.parametrize("name", ["omnivec_train", "unival_pretrain", "unival_cnn"])
def test_a_config_yaml_written_before_typed_encoders_loads_and_saves_to_the_same_bytes(name: str, tmp_path) -> None:
    from omnivec.config import EncoderConfig, load_yaml, save_yaml
    from omnivec.families.unival.config import UnivalRunConfig

    src = FIXTURES / f"{name}.yaml"
    cls = UnivalRunConfig if name.startswith("unival") else RunConfig
    cfg = load_yaml(cls, src)
    model = cfg.model.backbone if isinstance(cfg, UnivalRunConfig) else cfg.model
    assert model.encoders and all(isinstance(e, EncoderConfig) for e in model.encoders.values())
    save_yaml(cfg, tmp_path / "config.yaml")
    assert (tmp_path / "config.yaml").read_bytes() == src.read_bytes()


def test_encoder_fields_read_from_a_file_are_typed_and_overridable(tmp_path: Path) -> None:
    from omnivec.config import apply_override, load_yaml

    cfg = load_yaml(RunConfig, FIXTURES / "omnivec_train.yaml")
    image = cfg.model.encoders["image"]
    assert (image.name, image.patch_size, image.stem) == ("image_patch", 4, "cnn")  # type: ignore[attr-defined]
    cfg = apply_override(cfg, "model.encoders.image.patch_size=2")
    assert cfg.model.encoders["image"].patch_size == 2  # type: ignore[attr-defined]
    with pytest.raises(OmnivecError, match="patch_sise"):
        apply_override(cfg, "model.encoders.image.patch_sise=2")
