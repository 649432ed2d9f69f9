"""RAG: loaders, chunking, the SQLite index (incremental, de-duplicated, crash-safe), retrieval,
grounded answers with citations, and the commands. Real models, real files in tmp_path."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from slmkit.errors import InvalidInputError
from slmkit.rag.chunking import ChunkingConfig, chunk_document, sentences
from slmkit.rag.index import Filter, Index
from slmkit.rag.ingest import ingest, scan
from slmkit.rag.loaders import parse_bytes, parse_html, parse_markdown, parse_text


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF with Helvetica text, written by hand so the test needs no PDF writer."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    content = "BT /F1 11 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


FINANCE = {
    "reports/q3-2025.md": """# Q3 2025 Financial Report

## Revenue

Net revenue for the third quarter of 2025 was EUR 412 million, up 8 percent on the same quarter of 2024.
Oncology products contributed EUR 230 million of that total.

## Outlook

The company confirms its full-year guidance of EUR 1.6 billion in net revenue.
""",
    "treasury/cash.html": """<html><head><title>Treasury update</title><script>var x = 1;</script></head>
<body><nav>Home | Finance</nav><h1>Treasury</h1>
<p>Cash and cash equivalents stood at EUR 1.2 billion on 30 September 2025.</p>
<h2>Debt</h2><ul><li><p>The revolving credit facility of EUR 500 million remains undrawn.</p></li></ul>
<table><tr><th>Instrument</th><th>Amount</th></tr><tr><td>Bond 2029</td><td>EUR 750 million</td></tr></table>
</body></html>""",
    "policies/travel.txt": """TRAVEL EXPENSE POLICY

