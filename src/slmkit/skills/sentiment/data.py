"""What the three-way sentiment head learns from, and the sets it is checked on, kept apart.

polar     Pang & Lee sentence polarity (movie reviews), its seeded 80 % train split
negated   sentences slmkit writes itself with a negation ("the plot wasn't dull" -> positive): the
          words, nouns and sentence frames are split in two disjoint halves, one to train on and one
          that only the negation test set uses, so the test checks the rule and not memorised phrases
neutral   factual sentences from SQuAD v1.1 dev paragraphs (Wikipedia): articles split by number, so
          the neutral test sentences come from articles the head never saw

Why generated negations: in Pang & Lee's sentences a negation seldom decides the polarity (23 % hold
a negator word, mostly in a side clause), and a frozen sentence encoder puts "not terrible" next to
"terrible"; the negation head needs examples where the negation is what the sentence says.
Why encyclopaedic neutrals: they are packaged, plentiful and factual; the off-distribution checks
(news sentences from CoNLL-2003, MultiEmo's neutral review sentences) are never trained on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from slmkit.datasets import LabelledText, load_squad, pang_lee, stratified_split

SEED = 13
POLAR_TEST_FRACTION = 0.2

POSITIVE_WORDS = (
    "amazing", "wonderful", "excellent", "great", "good", "fantastic", "brilliant", "delightful", "superb",
    "enjoyable", "charming", "pleasant", "impressive", "outstanding", "lovely", "terrific", "satisfying",
    "beautiful", "engaging", "memorable", "fun", "helpful", "friendly", "comfortable", "reliable", "clever",
    "funny", "moving", "elegant", "fresh", "solid", "remarkable", "marvelous", "stunning", "gripping",
    "heartwarming", "inspiring", "polished", "smooth", "tasty", "worthwhile", "exciting", "perfect", "nice",
    "decent", "awesome", "splendid", "fascinating", "compelling", "refreshing",
)
NEGATIVE_WORDS = (
    "terrible", "awful", "horrible", "bad", "boring", "dull", "disappointing", "poor", "mediocre", "annoying",
    "dreadful", "painful", "tedious", "unpleasant", "weak", "sloppy", "lousy", "pathetic", "frustrating",
    "useless", "rude", "uncomfortable", "unreliable", "bland", "stupid", "ugly", "messy", "noisy", "dirty",
    "broken", "clumsy", "confusing", "forgettable", "lifeless", "pointless", "shoddy", "stale", "tiresome",
    "unbearable", "unwatchable", "overpriced", "cheap", "flimsy", "slow", "dreary", "atrocious", "abysmal",
    "irritating", "lame", "worthless",
)
TRAIN_NOUNS = ("movie", "film", "story", "acting", "plot", "soundtrack", "hotel", "room", "service", "food",
               "script", "cast", "dialogue", "ending", "restaurant")
TEST_NOUNS = ("phone", "battery", "app", "staff", "meal", "book", "concert", "course", "laptop", "camera",
              "headphones", "flight", "hospital", "doctor", "game")

# {noun} {adj}: a negated frame says the opposite of its adjective.
TRAIN_NEGATED = (
    "the {noun} was not {adj}.", "the {noun} wasn't {adj}.", "honestly, the {noun} isn't {adj}.",
    "i thought the {noun} was never {adj}.", "it's not a {adj} {noun}.", "this {noun} is not {adj} at all.",
    "i didn't find the {noun} {adj}.", "nobody would call the {noun} {adj}.", "the {noun} is hardly {adj}.",
    "the {noun} was by no means {adj}.",
    # r5: negators without a negator word, and the approximate ones (see ``features.MULTIWORD_NEGATORS``)
    "the {noun} was anything but {adj}.", "the {noun} is rarely {adj}.", "the {noun} failed to be {adj}.",
)
TEST_NEGATED = (
    "overall, the {noun} wasn't {adj}.", "we did not think the {noun} was {adj}.",
    "i wouldn't say the {noun} is {adj}.", "the {noun}? not {adj} in the least.",
    "my {noun} has never been {adj}.", "there was nothing {adj} about the {noun}.",
    "the {noun} is far from {adj}.", "to be fair, the {noun} isn't really {adj}.",
)
TRAIN_PLAIN = ("the {noun} was {adj}.", "honestly, the {noun} is {adj}.", "it's a {adj} {noun}.",
               "i found the {noun} {adj}.", "the {noun} was really {adj}.")
# Negations that keep the polarity (idioms): a head must not flip every "not".
TRAIN_KEPT = {
    "positive": ("i have never seen a more {adj} {noun}.", "i can't say enough good things about the {noun}.",
                 "no complaints about the {noun} at all.", "the {noun} couldn't have been better.",
                 "the {noun} never fails to be {adj}."),
    "negative": ("i will never use this {noun} again.", "the {noun} is not worth the money.",
                 "nothing about the {noun} worked.", "no one cared about the {noun}."),
}
TEST_KEPT = {
    "positive": ("i've never been happier with a {noun}.", "honestly, i have nothing bad to say about the {noun}.",
                 "the {noun} could not be any better."),
    "negative": ("never again will i buy this {noun}.", "the {noun} doesn't work and no one helps.",
                 "not a single thing about the {noun} was right."),
}


def _halves(words: Sequence[str], seed: int = SEED) -> tuple[list[str], list[str]]:
    shuffled = sorted(words)
    random.Random(seed).shuffle(shuffled)
    half = len(shuffled) // 2
    return shuffled[:half], shuffled[half:]


def _opposite(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def _generated(part: str, n: int, seed: int) -> list[LabelledText]:
    """``n`` negated sentences (half positive) from one half of the words, nouns and frames."""
    index = 0 if part == "train" else 1
    words = {"positive": _halves(POSITIVE_WORDS)[index], "negative": _halves(NEGATIVE_WORDS)[index]}
    nouns = TRAIN_NOUNS if part == "train" else TEST_NOUNS
    frames = TRAIN_NEGATED if part == "train" else TEST_NEGATED
    kept = TRAIN_KEPT if part == "train" else TEST_KEPT
    rng = random.Random(seed)
    pool: dict[str, set[str]] = {"positive": set(), "negative": set()}
    for polarity, adjectives in words.items():
        for adj in adjectives:
            for noun in nouns:
                for frame in frames:
                    pool[_opposite(polarity)].add(frame.format(noun=noun, adj=adj))
    for label, frames_kept in kept.items():
        for frame in frames_kept:
            for noun in nouns:
                for adj in words[label]:
                    pool[label].add(frame.format(noun=noun, adj=adj))
    out = []
    for label, texts in pool.items():
        out.extend(LabelledText(t, label) for t in rng.sample(sorted(texts), min(len(texts), n // 2)))
    rng.shuffle(out)
    return out


def negation_train(n: int = 800, seed: int = SEED, plain: bool = True) -> list[LabelledText]:
    """Generated negated sentences (and, with ``plain``, plain counterparts), from the training half only."""
    out = _generated("train", n, seed)
    if not plain:
        return out
    words = {"positive": _halves(POSITIVE_WORDS)[0], "negative": _halves(NEGATIVE_WORDS)[0]}
    rng = random.Random(seed + 1)
    plain = sorted({(frame.format(noun=noun, adj=adj), label) for label, adjectives in words.items()
                    for adj in adjectives for noun in TRAIN_NOUNS for frame in TRAIN_PLAIN})
    out.extend(LabelledText(t, label) for t, label in rng.sample(plain, min(len(plain), n // 2)))
    return out


def negation_test(n: int = 240, seed: int = SEED + 7) -> list[LabelledText]:
    """The negation test set: sentences with a negation, half positive, half negative, from words,
    nouns and frames the training half never uses."""
    return _generated("test", n, seed)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _squad_sentences(keep_article: int) -> list[str]:
    corpus = load_squad()
    out: list[str] = []
    for paragraph, article in zip(corpus.paragraphs, corpus.articles, strict=True):
        if article % 4 != keep_article:
            continue
        for sentence in _SENTENCE.split(paragraph):
            words = sentence.split()
            if 6 <= len(words) <= 40 and sentence.rstrip().endswith("."):
                out.append(sentence.strip())
    return sorted(set(out))


def neutral_train(n: int = 1600, seed: int = SEED) -> list[LabelledText]:
    """Factual sentences from three quarters of SQuAD dev's articles (article number % 4 != 0)."""
    sentences = [s for k in (1, 2, 3) for s in _squad_sentences(k)]
    rng = random.Random(seed)
    return [LabelledText(s, "neutral") for s in rng.sample(sentences, min(n, len(sentences)))]


