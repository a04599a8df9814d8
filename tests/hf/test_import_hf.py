"""Parity with transformers (the litgpt habit): a tiny random checkpoint of each supported ``model_type`` goes
through the shipped CLI path (``omnivec import``), and omnivec's hidden states / logits equal the transformers
model's on the same inputs within 1e-5 (fp32), its tokenizer giving the same ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import omnivec
from hf_helpers import TEXTS, ast_folder, bart_folder, bert_folder, vit_folder, vit_pixels, waveforms
from omnivec.cli import main

TOL = 1e-5


def imported(src: Path, tmp_path: Path, *extra: str) -> object:
    run = tmp_path / "run"
    assert main(["import", str(src), "--out", str(run), *extra]) == 0
    return omnivec.load(run, device="cpu")


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


@pytest.mark.parametrize("mae", [False, True], ids=["vit", "vit_mae"])
def test_vit_hidden_states_match_transformers(tmp_path: Path, mae: bool) -> None:
    ref, src = vit_folder(tmp_path / "hf", mae)
    model = imported(src, tmp_path)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        kw = {"noise": torch.arange(16.0).expand(3, -1)} if mae else {}  # mask ratio 0 and no shuffle
        want = ref(pixel_values=vit_pixels(src, images), **kw).last_hidden_state
        got = model.forward_features("image", model.collate("image", list(images))).x
    assert max_diff(got, want) <= TOL
    # omnivec.load(RUN).embed on raw images in [0, 1] == HF's class token on processed pixels
    assert max_diff(model.embed("image", list(images)), want[:, 0]) <= TOL


def test_bert_hidden_states_and_tokens_match_transformers(tmp_path: Path) -> None:
    ref, tok, src = bert_folder(tmp_path / "hf")
    model = imported(src, tmp_path)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    batch = model.collate("text", TEXTS)
    assert torch.equal(batch.data, enc.input_ids)  # same ids, [CLS] ... [SEP], [PAD] padding
    assert torch.equal(batch.lengths, enc.attention_mask.sum(1))
    with torch.no_grad():
        want = ref(**enc).last_hidden_state
        got = model.forward_features("text", batch).x
    valid = enc.attention_mask.bool()
    assert max_diff(got[valid], want[valid]) <= TOL
    mean = (want * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
    assert max_diff(model.embed("text", TEXTS), mean) <= TOL


def test_bart_encoder_and_logits_match_transformers(tmp_path: Path) -> None:
    ref, tok, src = bart_folder(tmp_path / "hf")
    model = imported(src, tmp_path, "--num-bins", "8")
    V = len(tok)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    batch = model.collate(None, TEXTS, None)
    assert torch.equal(batch.prompt.data, enc.input_ids)  # <s> ... </s>, <pad> padding
    assert model.tokenizer.vocab_size == V + 8 and model.tokenizer.tk.token_to_id("<bin_7>") == V + 7
    dec = torch.tensor([[0, 5, 9, 12, 7], [0, 8, 3, 1, 1], [0, 4, 4, 4, 4], [0, 20, 30, 40, 2]])
    with torch.no_grad():
        out = ref(**enc, decoder_input_ids=dec)
        memory, pad = model.encode(None, batch)
        logits = model.decoder(dec, memory, pad)
        cache = model.decoder.init_cache(memory, pad, dec.shape[1])
        stepped = torch.cat([model.decoder.step(dec[:, i : i + 1], cache) for i in range(dec.shape[1])], dim=1)
    valid = enc.attention_mask.bool()
    assert max_diff(memory[valid], out.encoder_last_hidden_state[valid]) <= TOL
    assert max_diff(logits[..., :V], out.logits) <= TOL
    assert max_diff(stepped[..., :V], out.logits) <= TOL  # cached decoding, the post-norm path too


def test_ast_hidden_states_match_transformers(tmp_path: Path) -> None:
    ref, fe, src = ast_folder(tmp_path / "hf")
    model = imported(src, tmp_path)
    waves = waveforms()
    feats = fe([w.numpy() for w in waves], sampling_rate=16000, return_tensors="pt").input_values
    batch = model.collate("audio", waves)
    assert max_diff(model.encoder("audio").features(batch), feats) <= TOL  # the feature extractor's features
    with torch.no_grad():
        want = ref(input_values=feats).last_hidden_state
        got = model.forward_features("audio", batch).x
    assert max_diff(got, want) <= TOL
    assert max_diff(model.embed("audio", waves), want[:, 0]) <= TOL


def test_load_reads_a_hugging_face_folder_directly(tmp_path: Path) -> None:
    ref, src = vit_folder(tmp_path / "hf")
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        want = ref(pixel_values=vit_pixels(src, images)).last_hidden_state[:, 0]
    assert max_diff(omnivec.load(src, device="cpu").embed("image", list(images)), want) <= TOL
    assert sorted(p.name for p in src.iterdir()) == ["config.json", "model.safetensors", "preprocessor_config.json"]


def test_pickled_weights_load_like_safetensors(tmp_path: Path) -> None:
    """pytorch_model.bin (read with weights_only=True) gives the same model as model.safetensors."""
    from safetensors.torch import load_file

    _, src = vit_folder(tmp_path / "hf")
    pkl = tmp_path / "pkl"
    pkl.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        (pkl / name).write_bytes((src / name).read_bytes())
    torch.save(load_file(str(src / "model.safetensors")), pkl / "pytorch_model.bin")
    images = [torch.rand(3, 32, 32) for _ in range(2)]
    a = omnivec.load(src, device="cpu").embed("image", images)
    b = omnivec.load(pkl, device="cpu").embed("image", images)
    assert torch.equal(a, b)


def test_every_command_of_the_pretrained_doc_parses() -> None:
    """docs/pretrained.md shows commands a user copies; a flag the CLI lacks fails here."""
    import re
    import shlex

    from omnivec.cli import build_parser

    doc = (Path(__file__).resolve().parents[2] / "docs" / "pretrained.md").read_text()
    lines = [
        ln.split("#", 1)[0].strip() for b in re.findall(r"```bash\n(.*?)```", doc, flags=re.S) for ln in b.splitlines()
    ]
    commands = [shlex.split(ln)[1:] for ln in lines if ln.startswith("omnivec ")]
    assert len(commands) >= 6
    for argv in commands:
        build_parser().parse_args(argv)  # argparse exits 2 on an unknown flag
