"""Reading the user's labelled examples: JSON lines ``{"text", "label"}`` or CSV ``text,label``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from slmkit.errors import InvalidInputError


def read_examples(path: Path) -> tuple[list[str], list[str]]:
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not UTF-8 text") from None
    texts, labels = [], []
    if path.suffix in {".jsonl", ".json"}:
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                texts.append(str(row["text"]))
                labels.append(str(row["label"]))
            except (ValueError, KeyError, TypeError):
                raise InvalidInputError(f"{path}:{number}: expected a JSON object with text and label") from None
    else:
        for number, row in enumerate(csv.reader(content.splitlines()), start=1):
            if not row:
                continue
            if len(row) != 2:
                raise InvalidInputError(f"{path}:{number}: expected two CSV columns, text and label")
            if number == 1 and [c.strip().lower() for c in row] == ["text", "label"]:
                continue
            texts.append(row[0])
            labels.append(row[1])
    if not texts:
        raise InvalidInputError(f"{path} holds no examples")
    return texts, labels
