"""Sentiment with negation and a neutral outcome: the negation scope, the data kept apart, and the
built head's three-way answers (real encoder, real head)."""

from __future__ import annotations

import numpy as np
import pytest

from slmkit.skills.sentiment.data import (NEGATIVE_WORDS, POSITIVE_WORDS, TEST_NEGATED, TEST_NOUNS, TRAIN_KEPT,
                                          TRAIN_NEGATED, TRAIN_NOUNS, _halves, negation_test,
                                          negation_train)
from slmkit.skills.sentiment.features import (brevity, brief_negation, clause_share, has_negation, negated_rows,
                                              negation_scope)


def test_negation_scope_stops_at_the_clause():
    assert negation_scope("The plot wasn't dull at all, but the ending dragged.") == "dull at all"
    assert negation_scope("It's not a great movie.") == "a great movie"
    assert negation_scope("Never again; nothing worked") == "again ; worked"
    assert negation_scope("A warm and funny film.") == ""
    assert has_negation("it doesn't work") and has_negation("no one came") and not has_negation("a fine, sunny day")


def test_a_side_clause_negation_weighs_less_than_a_whole_sentence_one():
    assert clause_share("the app isn't slow.") == 1.0
    side = "the plot doesn't matter, the acting is superb."
    assert clause_share(side) == 0.5 and clause_share("the acting is superb.") == 0.0
    assert brevity("the app isn't slow.") == 1.0
    assert brevity("though the film isn't badly made, the fun slowly leaks out of it over two long hours.") < 0.5
    assert negated_rows(["a fine film.", "not a fine film.", "far from fine."]) == [1, 2]


def test_negators_of_several_words_and_double_negations():
    assert negation_scope("the phone is far from excellent.") == "excellent"
    assert negation_scope("the staff were anything but helpful") == "helpful"
    assert negation_scope("the plot fails to deliver, but the acting is superb") == "to deliver"
    assert negation_scope("not without charm") == "" and negation_scope("nothing short of amazing") == ""
    assert not brief_negation("the plot is nothing but clichés, dull and lifeless")  # "only", not a negation
    assert negation_scope("the movie never fails to impress.") == ""  # two in a row cancel
    assert brief_negation("the soup was far from hot") and not brief_negation("the soup was hot")
    long = "though the film isn't badly made, the fun slowly leaks out of it over two long hours of screen time."
    assert not brief_negation(long)


def test_the_hand_written_negation_sets_are_apart():
    from slmkit.datasets.negation_blind import NEGATION_BLIND
    from slmkit.datasets.negation_written import NEGATION_DEV, NEGATION_DEV2
    from slmkit.skills.sentiment.head import written_negations

    def norm(rows):
        return {" ".join(t.lower().split()) for t, _ in rows}

    training = [(e.text, e.label) for e in written_negations()]
    train, dev, dev2, blind = norm(training), norm(NEGATION_DEV), norm(NEGATION_DEV2), norm(NEGATION_BLIND)
    assert len(train) >= 3800 and len(dev) == 200 and len(dev2) == 237 and len(blind) == 260
    assert not train & dev and not train & dev2 and not train & blind
    assert not dev & blind and not dev2 & blind and not dev & dev2
    for rows in (training, NEGATION_DEV, NEGATION_DEV2, NEGATION_BLIND):  # balanced, but for dropped repeats
        labels = [label for _, label in rows]
        assert set(labels) == {"positive", "negative"} and abs(labels.count("positive") / len(rows) - 0.5) <= 0.01


def test_negation_sets_share_no_word_noun_or_frame():
    for words in (POSITIVE_WORDS, NEGATIVE_WORDS):
        train, test = _halves(words)
        assert not set(train) & set(test) and len(train) >= 20
    assert not set(TRAIN_NOUNS) & set(TEST_NOUNS) and not set(TRAIN_NEGATED) & set(TEST_NEGATED)
    test = negation_test()
    assert len(test) >= 200 and {e.label for e in test} == {"positive", "negative"}
    assert abs(sum(e.label == "positive" for e in test) - len(test) / 2) <= 1
    assert all(has_negation(e.text) for e in test)
    train_texts = {e.text for e in negation_train()}
    assert not train_texts & {e.text for e in test}
    test_adjectives = set(_halves(POSITIVE_WORDS)[1]) | set(_halves(NEGATIVE_WORDS)[1])
    fixed = {w for frames in (TRAIN_NEGATED, *TRAIN_KEPT.values()) for f in frames for w in f.rstrip(".").split()}
    assert not any((set(t.rstrip(".").split()) & test_adjectives) - fixed for t in train_texts)


