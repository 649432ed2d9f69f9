"""Retrieval that knows which signal to trust: fusion weights fitted per collection on its own
questions (`slmkit rag tune`), stored in the collection and used by every later retriever.
Real encoder, real SQLite index in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slmkit.errors import InvalidInputError
from slmkit.rag.index import Index
from slmkit.rag.ingest import SourceText, ingest_texts

TOWNS = ["Arlen", "Brisk", "Calder", "Dunmore", "Elsworth", "Fenwick", "Garrow", "Holloway", "Ingram", "Jessup",
         "Kilbride", "Larkin", "Marlow", "Norcross", "Oakhurst", "Pemberly", "Quarry", "Radley", "Stanmore",
         "Thorne", "Upton", "Varley", "Whitby", "Yarrow"]
THINGS = ["a bakery famous for rye bread", "a ferry across a cold lake", "a museum of old clocks",
          "a football club that never wins", "a choir of retired miners", "a market selling spices"]


def _docs() -> list[SourceText]:
    return [SourceText(f"towns/{town.lower()}.txt",
                       f"{town} is a small town with {THINGS[i % len(THINGS)]}. The mayor of {town} is elected "
                       f"every {3 + i % 4} years, and {100 * (i + 1)} people attend its summer fair.")
            for i, town in enumerate(TOWNS)]


def _questions() -> list[dict]:
    return [{"question": f"How often is the mayor of {town} elected?", "source": f"towns/{town.lower()}.txt"}
            for town in TOWNS]


@pytest.fixture
def towns(tmp_path: Path) -> Index:
    with Index(tmp_path / "towns.sqlite3") as index:
        ingest_texts(_docs(), "towns", index=index)
        yield index


def test_fit_stores_weights_that_later_retrievers_use(towns: Index):
    from slmkit.rag import tune
    from slmkit.rag.retrieve import TUNED_KEY, RetrievalConfig, Retriever

    questions = [tune.DevQuestion(q["question"], frozenset({q["source"]})) for q in _questions()]
    retriever = Retriever("towns", towns)
    result = tune.fit(retriever, questions)
    assert result.questions == len(TOWNS)
    for key, value in result.chosen.items():
        assert value in tune.GRID[key] or value == getattr(RetrievalConfig(), key)
    # the choice is the best point on these questions: never below the defaults, and BM25 alone is reported
    assert result.scores["rerank (tuned)"].mrr >= result.scores["rerank (default)"].mrr
    assert {"bm25", "dense", "hybrid (tuned)"} <= set(result.scores)
    assert result.scores["rerank (tuned)"].recall_at_5 >= result.scores["bm25"].recall_at_5 - 0.05
    tune.save(retriever, result)
    again = Retriever("towns", towns)
    assert again.tuned is not None and again.tuned["questions"] == len(TOWNS)
    assert again.config == RetrievalConfig().tuned(result.chosen)
    hit = again.search("Who attends the summer fair in Whitby?", 1)[0]
    assert hit.source == "towns/whitby.txt"
    # an explicit config still wins over the stored one
    assert Retriever("towns", towns, RetrievalConfig(dense_share=0.9)).config.dense_share == 0.9
    towns.set_collection_meta("towns", TUNED_KEY, None)
    assert Retriever("towns", towns).config == RetrievalConfig()


def test_zero_dense_share_is_bm25_and_bad_stored_values_are_ignored(towns: Index):
    from slmkit.rag.retrieve import RetrievalConfig, Retriever

    retriever = Retriever("towns", towns).warm_up()
    cands = retriever.candidates("rye bread bakery", 5, ("bm25", "dense", "hybrid"))
    fused = retriever.fuse(cands, RetrievalConfig(dense_share=0.0))
    assert [cid for cid, _ in fused] == [cid for cid, _ in cands.bm25]
    assert RetrievalConfig().tuned({"dense_share": 7, "rerank_blend": "x", "other": 1}) == RetrievalConfig()


def test_tune_rejects_bad_question_files(towns: Index, tmp_path: Path):
    from slmkit.rag import tune
    from slmkit.rag.retrieve import Retriever

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "source": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="bad.jsonl:2"):
        tune.read_questions(bad)
    with pytest.raises(InvalidInputError, match="does not exist"):
        tune.read_questions(tmp_path / "absent.jsonl")
    retriever = Retriever("towns", towns)
    few = [tune.DevQuestion("mayor", frozenset({"towns/arlen.txt"}))] * 3
    with pytest.raises(InvalidInputError, match="at least 20 questions"):
        tune.fit(retriever, few)
    unknown = [tune.DevQuestion("mayor", frozenset({"towns/atlantis.txt"}))] * 25
    with pytest.raises(InvalidInputError, match="not in collection 'towns'"):
        tune.fit(retriever, unknown)


def test_rag_tune_command(towns: Index, tmp_path: Path):
    from slmkit.cli.app import app

    questions = tmp_path / "dev.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in _questions()), encoding="utf-8")
    db = str(towns.path)
    towns.close()
    runner = CliRunner()
    result = runner.invoke(app, ["rag", "tune", "-c", "towns", "--questions", str(questions), "--index", db])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["questions"] == len(TOWNS) and set(report["chosen"]) == {"dense_share", "rerank_weight",
                                                                           "rerank_blend"}
    with Index(Path(db)) as index:
        assert index.collection("towns").meta["retrieval"]["questions"] == len(TOWNS)
    result = runner.invoke(app, ["rag", "tune", "-c", "towns", "--questions", str(questions), "--index", db,
                                 "--reset"])
    assert result.exit_code == 0 and "removed" in result.output
    with Index(Path(db)) as index:
        assert "retrieval" not in index.collection("towns").meta
