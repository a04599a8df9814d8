"""``omnivec export RUN --format hf``: omnivec -> HF folder -> transformers gives the same outputs (ViT, BERT,
BART), and a run no transformers class computes becomes an omnivec run folder."""

from __future__ import annotations

from pathlib import Path

import torch

import omnivec
from hf_helpers import TEXTS, bart_folder, bert_folder, transformers, vit_folder
from omnivec.cli import main

TOL = 1e-5


def round_trip(src: Path, tmp_path: Path, *extra: str) -> Path:
    run, out = tmp_path / "run", tmp_path / "exported"
    assert main(["import", str(src), "--out", str(run), *extra]) == 0
    assert main(["export", str(run), "--format", "hf", "--out", str(out)]) == 0
    return out


def test_vit_round_trip(tmp_path: Path) -> None:
    ref, src = vit_folder(tmp_path / "hf")
    out = round_trip(src, tmp_path)
    back = transformers.ViTModel.from_pretrained(out).eval()
    images = torch.rand(2, 3, 32, 32)
    proc = transformers.ViTImageProcessor.from_pretrained(out)  # the exported mean/std
    pixels = proc(images=list(images), do_rescale=False, do_resize=False, return_tensors="pt").pixel_values
    with torch.no_grad():
        want = ref(pixel_values=pixels).last_hidden_state
        got = back(pixel_values=pixels).last_hidden_state
    assert float((got - want).abs().max()) <= TOL


def test_bert_round_trip_with_tokenizer(tmp_path: Path) -> None:
    ref, _, src = bert_folder(tmp_path / "hf")
    out = round_trip(src, tmp_path)
    back = transformers.BertModel.from_pretrained(out).eval()
    tok = transformers.PreTrainedTokenizerFast.from_pretrained(out)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        want, got = ref(**enc).last_hidden_state, back(**enc).last_hidden_state
    valid = enc.attention_mask.bool()
    assert float((got[valid] - want[valid]).abs().max()) <= TOL


def test_bart_round_trip_after_training_changes_the_modality_embedding(tmp_path: Path) -> None:
    """A fine-tuned model's text modality embedding is non-zero: the export folds it into BART's embedding
    LayerNorm, so transformers still computes what omnivec computes."""
    _, tok, src = bart_folder(tmp_path / "hf")
    run, out = tmp_path / "run", tmp_path / "exported"
    assert main(["import", str(src), "--out", str(run), "--num-bins", "8"]) == 0
    model = omnivec.load(run, device="cpu")
    from omnivec.families.unival.model import save_unival

    with torch.no_grad():
        model.backbone.modality_embed["text"].normal_(0, 0.1)
    save_unival(model, model.run_config, run)
    assert main(["export", str(run), "--format", "hf", "--out", str(out)]) == 0
    back = transformers.BartForConditionalGeneration.from_pretrained(out).eval()
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    dec = torch.tensor([[0, 5, 9, 12], [0, 8, 3, 1], [0, 4, 4, 4], [0, 20, 30, 2]])
    with torch.no_grad():
        memory, pad = model.encode(None, model.collate(None, TEXTS, None))
        want = model.decoder(dec, memory, pad)
        got = back(**enc, decoder_input_ids=dec).logits
    assert got.shape == want.shape  # the location tokens are in the exported vocabulary
    assert float((got - want).abs().max()) <= TOL


def test_a_run_without_an_hf_equivalent_is_written_as_a_run_folder(tmp_path: Path) -> None:
    from omnivec.config import preset_model
    from omnivec.nn.model import OmniModel
    from omnivec.runs import save_run

    cfg = preset_model("tiny")
    cfg.encoders = {"image": cfg.encoders["image"]}  # the cnn stem: no transformers class
    run = tmp_path / "run"
    save_run(OmniModel(cfg), omnivec.config.RunConfig(model=cfg), run)
    out = tmp_path / "exported"
    assert main(["export", str(run), "--format", "hf", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "model.safetensors"]
    assert omnivec.load(out, device="cpu").embed("image", [torch.rand(3, 16, 16)]).shape == (1, 64)


def test_only_the_converters_of_the_model_family_are_asked(monkeypatch) -> None:
    """``as_hf`` picks converters by the model's family (no converter tests the model's class)."""
    from omnivec.hf.base import CONVERTERS
    from omnivec.hf.export import as_hf

    asked: list[str] = []
    for name in CONVERTERS.names():
        monkeypatch.setattr(CONVERTERS.get(name), "to_hf", lambda self, model, n=name: asked.append(n))

    class Stub(torch.nn.Module):
        family = "unival"

    assert as_hf(Stub()) is None and asked == ["bart"]
    asked.clear()
    Stub.family = "omnivec"
    assert as_hf(Stub()) is None and sorted(asked) == sorted(set(CONVERTERS.names()) - {"bart"})


def test_an_export_names_the_tensors_it_leaves_behind(tmp_path: Path, capsys) -> None:
    """A BERT run with a classification head exports BertModel: the report names the head it drops (every tensor
    the converter never read), and a run exported whole says so."""
    from omnivec.config import TaskConfig
    from omnivec.hf.base import dropped_note
    from omnivec.hf.export import as_hf

    _, _, src = bert_folder(tmp_path / "hf")
    run = tmp_path / "run"
    assert main(["import", str(src), "--out", str(run)]) == 0
    assert main(["export", str(run), "--format", "hf", "--out", str(tmp_path / "whole")]) == 0
    assert "every tensor of the run is in the export" in capsys.readouterr().out
    model = omnivec.load(run, device="cpu")
    model.add_task(TaskConfig("banking", "classification", "text", num_classes=3, class_names=["a", "b", "c"]))
    export = as_hf(model)
    assert export is not None and export.dropped and all(k.startswith("heads.banking.") for k in export.dropped)
    assert dropped_note(export.dropped).startswith(
        f"not exported: {len(export.dropped)} tensors of the run: heads.banking"
    )
