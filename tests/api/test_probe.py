"""The pretraining diagnostics: linear probe and k-NN on frozen features, and the random-weight twin they are
compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from omnivec.api.pretrain import pretrain
from omnivec.api.probe import format_report, knn_accuracy, linear_probe, random_twin
from omnivec.config import preset
from omnivec.nn.model import OmniModel


def clusters(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(4, 16) * 5
    y = rng.integers(0, 4, n)
    return centres[y] + rng.normal(0, noise, (n, 16)), y


def test_probes_separate_separable_features_and_not_noise() -> None:
    tr_x, tr_y = clusters(200, 0, 1.0)
    te_x, te_y = clusters(100, 1, 1.0)
    assert linear_probe(tr_x, tr_y, te_x, te_y) > 0.95
    assert knn_accuracy(tr_x, tr_y, te_x, te_y) > 0.95
    rng = np.random.default_rng(2)
    shuffled = rng.permutation(tr_y)  # labels unrelated to the features: near chance (0.25)
    assert linear_probe(tr_x, shuffled, te_x, te_y) < 0.5
    assert knn_accuracy(tr_x, shuffled, te_x, te_y) < 0.5


def test_knn_votes_by_nearest_neighbours() -> None:
    """Hand-checkable: two training points per class on opposite axes; k=1 picks the nearest by cosine."""
    tr_x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    tr_y = np.array([0, 0, 1, 1])
    te_x = np.array([[1.0, 0.2], [0.2, 1.0]])
    assert knn_accuracy(tr_x, tr_y, te_x, np.array([0, 1]), k=1) == 1.0
    assert knn_accuracy(tr_x, tr_y, te_x, np.array([1, 0]), k=1) == 0.0


def test_random_twin_is_the_same_architecture_with_fresh_seeded_weights() -> None:
    torch.manual_seed(5)
    model = OmniModel(preset("tiny").model)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2)
    a, b = random_twin(model, seed=1), random_twin(model, seed=1)
    sa, sb, sm = a.state_dict(), b.state_dict(), model.state_dict()
    assert sa.keys() == sm.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # seeded
    assert any(not torch.equal(sa[k], sm[k]) for k in sa if sa[k].is_floating_point())
    state = torch.get_rng_state()
    random_twin(model, seed=3)
    assert torch.equal(state, torch.get_rng_state())  # the caller's random stream is untouched


def test_report_says_when_pretraining_is_not_better_than_random() -> None:
    rows = [
        {"task": "a", "modality": "image", "linear": 0.9, "random_linear": 0.8, "knn": 0.8, "random_knn": 0.7},
        {"task": "b", "modality": "audio", "linear": 0.5, "random_linear": 0.6, "knn": 0.5, "random_knn": 0.6},
    ]
    text = format_report(rows)
    assert "a " in text and "learnt" in text.splitlines()[1]
    assert "NOT better than random weights" in text.splitlines()[2]
    assert "no labelled classification task" in format_report([])


@pytest.mark.parametrize("objective", ["pixels", "latent"])
def test_pretrain_ends_with_a_probe_of_each_classification_task(tmp_path: Path, objective: str) -> None:
    from omnivec.api.pretrain import PretrainConfig

    cfg = preset("tiny")
    cfg.num_train, cfg.num_test, cfg.tasks = 40, 20, ["shapes", "tones"]
    cfg.train.max_steps, cfg.train.batch_size = 2, 8
    s = pretrain(cfg, tmp_path / "pt", PretrainConfig(objective=objective), progress=False)
    rows = {r["task"]: r for r in s["probe"]}
    assert set(rows) == {"shapes", "tones"}
    for r in rows.values():
        assert 0.0 <= r["linear"] <= 1.0 and 0.0 <= r["random_knn"] <= 1.0
        assert r["num_train"] == 40 and r["num_test"] == 20
    assert (tmp_path / "pt" / "reconstructions.png").is_file() == (objective == "pixels")  # shapes: an image task


def test_reconstructions_keep_visible_patches_and_grey_out_hidden_ones() -> None:
    from omnivec.api.pretrain import MaskedAutoencoder, PretrainConfig
    from omnivec.api.recon_figure import reconstructions

    torch.manual_seed(0)
    mae = MaskedAutoencoder(OmniModel(preset("tiny").model), PretrainConfig())
    samples = [torch.rand(3, 16, 16) for _ in range(2)]
    orig, masked, recon = reconstructions(mae, "image", samples)
    assert orig.shape == masked.shape == recon.shape == (2, 3, 16, 16)
    torch.testing.assert_close(orig, torch.stack(samples))  # the picture is the input, in its own layout
    kept = (masked == orig) & (orig != orig.amin())  # hidden patches are set to the minimum
    assert 0 < kept.float().mean() < 0.5  # a quarter of the 8x8 patches stay visible at ratio 0.75
    assert torch.equal(recon[kept], orig[kept])
    assert not torch.equal(recon[~kept], orig[~kept])
