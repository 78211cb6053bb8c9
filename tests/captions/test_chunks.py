"""captions/chunks.py: streamed files come in chunks of about a size, nothing lost."""

from captions.chunks import utf8_chunks
from captions.export.formats import export_chunks


def test_chunks_join_to_the_whole_and_each_but_the_last_reaches_the_size():
    pieces = [f"line {n} é\n" for n in range(1000)]
    chunks = list(utf8_chunks(pieces, chunk_bytes=500))
    assert b"".join(chunks).decode() == "".join(pieces)
    assert len(chunks) > 10
    assert all(len(chunk.decode()) >= 500 for chunk in chunks[:-1])


def test_nothing_to_write_is_one_empty_chunk():
    assert list(utf8_chunks([])) == [b""]


def test_a_json_array_with_no_records_still_closes():
    # The writer's end is asked for after its records: "]" closes what began.
    text = b"".join(export_chunks("chatearthnet", [])).decode()
    assert text.strip() in ("[]", "[\n]")
