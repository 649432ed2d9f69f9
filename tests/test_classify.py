import numpy as np
import pytest

from slmkit.errors import InvalidInputError, NotTrainedError
from slmkit.datasets import per_label_sample, snips, stratified_split
from slmkit.skills.classify import Classify

TICKETS = {
    "billing": "questions about invoices, charges, refunds and payments",
    "technical": "the product crashes, shows an error or does not work",
    "account": "login, password reset and account settings",
}


@pytest.fixture(scope="module")
def split():
    return stratified_split(snips(), 0.3)


def test_zero_shot_by_descriptions():
    skill = Classify.zero_shot(TICKETS, threshold=0.0)
    results = skill(["I was charged twice this month", "the app crashes when I open settings",
                     "I cannot sign in, forgot my password"])
    assert [r.label for r in results] == ["billing", "technical", "account"]
    assert all(abs(sum(r.scores.values()) - 1) < 1e-5 for r in results)


def test_few_shot_head_on_snips_held_out(split):
    train = per_label_sample(split.train, 10)
    skill = Classify.fit([e.text for e in train], [e.label for e in train], threshold=0.0)
    results = skill([e.text for e in split.test])
    accuracy = np.mean([r.label == e.label for r, e in zip(results, split.test, strict=True)])
    assert accuracy >= 0.88, accuracy


def test_none_of_these_below_the_threshold(split):
    train = per_label_sample(split.train, 5)
    strict = Classify.fit([e.text for e in train], [e.label for e in train], threshold=0.999)
    result = strict("what is the meaning of life")
    assert result.label is None and result.top in strict.labels and result.score < 0.999


def test_heads_are_saved_versioned_and_reloaded(split):
    train = per_label_sample(split.train, 3)
    texts, labels = [e.text for e in train], [e.label for e in train]
    first = Classify.fit(texts, labels, name="intents")
    second = Classify.fit(texts[:14], labels[:14], name="intents")
    assert (first.version, second.version) == (1, 2)
    latest = Classify.load("intents")
    assert latest.version == 2 and latest.labels == second.labels
    assert Classify.load("intents", version=1).labels == first.labels
    probe = "add this song to my workout playlist"
    assert latest(probe).scores == pytest.approx(second(probe).scores, abs=1e-5)


def test_interrupted_save_keeps_the_previous_version(split, monkeypatch):
    from slmkit.train import store

    train = per_label_sample(split.train, 2)
    Classify.fit([e.text for e in train], [e.label for e in train], name="stable")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.np, "savez", crash)  # fault injection: die mid-write
    with pytest.raises(KeyboardInterrupt):
        Classify.fit([e.text for e in train], [e.label for e in train], name="stable")
    monkeypatch.undo()
    reloaded = Classify.load("stable")
    assert reloaded.version == 1
    folder = store.get_settings().data_dir / "heads" / "stable"
    assert sorted(p.name for p in folder.iterdir()) == ["v0001.npz"]


@pytest.mark.parametrize("labels, message", [
    ([], "at least two labels"),
    (["only"], "at least two labels"),
    ("billing,technical", "list of label names"),
    ({"a": "", "b": "x"}, "non-empty description"),
])
def test_bad_label_sets_are_clear_errors(labels, message):
    with pytest.raises(InvalidInputError, match=message):
        Classify.zero_shot(labels)


def test_training_errors():
    with pytest.raises(InvalidInputError, match="two distinct labels"):
        Classify.fit(["a", "b"], ["x", "x"])
    with pytest.raises(InvalidInputError, match="2 texts but 1 labels"):
        Classify.fit(["a", "b"], ["x"])
    with pytest.raises(InvalidInputError, match="head name"):
        Classify.fit(["a", "b"], ["x", "y"], name="../escape")
    with pytest.raises(NotTrainedError, match="does not exist"):
        Classify.load("never-trained")
