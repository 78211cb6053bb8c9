"""BoundedJsonReader: long strings and tokens cut on their way to the parser, the
rest byte for byte, at any chunk size (captions/generation/bounded_json.py). No
database."""

import io
import json
import random

import ijson
import pytest

from captions.generation.bounded_json import BoundedJsonReader

# Characters whose JSON takes 1 to 12 bytes: plain, escaped, multi-byte UTF-8, a
# surrogate pair (two \uXXXX escapes when ASCII-only), a NUL.
ALPHABET = ["a", "é", "€", "😀", '"', "\\", "\n", "\x00", "/"]


def filtered(raw: bytes, *, max_string_bytes: int, chunk_bytes: int) -> bytes:
    reader = BoundedJsonReader(
        io.BytesIO(raw), max_string_bytes=max_string_bytes, chunk_bytes=chunk_bytes
    )
    return reader.read()


def escaped_length(text: str, ensure_ascii: bool) -> int:
    return len(json.dumps(text, ensure_ascii=ensure_ascii).encode()) - 2


@pytest.mark.parametrize("seed", range(4))
def test_strings_within_the_bound_pass_and_longer_ones_are_cut_to_valid_json(seed):
    chance = random.Random(seed)
    for _ in range(300):
        texts = [
            "".join(chance.choices(ALPHABET, k=chance.randint(0, 40))) for _ in range(4)
        ]
        ensure_ascii = chance.random() < 0.5
        raw = json.dumps(
            [{"image": text, "caption": text[::-1], "n": 12.5} for text in texts],
            ensure_ascii=ensure_ascii,
        ).encode()
        bound = chance.randint(8, 60)
        out = filtered(raw, max_string_bytes=bound, chunk_bytes=chance.randint(1, 23))
        parsed = json.loads(out)
        for text, entry in zip(texts, parsed, strict=True):
            assert entry["n"] == 12.5
            for original, seen in (
                (text, entry["image"]),
                (text[::-1], entry["caption"]),
            ):
                if escaped_length(original, ensure_ascii) <= bound:
                    assert seen == original
                else:
                    # Cut at a whole character, at least `bound` bytes of JSON in;
                    # a surrogate pair split by a chunk's end may lose its second
                    # half (the string is cut anyway).
                    whole = seen[:-1] if "\ud800" <= seen[-1:] <= "\udbff" else seen
                    assert original.startswith(whole)
                    assert escaped_length(seen, ensure_ascii) >= bound


def test_a_long_number_is_cut_and_small_reads_get_no_more_than_asked():
    raw = b'[{"n": ' + b"7" * 5000 + b', "caption": "' + b"x" * 10_000 + b'"}]'
    reader = BoundedJsonReader(
        io.BytesIO(raw), max_string_bytes=100, max_token_bytes=20, chunk_bytes=999
    )
    pieces = []
    while piece := reader.read(7):
        assert len(piece) <= 7
        pieces.append(piece)
    assert json.loads(b"".join(pieces)) == [{"n": int("7" * 20), "caption": "x" * 100}]


def test_the_parser_sees_a_cut_string_of_a_big_file_without_holding_it():
    size = 50 * 1024 * 1024

    class Caption(io.RawIOBase):
        """`[{"caption": "xxxx…"}]` of `size` bytes, made up as it is read."""

        def __init__(self) -> None:
            self.parts = [b'[{"caption": "', b'"}]']
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            if self.parts[0]:
                chunk, self.parts[0] = self.parts[0], b""
            elif self.left:
                chunk = b"x" * min(len(buffer), self.left)
                self.left -= len(chunk)
            else:
                chunk, self.parts[1] = self.parts[1], b""
            buffer[: len(chunk)] = chunk
            return len(chunk)

    reader = BoundedJsonReader(io.BufferedReader(Caption()), max_string_bytes=1000)
    strings = [value for _, event, value in ijson.parse(reader) if event == "string"]
    assert strings == ["x" * 1000]
