"""Detection as generation (``detect_image``: every digit as four location tokens and its name, in the captions'
reading order) and the one-digit recognition task ``digit_image``: the answer text, its parsing, its score."""

from __future__ import annotations

import pytest
import torch

from data_helpers import real_root
from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.derived_tasks import _scenes
from omnivec.families.unival.tasks import get_seq2seq_task
from omnivec.tasks import seq2seq_kind
from omnivec.tasks.locations import detections_to_text, parse_detections

NUM_BINS = 32


def test_detection_text_round_trips_within_half_a_bin() -> None:
    objects = [((0.1, 0.2, 0.4, 0.5), "7"), ((0.55, 0.0, 1.0, 0.31), "3")]
    text = detections_to_text(objects, NUM_BINS)
    assert text.count("<bin_") == 8 and text.endswith(" 3")
    back = parse_detections(text, NUM_BINS)
    assert [n for n, _ in back] == ["7", "3"]
    for (box, _), (_, got) in zip(objects, back):
        assert got == pytest.approx(box, abs=0.5 / (NUM_BINS - 1) + 1e-9)


def test_malformed_pieces_are_dropped_not_raised() -> None:
    text = "<bin_1><bin_2><bin_3> 7 <bin_1><bin_2><bin_3><bin_99> 8 <bin_0><bin_0><bin_4><bin_4> 2 <bin_1>"
    # three bins only; a bin out of range; the one good piece; a trailing bin without name
    assert parse_detections(text, NUM_BINS) == [("2", (0.0, 0.0, 4 / 31, 4 / 31))]
    assert parse_detections("nothing here", NUM_BINS) == []


def test_detection_score_counts_each_reference_once() -> None:
    kind = seq2seq_kind("detection")
    ref = [[((0.0, 0.0, 0.5, 0.5), "7"), ((0.5, 0.5, 1.0, 1.0), "3")]]
    right = detections_to_text([((0.0, 0.0, 0.5, 0.5), "7")], NUM_BINS)
    twice = kind.score([right + " " + right], ref, NUM_BINS)  # one hit, one duplicate: precision 1/2, recall 1/2
    assert twice == pytest.approx({"f1_iou50": 0.5, "precision": 0.5, "recall": 0.5})
    moved = detections_to_text([((0.25, 0.25, 0.75, 0.75), "7")], NUM_BINS)  # IoU 1/7 with the 7's box
    assert kind.score([moved], ref, NUM_BINS)["f1_iou50"] == 0.0
    named = detections_to_text([((0.5, 0.5, 1.0, 1.0), "7")], NUM_BINS)  # the 3's box, the wrong name
    assert kind.score([named], ref, NUM_BINS)["f1_iou50"] == 0.0


def test_detect_image_names_every_digit_in_caption_order() -> None:
    cfg = unival_preset("tiny", num_bins=NUM_BINS)
    cfg.data_root, cfg.num_train, cfg.num_test = str(real_root()), 10, 4
    task = get_seq2seq_task("detect_image")
    train, _ = task.build(cfg)
    scenes = _scenes(lambda s: s, cfg).train
    assert len(train) == len(scenes)
    for (raw, answer, ref), scene in zip((train[i] for i in range(len(train))), scenes):
        prompt, image = task.prompt_and_sample(raw)
        assert prompt == " what are the objects in the image?" and torch.equal(image, scene.image)
        names = [n for n, _ in parse_detections(answer, NUM_BINS)]
        assert sorted(names) == sorted(o.name for o in scene.objects)
        in_caption = [w for w in scene.caption.replace(",", " ").split() if w.isdigit()]
        assert names == in_caption  # the captions' reading order
        assert seq2seq_kind("detection").score([answer], [ref], NUM_BINS)["f1_iou50"] == 1.0


def test_digit_image_is_one_digit_and_its_name() -> None:
    cfg = unival_preset("tiny", num_bins=NUM_BINS)
    cfg.data_root, cfg.num_train, cfg.num_test = str(real_root()), 8, 4
    train, test = get_seq2seq_task("digit_image").build(cfg)
    assert len(train) == 8 and len(test) == 4
    for image, answer, ref in (train[i] for i in range(len(train))):
        assert image.shape == (1, 64, 64) and answer == ref and answer in "0123456789" and len(answer) == 1
        assert (image > 0.5).any()  # a digit is drawn
