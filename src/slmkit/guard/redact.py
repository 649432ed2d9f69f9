"""Replacing personal data in text, in three modes.

- ``mask``: ``[PERSON_1]``, ``[EMAIL_1]``...; the values are gone for good.
- ``hash``: ``[PERSON_3f9a0c1d]``, a keyed hash (HMAC-SHA256 with a secret kept in the data
  directory), so the same value gets the same token on this machine across requests
  but the token cannot be guessed back from a list of candidate names elsewhere.
- ``reversible``: like ``mask``, but the :class:`Vault` keeps placeholder -> value so an
  answer that comes back from a remote model can be re-personalised here.

Within one request (one vault) the same value always maps to the same placeholder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError
from slmkit.skills.pii import PiiSpan

Mode = Literal["mask", "hash", "reversible"]
MODES = ("mask", "hash", "reversible")


@dataclass
class Vault:
    """Placeholder <-> value for one request. It never leaves the machine: keep it, don't send it."""

    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    by_placeholder: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, _normalise(value))
        if key not in self.by_value:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            token = f"[{kind}_{self.counters[kind]}]"
            self.by_value[key] = token
            self.by_placeholder[token] = value
        return self.by_value[key]

    def restore(self, text: str) -> str:
        """Put the original values back where a model kept the placeholders.

        Models sometimes drop the brackets or change their case (``Person_1``); both forms
        are restored. Longer placeholders go first so ``PERSON_12`` is not read as ``PERSON_1``.
        """
        for token in sorted(self.by_placeholder, key=len, reverse=True):
            bare = token[1:-1]
            pattern = re.compile(rf"\[{re.escape(bare)}\]|(?<![\w\[]){re.escape(bare)}(?![\w\]])", re.IGNORECASE)
            text = pattern.sub(lambda _m, v=self.by_placeholder[token]: v, text)
        return text


@dataclass(frozen=True)
class Redacted:
    text: str
    spans: tuple[PiiSpan, ...]  # what was replaced, with offsets into the original text
    replacements: tuple[tuple[str, str], ...]  # (type, placeholder) in order; never the values
    vault: Vault | None = None  # only in reversible mode


def _normalise(value: str) -> str:
    return " ".join(value.split()).casefold()


@lru_cache(maxsize=1)
def _hash_key(data_dir: Path) -> bytes:
    path = data_dir / "redaction.key"
    if not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(secrets.token_bytes(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # first writer wins; a racing process keeps the same key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()


def _hashed(kind: str, value: str) -> str:
    digest = hmac.new(_hash_key(get_settings().data_dir), _normalise(value).encode(), hashlib.sha256).hexdigest()
    return f"[{kind}_{digest[:8]}]"


def redact(text: str, spans: Sequence[PiiSpan], mode: Mode = "mask", vault: Vault | None = None) -> Redacted:
    """Replace ``spans`` of ``text``. Pass one ``vault`` for every text of a request to keep tokens consistent."""
    if mode not in MODES:
        raise InvalidInputError(f"unknown redaction mode {mode!r}; use one of {', '.join(MODES)}")
    vault = vault if vault is not None else Vault()
    ordered = sorted(spans, key=lambda s: s.start)
    pieces: list[str] = []
    replacements: list[tuple[str, str]] = []
    cursor = 0
    for span in ordered:
        if span.start < cursor:  # overlapping spans: the earlier one already covers this text
            continue
        token = _hashed(span.type, span.text) if mode == "hash" else vault.placeholder(span.type, span.text)
        pieces += [text[cursor:span.start], token]
        replacements.append((span.type, token))
        cursor = span.end
    pieces.append(text[cursor:])
    return Redacted("".join(pieces), tuple(ordered), tuple(replacements), vault if mode == "reversible" else None)
