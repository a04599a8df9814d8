"""Generated text data: templated English sentences labelled by topic.

All topics share the same templates, openers, people, times and endings, so sentence shape and length carry no
label; only the content words (topic nouns, verbs, adjectives) do. Some sentences borrow a generic adjective,
a few words ("cloud", "chip") belong to two topics, and about a quarter mention a noun from another topic,
so a model has to weigh the words rather than look one up.
"""

from __future__ import annotations

import numpy as np

from omnivec.data.base import SampleDataset
from omnivec.data.synthetic.common import balanced_labels, split_rng
from omnivec.types import Modality

TOPIC_NAMES = ["sports", "weather", "food", "technology", "finance"]

_NOUNS = {
    "sports": "match goalkeeper striker stadium tournament referee league coach penalty marathon racket "
    "championship team pitch trophy",
    "weather": "storm forecast rainfall thunder humidity breeze snowfall heatwave drizzle fog hurricane "
    "temperature frost cloud monsoon",
    "food": "recipe soup bakery chef pasta dessert spice sandwich kitchen omelette curry salad oven bread chip",
    "technology": "laptop software processor server app database robot smartphone algorithm network browser "
    "chip cloud keyboard update",
    "finance": "stock bank loan budget investor market dividend bond mortgage portfolio inflation currency "
    "tax profit interest",
}
_VERBS = {
    "sports": ["defeated", "trained with", "coached", "scored against", "tackled", "cheered for"],
    "weather": ["soaked", "battered", "cooled", "warmed", "flooded", "froze"],
    "food": ["baked", "roasted", "tasted", "seasoned", "served", "grilled"],
    "technology": ["installed", "debugged", "upgraded", "compiled", "rebooted", "encrypted"],
    "finance": ["invested in", "audited", "sold", "bought shares of", "refinanced", "valued"],
}
_ADJECTIVES = {
    "sports": "undefeated athletic competitive offside winning muscular",
    "weather": "stormy chilly humid sunny windy foggy freezing",
    "food": "delicious spicy crispy savoury sweet tender",
    "technology": "digital wireless encrypted faster automated programmable",
    "finance": "profitable bullish volatile taxable bankrupt lucrative",
}
_SHARED_ADJECTIVES = ["new", "big", "strange", "old", "famous", "local", "surprising", "usual"]
_WHO = [
    "my neighbour",
    "the reporter",
    "Maria",
    "Tom",
    "our teacher",
    "a friend of mine",
    "the mayor",
    "Priya",
]
_WHEN = ["yesterday", "last week", "this morning", "on Friday", "earlier today", "late that night"]
_OPENERS = ["honestly,", "according to the news,", "apparently", "I heard that", "in the end", "as usual,"]
_ENDINGS = ["", "", " again", " as everyone expected", ", or so they say", " for the second time"]
_TEMPLATES = [
    "{when}, {who} {verb} the {adj} {noun}{end}.",
    "{who} {verb} the {noun} and the {noun2}{end}.",
    "the {adj} {noun} was all anyone talked about {when}.",
    "{opener} the {noun} {verb} the {adj} {noun2}{end}.",
    "{who} thinks the {noun} looks {adj}{end}.",
    "nobody expected the {adj} {noun} {when}.",
    "{who} wrote about the {noun}, the {noun2} and the {adj} {noun3}.",
    "is the {noun} really that {adj}?",
    "{opener} {who} {verb} the {noun} {when}.",
]


def _sentence(rng: np.random.Generator, topic: str) -> str:
    def pick(options: list[str]) -> str:
        return options[int(rng.integers(len(options)))]

    nouns = _NOUNS[topic].split()
    adj = pick(_ADJECTIVES[topic].split()) if rng.uniform() < 0.65 else pick(_SHARED_ADJECTIVES)
    text = pick(_TEMPLATES).format(
        when=pick(_WHEN),
        who=pick(_WHO),
        opener=pick(_OPENERS),
        verb=pick(_VERBS[topic]),
        adj=adj,
        noun=pick(nouns),
        noun2=pick(nouns),
        noun3=pick(nouns),
        end=pick(_ENDINGS),
    )
    if rng.uniform() < 0.25:  # a distractor from another topic, after the sentence proper
        other = pick([t for t in TOPIC_NAMES if t != topic])
        lead = pick(["Someone also mentioned", "Nobody cared about", "Later came"])
        text += f" {lead} the {pick(_NOUNS[other].split())}."
    return text[0].upper() + text[1:]


def topics(split: str, num_samples: int = 2000, seed: int = 0) -> SampleDataset:
    """Sentences about sports, weather, food, technology or finance; target = topic."""
    rng = split_rng("topics", split, seed)
    labels = balanced_labels(rng, num_samples, len(TOPIC_NAMES))
    texts = [_sentence(rng, TOPIC_NAMES[int(y)]) for y in labels]
    return SampleDataset(Modality.TEXT, texts, labels.tolist(), TOPIC_NAMES, f"topics/{split}")


def topic_corpus(seed: int = 0, num_samples: int = 5000) -> list[str]:
    """Sentences to train a subword tokenizer on: a split of its own ("corpus"), never the test set."""
    return list(topics("corpus", num_samples, seed).samples)