Employees book economy class for flights shorter than six hours.
Hotel costs are reimbursed up to EUR 180 per night in Europe.
""",
}
RD_PDF = ["Research and development", "Research and development expenses were EUR 96 million in Q3 2025.",
          "Most of the spending went to two phase III oncology trials."]


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "finance"
    for name, text in FINANCE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "rd.pdf").write_bytes(_pdf(RD_PDF))
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / ".hidden.md").write_text("# secret\n\nnot a document\n")
    return root


@pytest.fixture
def index(tmp_path: Path) -> Index:
    with Index(tmp_path / "index.sqlite3") as idx:
        yield idx


# -- loaders and chunking (no model) ---------------------------------------------------------
def test_loaders_keep_structure():
    md = parse_markdown("# Title\n\nIntro text here.\n\n## Part\n\n- one\n- two\n\n```\ncode = 1\n\nmore = 2\n```\n")
    assert [(b.kind, b.level) for b in md.blocks] == [("heading", 1), ("para", 0), ("heading", 2), ("list", 0),
                                                      ("code", 0)]
    assert "more = 2" in md.blocks[-1].text and md.title == "Title"
    html = parse_html(FINANCE["treasury/cash.html"])
    texts = [b.text for b in html.blocks]
    assert html.title == "Treasury update" and not any("var x" in t or "Home | Finance" in t for t in texts)
    assert sum("revolving credit facility" in t for t in texts) == 1  # <p> inside <li> read once
    assert any(b.kind == "table" and "Bond 2029 | EUR 750 million" in b.text for b in html.blocks)
    text = parse_text(FINANCE["policies/travel.txt"])
    assert text.blocks[0].kind == "heading" and text.blocks[1].kind == "para"
    pdf = parse_bytes(_pdf([*RD_PDF, "Outlook", "Spending rises in 2026 as the trials add sites in Asia."]), ".pdf")
    assert [(b.kind, b.page) for b in pdf.blocks] == [("heading", 1), ("para", 1), ("heading", 1), ("para", 1)]
    assert "EUR 96 million" in pdf.blocks[1].text and pdf.blocks[2].text == "Outlook"
    assert "cannot read PDF" in str(pytest.raises(InvalidInputError, parse_bytes, b"%PDF-1.4 broken", ".pdf").value)
    with pytest.raises(InvalidInputError, match="unsupported file type"):
        parse_bytes(b"x", ".docx")


def test_chunks_follow_sections_with_sentence_overlap():
    long_para = " ".join(f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(60))
    doc = parse_markdown(f"# Report\n\n## A\n\nShort intro.\n\n{long_para}\n\n## B\n\nOnly this.\n")
    chunks = chunk_document(doc, ChunkingConfig(max_words=80, overlap_words=20))
    assert {c.heading for c in chunks} == {"Report > A", "Report > B"}
    assert chunks[-1].text == "Only this." and chunks[-1].heading == "Report > B"  # never crosses a heading
    section_a = [c for c in chunks if c.heading == "Report > A"]
    assert len(section_a) >= 3 and all(len(c.text.split()) <= 100 for c in section_a)
    for before, after in zip(section_a, section_a[1:]):
        assert sentences(before.text)[-1] in after.text  # the last sentence carries over
        assert after.text[0].isupper()  # chunks start on a sentence, not mid-word
    assert sentences("Dr. Smith paid EUR 5.2 million. It was approved.") == [
        "Dr. Smith paid EUR 5.2 million.", "It was approved."]


def test_scan_skips_unsupported_and_hidden(docs: Path):
    files, skipped = scan(docs)
    assert sorted(f.name for f in files) == ["cash.html", "q3-2025.md", "rd.pdf", "travel.txt"]
    assert [Path(s).name for s, _ in skipped] == ["logo.png"] and "unsupported file type .png" in skipped[0][1]
    with pytest.raises(InvalidInputError, match="does not exist"):
        scan(docs / "nope")


# -- the index with the real encoder ---------------------------------------------------------
def _integrity(idx: Index) -> None:
    idx.query("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")  # raises if FTS and chunks disagree
    assert idx.query("PRAGMA integrity_check")[0][0] == "ok"
    dup = idx.query("SELECT collection, source, count(*) FROM documents GROUP BY 1, 2 HAVING count(*) > 1")
    assert dup == []
    dup = idx.query("SELECT doc_id, ordinal, count(*) FROM chunks GROUP BY 1, 2 HAVING count(*) > 1")
    assert dup == []


def test_ingest_is_incremental_deduplicated_and_deletes(docs: Path, index: Index, monkeypatch):
    first = ingest(docs, "finance", meta={"team": "finance"}, index=index)
    assert (first.added, first.updated, first.unchanged, len(first.skipped)) == (4, 0, 0, 1)
    assert first.chunks_embedded == first.chunks_written > 0
    _integrity(index)

    from slmkit.skills.embed import Embed

    calls = []
    original = Embed.vectors
    monkeypatch.setattr(Embed, "vectors", lambda self, items, progress=None: calls.append(len(items))
                        or original(self, items, progress))
    again = ingest(docs, "finance", meta={"team": "finance"}, index=index)
    assert (again.unchanged, again.added, again.updated, again.chunks_embedded, again.chunks_written) == (4, 0, 0, 0, 0)
    assert calls == []  # no embedding work at all for an unchanged folder

    md = docs / "reports/q3-2025.md"
    md.write_text(md.read_text() + "\n## Risks\n\nCurrency movements reduced revenue by EUR 9 million.\n")
    (docs / "reports/q3-2025-copy.md").write_text(FINANCE["reports/q3-2025.md"])  # a duplicate file
    (docs / "policies/travel.txt").unlink()
    edited = ingest(docs, "finance", meta={"team": "finance"}, index=index)
    assert (edited.updated, edited.added, edited.deleted, edited.unchanged) == (1, 1, 1, 2)
    assert edited.chunks_embedded == 1 and calls == [1]  # only the new section; the copy reuses every vector
    assert index.stats("finance")["documents"] == 4
    assert not index.query("SELECT 1 FROM documents WHERE source LIKE '%travel.txt'")
    _integrity(index)

    retagged = ingest(docs, "finance", meta={"team": "finance"}, tags=["board"], index=index)
    assert retagged.retagged == 4 and retagged.chunks_embedded == 0


def test_retrieval_modes_filters_and_access(docs: Path, index: Index):
    from slmkit.rag.retrieve import Retriever

    ingest(docs / "reports", "finance", index=index)
    ingest(docs / "treasury", "finance", tags=["treasury"], index=index)
    ingest(docs / "rd.pdf", "finance", meta={"dept": "rd"}, index=index)
    ingest(docs / "policies", "hr", index=index)
    retriever = Retriever("finance", index).warm_up()
    for mode in ("bm25", "dense", "hybrid", "rerank"):
        hits = retriever.search("How much cash and cash equivalents did the company hold?", 3, mode)
        assert hits[0].source.endswith("cash.html"), mode
    hits = retriever.search("research and development expenses", 3)
    assert hits[0].source.endswith("rd.pdf") and hits[0].chunk.page == 1 and hits[0].chunk.meta["dept"] == "rd"
    # filters: metadata, source glob, access tags; collections are separate
    assert all(h.chunk.meta.get("dept") == "rd" for h in retriever.search("revenue", 5, flt=Filter(meta={"dept": "rd"})))
    assert all(h.source.endswith(".md") for h in retriever.search("cash", 5, flt=Filter(sources=["*.md"])))
    public = retriever.search("cash equivalents", 5, flt=Filter(access=[]))
    assert public and not any(h.source.endswith("cash.html") for h in public)
    assert retriever.search("cash equivalents", 1, flt=Filter(access=["treasury"]))[0].source.endswith("cash.html")
    assert not any("travel" in h.source for h in retriever.search("hotel costs per night", 5))
    with pytest.raises(InvalidInputError, match="unknown collection 'nope'"):
        Retriever("nope", index)
    with pytest.raises(InvalidInputError, match="collection name"):
        ingest(docs, "bad name!", index=index)


def test_low_confidence_refuses_without_generating(docs: Path, index: Index, monkeypatch):
    from slmkit.rag import answer

    ingest(docs, "finance", index=index)
    monkeypatch.setattr(answer.Answerer, "_generate", lambda *a, **k: pytest.fail("generated despite low confidence"))
    result = answer.ask("Who won the football world cup in 1998?", "finance", index=index)
    assert not result.found and result.text == answer.NOT_FOUND and result.confidence < result.threshold
    assert result.citations == [] and result.sources == []


def test_model_replies_are_post_processed(docs: Path, index: Index, monkeypatch):
    from slmkit.rag import answer

    ingest(docs, "finance", index=index)
    question = "What was net revenue in the third quarter of 2025?"
    replies = iter(["[2]", "The sources do not say; it is not found in the documents. [1]"])
    monkeypatch.setattr(answer.Answerer, "_generate", lambda self, messages, max_tokens: (next(replies), "m", 1, 1))
    pointer = answer.ask(question, "finance", index=index)  # a bare "[2]" becomes the best-matching cited sentence
    assert pointer.found and pointer.extractive and pointer.text.startswith("Net revenue for the third quarter")
    assert pointer.citations[0].source.endswith("q3-2025.md")
    refused = answer.ask(question, "finance", index=index)
    assert not refused.found and refused.citations == []


def test_answer_cites_the_right_file(docs: Path, index: Index):
    from slmkit.rag.answer import ask

    ingest(docs, "finance", index=index)
    # one thread: the suite often shares these two cores, and llama.cpp's two threads then stall each other
    result = ask("What was net revenue in the third quarter of 2025?", "finance", k=2, max_tokens=48, threads=1,
                 index=index)
    assert result.found and "412" in result.text, result.text
    assert result.sources[0].source.endswith("q3-2025.md") and result.sources[0].heading.endswith("Revenue")
    cited = result.citations or result.sources[:1]
    assert cited[0].source.endswith("q3-2025.md") and cited[0].chunk == 0
    assert json.loads(json.dumps(result.to_dict()))["question"].startswith("What was")


# -- crash safety ----------------------------------------------------------------------------
_INGEST = """
import sys
from pathlib import Path
from slmkit.rag.index import Index
from slmkit.rag.ingest import ingest
ingest(Path(sys.argv[1]), "crash", index=Index(Path(sys.argv[2])))
"""


def test_kill_9_mid_ingest_leaves_a_consistent_index_and_resumes(tmp_path: Path):
    from slmkit.rag.chunking import chunk_document
    from slmkit.rag.loaders import parse_file
    from slmkit.rag.retrieve import Retriever

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(80):
        body = "\n\n".join(f"Document {i} paragraph {p} reports that division {i} spent EUR {i * 10 + p} thousand "
                           f"on item {p}. The controller signed it under project code zq{i:03d}x." for p in range(6))
        (folder / f"memo-{i:03d}.md").write_text(f"# Memo {i}\n\n{body}\n")
    db = tmp_path / "crash.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", _INGEST, str(folder), str(db)], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    committed = 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as peek:
                    committed = peek.execute("SELECT count(*) FROM documents").fetchone()[0]
            except sqlite3.OperationalError:
                committed = 0  # schema not created yet
            if committed >= 5:
                break
        time.sleep(0.02)
    assert proc.poll() is None, f"ingest ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with Index(db) as idx:
        _integrity(idx)
        survived = idx.stats("crash")["documents"]
        assert 5 <= survived < 80
        # every surviving document is whole: all of its chunks were committed with it
        counts = dict(idx.query("SELECT d.source, count(c.id) FROM documents d JOIN chunks c ON c.doc_id = d.id "
                                "GROUP BY d.id"))
        for source, count in counts.items():
            assert count == len(chunk_document(parse_file(Path(source)))), source
        hits = Retriever("crash", idx).search("which memo has project code zq002x?", 3)
        assert hits and hits[0].source.endswith("memo-002.md")

        resumed = ingest(folder, "crash", index=idx)
        assert resumed.unchanged == survived and resumed.added == 80 - survived and resumed.updated == 0
        _integrity(idx)
        expected = sum(len(chunk_document(parse_file(f))) for f in folder.iterdir())
        assert idx.stats("crash") | {"bytes": 0} == {"documents": 80, "chunks": expected, "distinct_chunks": expected,
                                                     "bytes": 0}


# -- bad and large files ---------------------------------------------------------------------
def test_binary_and_badly_encoded_text_is_told_apart():
    with pytest.raises(InvalidInputError, match="NUL byte at offset 3"):
        parse_bytes(b"abc\x00def", ".txt")
    with pytest.raises(InvalidInputError, match="control characters"):
        parse_bytes(bytes(range(1, 32)) * 20, ".md")
    with pytest.raises(InvalidInputError, match="not text"):
        parse_bytes(bytes(range(0x80, 0x100)) * 20, ".txt")
    assert "Café crème" in parse_bytes("Café crème.".encode("cp1252"), ".txt").blocks[0].text  # a Windows export
    damaged = parse_bytes("Résumé of the year. ".encode() + b"\xff" + b" It went well.", ".txt").blocks[0].text
    assert damaged.startswith("Résumé") and "\ufffd" in damaged  # a few bad bytes in UTF-8 are tolerated
    utf16 = parse_bytes("Bonus pool: EUR 3 million.".encode("utf-16"), ".txt")  # NUL bytes, but a BOM says why
    assert utf16.blocks[0].text == "Bonus pool: EUR 3 million."


def test_streamed_documents_chunk_like_whole_ones(tmp_path: Path):
    from slmkit.rag.chunking import iter_chunks
    from slmkit.rag.loaders import READ_BYTES, inspect_file, iter_lines, open_document, parse_file

    text = "a\r\nb\rc\n\r\nd\r"
    for cut in range(len(text) + 1):  # a CRLF split between two reads is still one line end
        assert list(iter_lines([text[:cut], text[cut:]])) == text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sections = [f"## Part {n}\r\n\r\n" + " ".join(f"Item {n}.{i} cost EUR {i * n} in week {i % 52}." for i in range(40))
                + "\r\n\r\n```\r\ncode = 1\r\n```\r\n\r\n- one\r\n- two\r\n" for n in range(120)]
    doc = tmp_path / "long.md"
    doc.write_bytes(("Preamble before any heading.\r\n\r\n# Long report\r\n\r\n" + "".join(sections)).encode())
    assert doc.stat().st_size > 2 * READ_BYTES
    stream = open_document(doc, inspect_file(doc))
    assert list(iter_chunks(stream.title, stream.blocks)) == chunk_document(parse_file(doc))


def test_bad_files_are_skipped_by_name_and_the_rest_is_ingested(docs: Path, index: Index, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("Salaries of the board are confidential.\n")
    (docs / "secret.txt").symlink_to(outside / "secret.txt")
    (docs / "linked-folder").symlink_to(outside, target_is_directory=True)
    (docs / "reports/alias.md").symlink_to(docs / "reports/q3-2025.md")  # inside the folder: fine, read once
    (docs / "broken.md").symlink_to(docs / "nowhere.md")
    (docs / "loop.md").symlink_to(docs / "loop.md")
    (docs / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    (docs / "controls.md").write_bytes(bytes(range(1, 32)) * 40)
    os.mkfifo(docs / "pipe.txt")  # reading it would block for ever
    (docs / "canteen.txt").write_bytes("Café crème costs EUR 2 in the canteen.\n".encode("cp1252"))
    (docs / "bonus.txt").write_bytes("The bonus pool is EUR 3 million this year.\n".encode("utf-16"))

    report = ingest(docs, "finance", index=index)
    reasons = {Path(name).name: why for name, why in report.skipped}
    assert set(reasons) == {"secret.txt", "linked-folder", "broken.md", "loop.md", "image.txt", "controls.md",
                            "pipe.txt", "logo.png"}, reasons
    assert "outside" in reasons["secret.txt"] and "outside" in reasons["linked-folder"]
    assert "NUL byte" in reasons["image.txt"] and "control characters" in reasons["controls.md"]
    assert reasons["broken.md"] == "broken symlink" and reasons["loop.md"] == "symlink loop"
    assert reasons["pipe.txt"] == "not a regular file"
    assert (report.added, report.updated) == (6, 0)  # the four finance files, the canteen and the bonus notes
    sources = [r[0] for r in index.query("SELECT source FROM documents")]
    assert all(s.startswith(docs.resolve().as_posix() + "/") for s in sources) and len(sources) == len(set(sources))
    assert sum(s.endswith("q3-2025.md") for s in sources) == 1 and not any("alias" in s for s in sources)
    texts = " ".join(r[0] for r in index.query("SELECT text FROM chunks"))
    assert "Café crème" in texts and "bonus pool is EUR 3 million" in texts and "Salaries" not in texts
    _integrity(index)

    capped = ingest(docs, "finance", index=index, max_file_bytes=300)
    over = {Path(name).name: why for name, why in capped.skipped if "max_file_bytes" in why}
    size = (docs / "treasury/cash.html").stat().st_size
    assert "cash.html" in over and over["cash.html"].startswith(f"{size:,} bytes, over the limit of 300 bytes")
    assert capped.deleted == 0 and index.stats("finance")["documents"] == 6  # a skipped file keeps its old version

    result = CliRunner().invoke(_app(), ["ingest", str(docs), "-c", "cli", "--index", str(tmp_path / "cli.sqlite3")])
    assert result.exit_code == 0, result.output
    assert "image.txt" in result.output and "NUL byte" in result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["added"] == 6 and summary["skipped"] == 8
    assert {Path(s["path"]).name for s in summary["skipped_files"]} == set(reasons)


def _count_encoder_calls(monkeypatch, fail_on_call: int | None = None) -> list[int]:
    """Wrap the real encoder to see its batch sizes, and to inject one fault (Ctrl-C on a given call)."""
    from slmkit.skills.embed import Embed

    calls: list[int] = []
    real = Embed.vectors

    def vectors(self, items, progress=None):
        calls.append(len(items))
        if fail_on_call is not None and len(calls) == fail_on_call:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C in the middle of a document
        return real(self, items, progress)

    monkeypatch.setattr(Embed, "vectors", vectors)
    return calls


def _big_folder(folder: Path, paragraphs: int, run_on_fields: int) -> int:
    folder.mkdir()
    words = ["budget", "travel", "supplier", "capital", "hiring", "risk", "cash", "pricing", "audit", "board"]
    text = []
    for n in range(paragraphs):
        text.append(f"Section {n}" if n % 25 == 0 else " ".join(
            f"The {words[(n + i) % 10]} team reviewed item {n * 7 + i} and noted EUR {n * 13 % 9973 + i} thousand."
            for i in range(5)))
    # plus a run without any sentence end (a log dump): cutting it used to be quadratic
    run_on = " ".join(f"field{i % 997}={i}" for i in range(run_on_fields))
    (folder / "big.txt").write_text("\n\n".join(text) + "\n\n" + run_on + "\n", encoding="utf-8")
    # and a heading line with a long run of spaces: the heading regex used to backtrack cubically on it
    (folder / "odd.md").write_text("# a" + " " * 20_000 + "b\n\nBody text.\n", encoding="utf-8")
    return sum(f.stat().st_size for f in folder.iterdir())


def test_reading_and_chunking_a_large_file_is_linear(tmp_path: Path):
    from slmkit.rag.chunking import iter_chunks
    from slmkit.rag.loaders import inspect_file, open_document

    total = _big_folder(tmp_path / "big", 6000, 110_000)
    assert total > 2_000_000
    started = time.perf_counter()
    chunks = 0
    for path in sorted((tmp_path / "big").iterdir()):
        doc = open_document(path, inspect_file(path))
        chunks += sum(1 for _ in iter_chunks(doc.title, doc.blocks))
    seconds = time.perf_counter() - started
    # ~0.3 s/MB here; the quadratic cut of the run-on text and the cubic heading regex took hours on these files
    assert chunks > 1000 and seconds < 3 * total / 1e6, f"{seconds:.1f} s for {total / 1e6:.1f} MB"


def test_a_large_file_is_embedded_in_batches_with_progress(tmp_path: Path, index: Index, monkeypatch):
    from slmkit.rag.ingest import EMBED_BATCH

    calls = _count_encoder_calls(monkeypatch)
    folder = tmp_path / "big"
    total = _big_folder(folder, 560, 8_000)
    done_bytes: list[int] = []
    done_files: list[int] = []
    report = ingest(folder, "big", index=index, on_bytes=done_bytes.append, progress=done_files.append)
    assert report.skipped == [] and report.added == 2 and report.chunks_written > EMBED_BATCH
    assert sum(done_bytes) == total and len(done_bytes) >= report.chunks_written // EMBED_BATCH
    assert done_files == [1, 1] and max(calls) <= EMBED_BATCH
    assert index.stats("big")["chunks"] == report.chunks_written
    _integrity(index)


def test_an_interrupted_ingest_keeps_the_previous_version(tmp_path: Path, index: Index, monkeypatch):
    folder = tmp_path / "memos"
    folder.mkdir()
    memo = folder / "memo.md"
    memo.write_text("# Memo\n\nThe first version holds one paragraph.\n")
    ingest(folder, "memos", index=index)
    before = index.query("SELECT d.content_hash, c.text FROM documents d JOIN chunks c ON c.doc_id = d.id")
    memo.write_text("# Memo\n\n" + "\n\n".join(f"Paragraph {i} of the long second version, item {i}." * 12
                                                for i in range(600)))
    _count_encoder_calls(monkeypatch, fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        ingest(folder, "memos", index=index)
    after = index.query("SELECT d.content_hash, c.text FROM documents d JOIN chunks c ON c.doc_id = d.id")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]  # no half-written second version
    _integrity(index)
    monkeypatch.undo()
    assert ingest(folder, "memos", index=index).updated == 1


# -- the commands ----------------------------------------------------------------------------
def _app() -> typer.Typer:
    from slmkit.cli.rag import ask_cmd, ingest_cmd

    app = typer.Typer()
    app.command("ingest")(ingest_cmd)
    app.command("ask")(ask_cmd)
    return app


def test_commands_ingest_and_retrieve(docs: Path, tmp_path: Path):
    runner = CliRunner()
    db = str(tmp_path / "cli.sqlite3")
    result = runner.invoke(_app(), ["ingest", str(docs), "--collection", "fin", "--meta", "year=2025", "--index", db])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "logo.png" in result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["added"] == 4 and summary["collection_documents"] == 4
    result = runner.invoke(_app(), ["ask", "hotel reimbursement per night", "-c", "fin", "--retrieve-only",
                                    "--where", "year=2025", "--index", db])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("["):])
    assert rows[0]["source"].endswith("travel.txt")
    result = runner.invoke(_app(), ["ask", "anything", "-c", "missing", "--index", db])
    assert isinstance(result.exception, InvalidInputError) and "unknown collection 'missing'" in str(result.exception)
    result = runner.invoke(_app(), ["ingest", str(tmp_path / "absent"), "-c", "fin", "--index", db])
    assert isinstance(result.exception, InvalidInputError) and "does not exist" in str(result.exception)


def test_squad_answer_metrics():
    from slmkit.evals.rag import exact_match, f1_score, normalize_answer

    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("Denver Broncos", ["the Denver Broncos"]) == 1.0
    assert f1_score("Broncos of Denver", ["Denver Broncos"]) == pytest.approx(0.8)
    assert f1_score("", ["x"]) == 0.0


def test_import_stays_light():
    code = ("import sys, json, slmkit.rag, slmkit.cli.rag; "
            "print(json.dumps(sorted(m for m in ('numpy', 'sqlite_vec', 'pypdf', 'selectolax', 'onnxruntime', "
            "'llama_cpp', 'sklearn') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


@pytest.mark.slow
def test_eval_and_bench_run_small(tmp_path: Path):
    from slmkit.bench import rag as bench
    from slmkit.evals import rag as rag_eval

    report = rag_eval.run(questions=60, answer_sample=2, refusal_sample=2, generators=("qwen2.5-coder-0.5b",),
                          calibration_sample=40, threads=1)
    modes = {r["mode"]: r for r in report["retrieval"]}
    assert set(modes) == {"bm25", "dense", "hybrid", "rerank"} and modes["rerank"]["recall_at_20"] > 0.8
    assert report["answers"][0]["n"] == 2
    result = bench.run(synthetic_chunks=1000, queries=10, squad=False)
    corpus = result["corpora"][0]
    assert corpus["chunks"] == 1000 and corpus["latency_ms"]["rerank"]["p50"] > 0
