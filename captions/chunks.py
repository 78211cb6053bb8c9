"""A file written piece by piece, sent in UTF-8 chunks of about `CHUNK_BYTES`: what
every streamed export and GeoJSON answer yields, so none holds the whole file."""

from collections.abc import Iterable, Iterator

CHUNK_BYTES = 64 * 1024


def utf8_chunks(
    pieces: Iterable[str], *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The pieces joined and encoded, a chunk whenever about `chunk_bytes` of them
    have come (one piece at a time in memory beyond that), the rest at the end."""
    waiting: list[str] = []
    size = 0
    for piece in pieces:
        waiting.append(piece)
        size += len(piece)
        if size >= chunk_bytes:
            yield "".join(waiting).encode()
            waiting, size = [], 0
    yield "".join(waiting).encode()
