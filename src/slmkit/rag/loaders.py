"""Files -> structured blocks (headings, paragraphs, lists, code, tables) for structure-aware chunking.

Each loader keeps the document's own structure rather than its characters: a chunk
should start at a heading or paragraph, never in the middle of a sentence.
pypdf and selectolax are imported only when a PDF or HTML file is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from slmkit.errors import InvalidInputError

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES


@dataclass(frozen=True)
class Block:
    text: str
    kind: str = "para"  # para | heading | code | table | list
    level: int = 0  # heading level (1 = top); 0 for body blocks
    page: int | None = None  # 1-based, PDF only


@dataclass
class ParsedDoc:
    title: str
    blocks: list[Block] = field(default_factory=list)
    kind: str = "text"


def supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "cp1252"):  # cp1252 covers the usual Windows exports; latin-1 never fails
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")


def parse_markdown(text: str, title: str = "") -> ParsedDoc:
    """ATX and setext headings, fenced code kept whole, paragraphs split on blank lines."""
    blocks: list[Block] = []
    para: list[str] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    def flush(kind: str = "para") -> None:
        body = "\n".join(para).strip()
        para.clear()
        if body:
            if kind == "para" and all(_LIST_ITEM.match(line) for line in body.splitlines() if line.strip()):
                kind = "list"
            if kind == "para" and body.count("|") >= 2 and body.lstrip().startswith("|"):
                kind = "table"
            blocks.append(Block(body if kind in ("code", "table", "list") else " ".join(body.split()), kind))

    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            flush()
            fence = _FENCE.match(line).group(1)  # type: ignore[union-attr]
            code = [line]
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                code.append(lines[i])
                i += 1
            code.append(fence)
            para.extend(code)
            flush("code")
            i += 1
            continue
        heading = _MD_HEADING.match(line)
        if heading:
            flush()
            blocks.append(Block(heading.group(2).strip(), "heading", len(heading.group(1))))
        elif para and len(para) == 1 and _SETEXT.match(line) and line.strip():
            heading_text = para.pop().strip()
            blocks.append(Block(heading_text, "heading", 1 if line.strip()[0] == "=" else 2))
        elif not line.strip():
            flush()
        else:
            para.append(line)
        i += 1
    flush()
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading"), "")
    return ParsedDoc(title, blocks, "markdown")


def parse_text(text: str, title: str = "") -> ParsedDoc:
    """Plain text: paragraphs on blank lines; a short line without final punctuation that stands
    alone before a paragraph reads as a heading (how most exported reports look)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[Block] = []
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    for n, part in enumerate(parts):
        one_line = "\n" not in part
        if (one_line and len(part) <= 80 and not part.endswith((".", ":", ";", ",", "?", "!"))
                and n + 1 < len(parts) and len(part.split()) <= 12):
            blocks.append(Block(part.lstrip("#").strip(), "heading", 1 if part.isupper() else 2))
        elif all(_LIST_ITEM.match(line) for line in part.splitlines()):
            blocks.append(Block(part, "list"))
        else:
            blocks.append(Block(" ".join(part.split()), "para"))
    return ParsedDoc(title, blocks, "text")


_HTML_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "tr", "dt", "dd",
                "figcaption", "caption")


