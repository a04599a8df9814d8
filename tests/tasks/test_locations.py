"""Location tokens and IoU, checked by hand."""

from __future__ import annotations

import pytest
import torch

from omnivec.errors import OmnivecError
from omnivec.families.unival import prompts
from omnivec.tasks.locations import (
    box_iou,
    box_to_tokens,
    ordered_box,
    parse_bins,
    pixel_box_to_tokens,
    special_tokens,
    tokens_to_box,
    tokens_to_pixel_box,
)


def test_special_tokens() -> None:
    toks = special_tokens(1000)
    assert len(toks) == 1000 and toks[0] == "<bin_0>" and toks[-1] == "<bin_999>"


def test_box_to_tokens_by_hand() -> None:
    assert box_to_tokens([0.0, 0.5, 1.0, 0.25], num_bins=1000) == [
        "<bin_0>",
        "<bin_500>",
        "<bin_999>",
        "<bin_250>",
    ]
    assert box_to_tokens([-0.01, 0.0, 1.2, 1.0], num_bins=11) == [
        "<bin_0>",
        "<bin_0>",
        "<bin_10>",
        "<bin_10>",
    ]
    assert tokens_to_box("<bin_0><bin_2> <bin_10><bin_5>", num_bins=11) == (0.0, 0.2, 1.0, 0.5)


def test_boxes_read_back_are_ordered_and_inside_the_image() -> None:
    """A generated answer may give its corners in any order (y1 < y0 was seen): the box returned is the rectangle
    they span, ordered, and a box in pixels never leaves the image."""
    assert tokens_to_box("<bin_10><bin_5><bin_0><bin_2>", num_bins=11) == (0.0, 0.2, 1.0, 0.5)
    assert tokens_to_pixel_box("<bin_1><bin_8><bin_8><bin_3>", 70, 35, num_bins=11) == pytest.approx(
        (7.0, 10.5, 56.0, 28.0)
    )
    assert ordered_box((2.06, 51.61, 51.61, 26.84)) == (1.0, 1.0, 1.0, 1.0)  # normalised: clipped to [0, 1]
    assert ordered_box((2.06, 51.61, 51.61, 26.84), 64, 64) == (2.06, 26.84, 51.61, 51.61)
    assert ordered_box((-5, 80, 90, -1), 64, 48) == (0.0, 0.0, 64.0, 48.0)


@pytest.mark.parametrize("num_bins", [10, 100, 1000])
def test_round_trip_within_one_bin(num_bins: int) -> None:
    g = torch.Generator().manual_seed(0)
    for box in torch.rand(200, 4, generator=g, dtype=torch.float64).tolist():
        box = ordered_box(box)  # a box as data hold it: x0 <= x1, y0 <= y1
        back = tokens_to_box(box_to_tokens(box, num_bins), num_bins)
        assert max(abs(x - y) for x, y in zip(box, back)) <= 0.5 / (num_bins - 1) + 1e-12


def test_pixel_boxes() -> None:
    toks = pixel_box_to_tokens([64, 48, 640, 480], width=640, height=480, num_bins=11)
    assert toks == ["<bin_1>", "<bin_1>", "<bin_10>", "<bin_10>"]
    assert tokens_to_pixel_box(toks, 640, 480, num_bins=11) == pytest.approx((64, 48, 640, 480))


def test_bad_tokens() -> None:
    with pytest.raises(OmnivecError, match="four"):
        tokens_to_box("<bin_1><bin_2>")
    with pytest.raises(OmnivecError, match="only <bin_i>"):
        parse_bins("<bin_1> dog")
    with pytest.raises(OmnivecError, match="outside"):
        tokens_to_box("<bin_1><bin_2><bin_3><bin_1000>")
    with pytest.raises(OmnivecError, match="four coordinates"):
        box_to_tokens([0.1, 0.2, 0.3])


def test_iou_by_hand() -> None:
    a = torch.tensor([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 4, 4], [1, 1, 1, 1]])
    b = torch.tensor([[0, 0, 2, 2], [1, 1, 3, 3], [2, 2, 3, 3], [0, 0, 2, 4], [1, 1, 1, 1]])
    # identical; 1 / (4 + 4 - 1); disjoint; 8 / 16; degenerate
    torch.testing.assert_close(box_iou(a, b), torch.tensor([1.0, 1 / 7, 0.0, 0.5, 0.0], dtype=torch.float64))


def test_prompts() -> None:
    assert prompts.caption_prompt() == " what does the image describe?"
    assert prompts.caption_prompt("audio") == " what does the audio describe?"
    assert prompts.matching_prompt("two dogs") == ' does the image describe " two dogs "?'
    assert prompts.grounding_prompt("the red car") == ' which region does the text " the red car " describe?'
    assert prompts.grounded_caption_prompt(["<bin_1>", "<bin_2>", "<bin_3>", "<bin_4>"]) == (
        " what does the region describe? region: <bin_1><bin_2><bin_3><bin_4>"
    )
    assert prompts.vqa_prompt("what  color is it") == " what color is it?"
    with pytest.raises(ValueError):
        prompts.caption_prompt("smell")
