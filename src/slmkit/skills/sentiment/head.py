"""The sentiment heads slmkit builds for itself (``slmkit setup``, or on first use), and their cache files.

Five small heads (see ``features.SentimentModel``): polarity on the embedding, a negation head that
weighs a negated phrase's polarity against the sentence's (for sentences with a negation only), a
neutral-vs-polar head, the sentence head (embedding + NB-weighted words) that answers where the
negation head does not, and the negated head that answers brief sentences with a negator. Trained on
Pang & Lee's train split, generated negated sentences, hand-written negated sentences and factual
neutral sentences (see ``data``); every test set stays out. Probabilities are
temperature-calibrated on cross-validated logits, so "neutral" is a calibrated outcome, not a band
around 0.5.

Why the sentence head reads NB-weighted uni- and bigrams beside the embedding: a frozen MiniLM
embedding blurs the words that carry a review sentence's polarity, and on this very corpus (Pang &
Lee sentence polarity) Naive-Bayes-weighted bigram features are the classic strong reading (NBSVM,
Wang & Manning 2012). Chosen on the development split only (5 folds over Pang & Lee's *train* part,
3,200 sentences, the negation machinery built per fold as below; "gen" = generated negations from
held-apart training words, nouns and frames; the test sets were not used):

  sentence reading                                                 P&L dev accuracy             gen
  embedding only, C=10 (r3: the polarity head)                     0.749 (negated rows 0.722)    0.853
  embedding only, C=3                                              0.752                         0.852
  embedding + TF-IDF uni+bigrams (LinearHead texts=), C=3/10/30    0.779/0.780/0.778             0.851-0.852
  NB-weighted uni+bigrams alone (NBLR), C=0.3/1                    0.745/0.743                   0.82
  late fusion: embedding margin + lambda x NBLR margin, 0.25/0.5/1 0.766/0.775/0.780             0.848-0.852
  embedding + NB-weighted binary terms, unnormalised, C=0.1/0.3/1  0.780/0.783/0.783             0.843
  embedding + NB-weighted terms, L2-normalised, C=1/2/3/5/10/30    0.787/0.791/0.792/0.789/0.789/0.785  0.848
    the same at C=3 with the word block scaled x0.5 / x2           0.776 / 0.783                 0.850 / 0.843
    the same at C=3 with NB smoothing alpha 0.5 / 2                0.792 / 0.784                 0.848
  shipped form (LinearHead weighting="nb"), C=1/2/3/5/10           0.786/0.791/0.792/0.788/0.786 0.848
    C=3 (negated rows: 0.743)
    C=3, answering only sentences without a negation (deferred
    negated ones keep the polarity head)                           0.787 (negated rows 0.722)    0.853

So: C=3 (``SENTENCE_C``), NB smoothing 1, the word block at the embedding's scale (both unit norm),
answering where the negation head defers too (+0.5 points on P&L dev for one generated sentence in
240 lost). The neutral head is unchanged: on the same folds (with a fifth of the neutral training
sentences held out per fold) it calls 98.3 % of held-out factual sentences neutral and 1.0-1.1 % of
Pang & Lee's, neutral precision 0.969 with either sentence reading.

r5, the negated head (answers every sentence of at most ``NEGATED_MAX_WORDS`` words with a negator).
Chosen on development sets only: the hand-written ``NEGATION_DEV`` (200 sentences), a generated dev
set built like the generated test set but inside the training half (its words, nouns and frames
split again, so the dev sentences have adjectives and frames the fit never saw) and Pang & Lee dev
(a fifth of Pang & Lee's *train* part). The hand-written dev set shares its author with 600 of the
training sentences (likely part of the gap to the test sets below); the other 1,499 and the blind set
were each written by other hands, none of which saw the dev or blind sentences.

  reading of brief sentences with a negator                     written dev     generated dev   P&L dev
  r4's (the flip where the negation head is sure, else the
    sentence head), with r5's negators                            0.535           0.833          0.770
  negated head alone: embedding + NB-weighted words               0.810           0.654          0.767
  mean of the two (of probabilities or of logits)                 0.720           0.908          0.772
  negated head reading r4's logit as an input, NB words,
    C=1/3/10/30                                                   0.78-0.815      0.875-0.767    0.770
  the same with TF-IDF words, C=3/10/30                       0.815/0.840/0.855 0.887/0.854/0.817 0.770/0.769/0.767
  the same with the exceptives read as no negation (see
    ``features.EXCEPTIVES``), C=3/10/30                       0.800/0.830/0.845 0.879/0.858/0.829 0.770/0.767/0.767

So: the negated head reads r4's answer, TF-IDF words, C=10 (``NEGATED_C``: the best worse-of-two).
Its words carry the hand-written forms, r4's answer the adjectives they never met; each alone is
strong on one set and weak on the other. Learning curve (negated head alone, written dev): 600
hand-written sentences 0.785, 1,200 0.815, 2,100 0.820. Length gate 14 or 20 words: tied on written
dev, 14 cost less on P&L dev (0.767 vs 0.761). The hand-written sentences also join the neutral head's
polar side: without them it called 31.5 % of the written dev set neutral (with them 0.5 %), at a cost
on news (CoNLL-2003 *train* sentences called neutral: 0.905 -> 0.762; the evaluation's news check
uses the test part), which factual sentences that are not encyclopaedic prose on the neutral side
(``data.neutral_plain``) mostly won back (0.860; Pang & Lee dev called neutral 0.011 -> 0.020).

Measured on the test sets after that choice (``slmkit eval sentiment``): generated negation set
0.779 and the blind hand-written set 0.792 (dev predicted 0.86 and 0.83), Pang & Lee held-out 0.766
(r4: 0.779), MultiEmo polarity 0.762 (r4: 0.781) and three-way 0.588 (r4: 0.558), CoNLL news called
neutral 0.890 (r4: 0.925; 0.807 before ``neutral_plain``), neutral precision 0.975 (r4: 0.958).
Two variants were measured on the test sets on the way: r5's negators alone, before any
hand-written set existed (generated 0.883, blind 0.562), and the negated head alone, before the
generated dev set existed (0.658, 0.815); the choice above was then made on the development sets,
not between those figures. The exceptives came
after the first measurement of the chosen design (0.779, 0.788; Pang & Lee 0.769), from a unit test:
"nothing but clichés, dull and lifeless" was read as a negation and answered positive.

r6, more hands and the flip reading in two columns. The learning curve above pointed at more varied
hand-written data; three more hands wrote 1,798 training sentences, one register each (casual online,
formal critics and letters, everyday speech: ``NEGATION_TRAIN_STYLES``), and another hand, who wrote
no other set and saw none, wrote a second development set (``NEGATION_DEV2``, 237). Same development folds as
above (the generated training negations from one half of the training words, nouns and frames):

  negated head                                              written dev  generated dev  DEV2   P&L dev
  r5 as shipped (2,098 hand-written)                          0.830        0.858        0.869  0.769
  + the 1,798 new sentences, C=3/10/30                     0.815/0.850/0.845 0.808/0.804/0.783 0.865/0.878/0.882 0.766-0.769
    the same with twice the generated negations             0.840        0.817        0.882  0.766
  + the new sentences, the flip reading in two columns
    (the negation head's flips; the sentence head's
    readings), C=3/10/30                                   0.840/0.850/0.855 0.875/0.842/0.825 0.852/0.873/0.895 0.770/0.767/0.766
  the two columns without the new sentences                 0.820        0.904        0.823  0.773

So: the new sentences and two columns, C=10 (the best worse-of-three, 0.842 against r5's 0.830). With
one column the more hand-written sentences the head saw (where the sentence head's reading is often
wrong), the less it trusted the flip, and the generated dev set fell; apart, the negation head's flips
keep their own weight. Measured once on the test sets after that choice: generated negation set 0.800
(r5 0.779), blind hand-written set 0.815 (r5 0.792), Pang & Lee held-out 0.771 (r5 0.766), MultiEmo
polarity 0.771 (0.762) and three-way 0.589 (0.588), CoNLL news called neutral 0.873 (0.890), neutral
precision 0.972 (0.975).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slmkit.datasets import LabelledText
from slmkit.skills.embed import Embed
from slmkit.skills.sentiment.data import (
    POLAR_TEST_FRACTION, negation_train, neutral_plain, neutral_train, sentiment_data,
)
from slmkit.skills.sentiment.features import (
    SentimentModel, flip_reading, margin, negated_inputs, negated_rows, negation_inputs,
)
from slmkit.train.heads import LinearHead
from slmkit.train.store import built_heads, builtin_path

SENTIMENT_TEST_FRACTION = POLAR_TEST_FRACTION
# The recipe's version is in the cache files' names: a changed recipe is built again, not read stale.
# r3: the negation head reads only negated sentences, through clause share and brevity (new inputs).
# r4: a fourth head, the sentence head (embedding + NB-weighted words), gives the sentence's own reading.
# r5: multi-word and approximate negators ("far from", "rarely", "fails to"), two in a row cancel; a fifth
# head, the negated head, answers brief sentences with a negation.
# r6: 1,798 more hand-written sentences in three registers; the negated head reads the flip reading in
# two columns (the negation head's flips apart from the sentence head's readings).
RECIPE = "sentiment-r6"
PARTS = ("polarity", "negation", "neutral", "sentence", "negated")
NEGATED_EXAMPLES = 600
# The sentence head's inverse regularisation (chosen on the development split above).
SENTENCE_C = 3.0
# The negated head's (chosen on the hand-written development set: 3 and 10 within one sentence of 200).
NEGATED_C = 10.0
SEED = 0


def sentiment_paths(encoder: str) -> list[Path]:
    return [builtin_path(f"{RECIPE}-{part}", encoder) for part in PARTS]


def sentiment_path(encoder: str) -> Path:
    """The polarity head's file for ``encoder`` (the other three sit beside it)."""
    return sentiment_paths(encoder)[0]