@pytest.fixture(scope="module")
def sentiment():
    from slmkit.skills.sentiment import Sentiment

    return Sentiment().warm_up()


def test_negated_praise_and_criticism_keep_their_meaning(sentiment):
    texts = ["the battery wasn't terrible at all.", "honestly, the staff were not helpful.",
             "i would not call this laptop disappointing.", "the meal was not good."]
    assert [r.label for r in sentiment(texts)] == ["positive", "negative", "positive", "negative"]


def test_sentences_without_a_negation_are_the_sentence_heads_answer(sentiment):
    texts = ["a gorgeous, witty, seductive movie.", "dull, lifeless and far too long."]
    head = sentiment.model.sentence
    p = head.predict_proba(sentiment.embed.vectors(texts), texts)
    assert [r.positive for r in sentiment(texts)] == pytest.approx(list(p[:, head.labels.index("positive")]), abs=1e-6)
    assert [r.label for r in sentiment(texts)] == ["positive", "negative"]


def test_the_negation_machinery_reads_the_embedding_only_head(sentiment):
    # The sentence head reads NB-weighted words; the polarity head that scores negated phrases must not.
    model = sentiment.model
    assert model.polarity.lexical is None and model.negation.lexical is None
    assert model.sentence.lexical is not None and model.sentence.meta.get("weighting") == "nb"
    assert model.sentence.meta["recipe"] == model.polarity.meta["recipe"]


def test_nb_term_weights_lean_to_the_side_a_term_is_seen_on():
    from slmkit.errors import InvalidInputError
    from slmkit.train.heads import LinearHead
    from slmkit.train.lexical import Lexical

    texts = ["a superb film", "superb acting", "a dreadful film", "dreadful acting", "a film"]
    lexical = Lexical.fit(texts, [1, 1, 0, 0, 0])
    weight = {t: float(lexical.idf[i]) for t, i in lexical.vocabulary.items()}
    assert weight["superb"] > 0 > weight["dreadful"] and "superb film" in weight
    assert weight["film"] < 0  # seen once positive, twice negative
    x = np.eye(5, dtype=np.float32)
    head = LinearHead.fit(x, ["pos", "pos", "neg", "neg", "neg"], texts=texts, weighting="nb", calibrate=False)
    assert head.meta["weighting"] == "nb" and head.lexical is not None
    with pytest.raises(InvalidInputError, match="two labels"):
        LinearHead.fit(x, ["a", "b", "c", "a", "b"], texts=texts, weighting="nb")


def test_factual_sentences_are_neutral_and_opinions_are_not(sentiment):
    factual = ["The bridge was completed in 1932 and spans the river at its narrowest point.",
               "The university has four faculties and about 12,000 students."]
    opinions = ["a gorgeous, witty, seductive movie.", "dull, lifeless and far too long."]
    results = sentiment(factual + opinions)
    assert [r.outcome for r in results] == ["neutral", "neutral", "positive", "negative"]
    assert all(r.neutral > 0.5 for r in results[:2]) and all(r.neutral < 0.5 for r in results[2:])
    assert all(r.label in ("positive", "negative") and 0.5 <= r.score <= 1.0 for r in results)
    vader = sentiment.__class__("vader")(factual[0])
    assert vader.outcome == "neutral" and vader.label in ("positive", "negative")


@pytest.mark.slow
def test_eval_sentiment_beats_vader_on_negation_and_states_neutral_precision():
    from slmkit.evals.sentiment import eval_sentiment

    report = eval_sentiment()
    head, vader = report["scores"]
    assert report["sets"]["negation"] >= 200 and report["sets"]["negation_blind"] == 260
    # Issue 19's bar: 0.80 on a negation set you build, above VADER. r6 measured 0.800 on the generated
    # set and 0.815 on the blind hand-written one (chosen on development sets, see skills/sentiment/head.py).
    assert head["negation_accuracy"] >= 0.80 and head["negation_accuracy"] > vader["negation_accuracy"] + 0.1
    assert head["negation_blind_accuracy"] >= 0.80
    assert head["negation_blind_accuracy"] > vader["negation_blind_accuracy"] + 0.2
    assert head["neutral_precision"] >= 0.9 and head["factual_confident_polar"] <= 0.02
    assert head["polar_accuracy"] >= 0.766 and head["multiemo_polar_accuracy"] > vader["multiemo_polar_accuracy"]
