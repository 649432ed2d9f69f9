"""Loaders read the real packaged data sets (fetched once into the shared cache)."""

from collections import Counter

from slmkit import datasets as ds


def test_snips_and_pang_lee_have_their_published_sizes():
    snips = ds.snips()
    assert len(snips) == 693 and len({e.label for e in snips}) == 7
    assert not snips[0].text.startswith("Utterance:")
    polarity = ds.pang_lee()
    assert len(polarity) == 4000
    assert Counter(e.label for e in polarity) == {"positive": 2000, "negative": 2000}
    assert not polarity[0].text.startswith("\\ufeff")


def test_splits_are_stratified_deterministic_and_disjoint():
    data = ds.snips()
    a, b = ds.stratified_split(data, 0.3), ds.stratified_split(data, 0.3)
    assert a == b
    assert len(a.train) + len(a.test) == len(data)
    assert set(map(id, a.train)).isdisjoint(map(id, a.test))
    share = Counter(e.label for e in a.test)
    assert all(abs(share[label] / n - 0.3) < 0.02 for label, n in Counter(e.label for e in data).items())
    sample = ds.per_label_sample(a.train, 10)
    assert Counter(e.label for e in sample) == dict.fromkeys(share, 10)
    assert set(map(id, sample)) <= set(map(id, a.train))


def test_squad_dev_questions_point_at_their_paragraph():
    paragraphs, questions = ds.squad()
    assert (len(paragraphs), len(questions)) == (2067, 10565)
    q = questions[0]
    assert any(answer in paragraphs[q.paragraph_id] for answer in q.answers)


def test_other_packaged_sets_load():
    conll = ds.conll2003("test")
    assert len(conll) > 3000 and {"B-PER", "B-LOC", "B-ORG", "O"} <= {t for s in conll for t in s.tags}
    tox = ds.toxigen()
    assert len(tox) == 200 and Counter(e.label for e in tox) == {"toxic": 100, "benign": 100}
    rtp = ds.realtoxicityprompts()
    assert len(rtp) == 700 and {e.label for e in rtp} == set(ds.RTP_CATEGORIES)
    mmlu = ds.mmlu()
    assert len(mmlu) == 14042 and {q.answer for q in mmlu} == {"A", "B", "C", "D"}
    assert len({q.topic for q in mmlu}) == 57
    mt = ds.mtbench()
    assert len(mt) == 80 and len({q.category for q in mt}) == 8
    assert sum(q.reference is not None for q in mt) == 30