def parse_html(text: str, title: str = "") -> ParsedDoc:
    from selectolax.lexbor import LexborHTMLParser  # selectolax 1.0 removed the Modest backend

    tree = LexborHTMLParser(text)
    for junk in tree.css("script, style, noscript, template, nav, svg, head > *:not(title)"):
        junk.decompose()
    page_title = tree.css_first("title")
    title = title or (page_title.text(strip=True) if page_title else "")
    root = tree.body or tree.root
    blocks: list[Block] = []
    if root is None:
        return ParsedDoc(title, blocks, "html")
    wanted = set(_HTML_BLOCKS)
    for node in root.css(", ".join(_HTML_BLOCKS)):
        # A <p> inside an <li> (or a nested list) would be read twice: the outermost block owns its text.
        parent, nested = node.parent, False
        while parent is not None:
            if parent.tag in wanted:
                nested = True
                break
            parent = parent.parent
        if nested:
            continue
        tag = node.tag
        if tag == "pre":
            body = node.text(deep=True, strip=False).strip("\n")
            kind = "code"
        elif tag == "tr":
            cells = [c.text(deep=True, separator=" ", strip=True) for c in node.css("th, td")]
            body, kind = " | ".join(c for c in cells), "table"
        else:
            body = " ".join(node.text(deep=True, separator=" ", strip=True).split())
            kind = "list" if tag == "li" else "para"
        if not body.strip():
            continue
        if tag[0] == "h" and tag[1:].isdigit():
            blocks.append(Block(body, "heading", int(tag[1:])))
        elif kind == "list":
            blocks.append(Block("- " + body, "list"))
        else:
            blocks.append(Block(body, kind))
    if not blocks:  # a page of bare text in <div>s: keep it as paragraphs
        return parse_text(root.text(separator="\n", strip=False), title)
    # Consecutive table rows and list items travel together, like a Markdown table or list would.
    merged: list[Block] = []
    for block in blocks:
        if merged and block.kind in ("table", "list") and merged[-1].kind == block.kind:
            merged[-1] = Block(merged[-1].text + "\n" + block.text, block.kind)
        else:
            merged.append(block)
    return ParsedDoc(title, merged, "html")


def _pdf_blocks(page_text: str, page: int) -> list[Block]:
    """pypdf gives one line per printed line and rarely blank lines between paragraphs: a line
    that ends a sentence and is visibly shorter than the page's full lines closes a paragraph,
    and a short line without final punctuation before body text reads as a heading."""
    text = page_text.replace("\r", "\n").strip()
    if re.search(r"\n\s*\n", text):
        lines = []
        for part in re.split(r"\n\s*\n", text):
            lines.extend(part.split("\n") + [""])
    else:
        lines = text.split("\n")
    full = max((len(line.strip()) for line in lines), default=0)
    blocks: list[Block] = []
    current: list[str] = []

    def close() -> None:
        if current:
            blocks.append(Block(" ".join(current), "para", page=page))
            current.clear()

    for n, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            close()
            continue
        following = next((x.strip() for x in lines[n + 1:] if x.strip()), "")
        after_sentence = not current or current[-1].endswith((".", "!", "?"))
        if (after_sentence and len(line.split()) <= 8 and line[0].isupper()
                and not line.endswith((".", ",", ";", ":")) and len(following) > len(line)):
            close()
            blocks.append(Block(line, "heading", 2, page=page))
            continue
        current.append(line)
        if line.endswith((".", "!", "?", ":")) and len(line) < 0.8 * full:
            close()
    close()
    return blocks


def parse_pdf(data: bytes, title: str = "") -> ParsedDoc:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-but-readable files warn on every page
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")  # many "protected" PDFs only restrict printing; a real password fails below
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except PdfReadError as exc:
        raise InvalidInputError(f"cannot read PDF: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail anywhere in pypdf; skip it, don't stop the ingest
        raise InvalidInputError(f"cannot read PDF ({type(exc).__name__}: {exc})") from None
    blocks = [b for n, text in enumerate(pages, start=1) for b in _pdf_blocks(text, n)]
    return ParsedDoc(title or str(meta_title), blocks, "pdf")


def parse_bytes(data: bytes, suffix: str, name: str = "") -> ParsedDoc:
    """Parse one file's content by its suffix; unsupported suffixes are an ``InvalidInputError``."""
    suffix = suffix.lower()
    path = Path(name or f"document{suffix}")
    if suffix in PDF_SUFFIXES:
        doc = parse_pdf(data)
    elif suffix in HTML_SUFFIXES:
        doc = parse_html(_decode(data, path))
    elif suffix in MARKDOWN_SUFFIXES:
        doc = parse_markdown(_decode(data, path))
    elif suffix in TEXT_SUFFIXES:
        doc = parse_text(_decode(data, path))
    else:
        raise InvalidInputError(f"unsupported file type {suffix or '(none)'!r}; supported: {', '.join(sorted(SUPPORTED))}")
    if not doc.title:
        doc.title = path.stem
    return doc


def parse_file(path: Path) -> ParsedDoc:
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file")
    return parse_bytes(path.read_bytes(), path.suffix, str(path))