def neutral_plain(n: int = 800, seed: int = SEED) -> list[LabelledText]:
    """Factual sentences that are not encyclopaedic prose (r5): MMLU question stems written as statements
    and slmkit's synthetic PII sentences (forms, addresses, requests), ``n`` each. Why: with only
    Wikipedia sentences on its neutral side, the neutral head called a quarter of news sentences polar
    once the hand-written negated opinions joined its polar side (CoNLL-2003 *train* sentences, the
    development stand-in: 0.765 called neutral, 0.860 with these; Pang & Lee dev called neutral 0.011
    -> 0.020). The evaluation's news check reads CoNLL's test part, which stays out."""
    from slmkit.datasets import mmlu
    from slmkit.datasets.pii import generate

    rng = random.Random(seed)
    stems = sorted({q.question.strip() for q in mmlu()
                    if q.question.strip().endswith(".") and 6 <= len(q.question.split()) <= 40})
    rows = rng.sample(stems, min(n, len(stems))) + [s.text for s in generate(n, seed=99)]
    return [LabelledText(text, "neutral") for text in rows]


def neutral_test(n: int = 400, seed: int = SEED) -> list[LabelledText]:
    """Factual sentences from the other quarter of the articles (article number % 4 == 0)."""
    sentences = _squad_sentences(0)
    rng = random.Random(seed)
    return [LabelledText(s, "neutral") for s in rng.sample(sentences, min(n, len(sentences)))]


def news_sentences(n: int = 400, seed: int = SEED) -> list[LabelledText]:
    """Off-distribution factual text: CoNLL-2003 test sentences (Reuters news), 8-40 tokens, as neutral."""
    from slmkit.datasets import conll2003

    texts = sorted({" ".join(s.tokens) for s in conll2003("test") if 8 <= len(s.tokens) <= 40
                    and s.tokens[-1] == "."})
    return [LabelledText(t, "neutral") for t in random.Random(seed).sample(texts, min(n, len(texts)))]


@dataclass(frozen=True)
class SentimentData:
    train: list[LabelledText]  # polar train split + generated negations + neutral train sentences
    polar_test: list[LabelledText]  # Pang & Lee held-out 20 %


def sentiment_data(with_neutral: bool = True, with_negation: bool = True) -> SentimentData:
    split = stratified_split(pang_lee(), POLAR_TEST_FRACTION)
    train = list(split.train)
    if with_negation:
        train += negation_train()
    if with_neutral:
        train += neutral_train()
    return SentimentData(train, list(split.test))