def written_negations() -> list[LabelledText]:
    """The hand-written training sentences with a negation (never the development or blind sets)."""
    from slmkit.datasets.negation_written import NEGATION_TRAIN, NEGATION_TRAIN_MORE, NEGATION_TRAIN_STYLES

    return [LabelledText(text, label)
            for text, label in (*NEGATION_TRAIN, *NEGATION_TRAIN_MORE, *NEGATION_TRAIN_STYLES)]


def training_size() -> int:
    """How many texts ``train_sentiment_model`` embeds: the total of its progress reports."""
    return (len(sentiment_data(with_neutral=False, with_negation=False).train)
            + len(negation_train(NEGATED_EXAMPLES, plain=False)) + len(written_negations()) + len(neutral_train())
            + len(neutral_plain()))


def train_sentiment_model(encoder: str, progress: Callable[[int], None] | None = None) -> SentimentModel:
    """Fit on the training parts only (Pang & Lee train split, training-half negations, three quarters
    of the SQuAD articles); the same seeds keep every test part out."""
    import numpy as np

    polar = sentiment_data(with_neutral=False, with_negation=False).train
    negated = negation_train(NEGATED_EXAMPLES, plain=False)
    neutral = neutral_train()
    embed = Embed(encoder).warm_up()
    x_polar = embed.vectors([e.text for e in polar], progress=progress)
    y_polar = [e.label for e in polar]
    polar_texts = [e.text for e in polar]
    polarity = LinearHead.fit(x_polar, y_polar, c=10.0)
    # The sentence's own reading; the negation machinery below keeps the embedding-only head, so a
    # negated phrase is never scored by word weights learned on whole review sentences.
    sentence = LinearHead.fit(x_polar, y_polar, c=SENTENCE_C, texts=polar_texts, weighting="nb")
    # Out-of-fold sentence margins for Pang & Lee: in-sample ones are over-confident and would teach
    # the negation head to trust the sentence more than it deserves on new text.
    order = np.random.RandomState(SEED).permutation(len(polar))
    folds = (order[: len(order) // 2], order[len(order) // 2 :])
    oof = np.zeros(len(polar), dtype=np.float32)
    for train, test in (folds, folds[::-1]):
        half = LinearHead.fit(x_polar[train], [y_polar[i] for i in train], c=10.0, calibrate=False)
        oof[test] = margin(half, x_polar[test])
    # The negation head learns from, and later answers, only sentences with a negation.
    x_negated = embed.vectors([e.text for e in negated], progress=progress)
    rows_polar, rows_generated = negated_rows(polar_texts), negated_rows([e.text for e in negated])
    inputs = np.vstack([
        negation_inputs(polarity, embed, [polar_texts[i] for i in rows_polar], x_polar[rows_polar], oof[rows_polar]),
        negation_inputs(polarity, embed, [negated[i].text for i in rows_generated], x_negated[rows_generated])])
    negation = LinearHead.fit(inputs, [y_polar[i] for i in rows_polar] + [negated[i].label for i in rows_generated],
                              c=1.0)
    # The negated head: sentences whose negation is what they say, written by hand (many forms, many
    # domains) and generated (the training half's words and frames), read with the flip reading.
    written = written_negations()
    x_written = embed.vectors([e.text for e in written], progress=progress)
    both = [*written, *negated]
    x_both, texts_both = np.vstack([x_written, x_negated]), [e.text for e in both]
    reading, flipped = flip_reading(polarity, negation, sentence, embed, texts_both, x_both)
    negated_head = LinearHead.fit(negated_inputs(x_both, reading, flipped), [e.label for e in both], c=NEGATED_C,
                                  texts=texts_both)
    x_neutral = embed.vectors([e.text for e in neutral + neutral_plain()], progress=progress)
    neutral_head = LinearHead.fit(np.vstack([x_neutral, x_polar, x_negated, x_written]),
                                  ["neutral"] * len(x_neutral) + ["polar"] * (len(polar) + len(negated) + len(written)),
                                  c=10.0)
    for head, what in ((polarity, "pang-lee train"),
                       (negation, "negated sentences: pang-lee train (out-of-fold) + generated"),
                       (neutral_head, "squad-dev, mmlu statements, synthetic pii: neutral; the polar ones"),
                       (sentence, "pang-lee train, embedding + NB-weighted uni+bigrams"),
                       (negated_head, "hand-written + generated negated sentences: embedding, flip reading, "
                                      "TF-IDF uni+bigrams")):
        head.meta.update({"recipe": RECIPE, "dataset": what, "test_fraction": SENTIMENT_TEST_FRACTION})
    return SentimentModel(polarity, negation, neutral_head, sentence, negated_head)


def sentiment_model(encoder: str, progress: Callable[[int], None] | None = None) -> SentimentModel:
    """The built sentiment heads for ``encoder``, training them first if this machine has not yet."""

    def train() -> list[LinearHead]:
        model = train_sentiment_model(encoder, progress)
        return [model.polarity, model.negation, model.neutral, model.sentence, model.negated]

    return SentimentModel(*built_heads(sentiment_paths(encoder), train))


sentiment_head = sentiment_model  # the name `slmkit setup` calls
