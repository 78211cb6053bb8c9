"""A binary file wrapper that keeps a streaming JSON parser's memory flat.

ijson streams arrays and objects, but builds every string and number whole: one
100 MB caption costs hundreds of MB before any code can look at its length. Read
through `BoundedJsonReader`, every string is cut after `max_string_bytes` bytes of
its raw JSON (escapes included) and every bare token (a number, a literal) after
`max_token_bytes`, so the parser never holds more. A string that was cut is still
longer than any limit below `max_string_bytes / 12` characters (a character takes at
most 12 bytes of JSON: a surrogate pair as two `\\uXXXX` escapes), so a caller that
checks lengths still sees it as too long; shorter strings pass untouched.

Cuts fall between whole characters and whole escapes, so the output is valid JSON
whenever the input is; invalid input stays invalid for the parser to report. Plain
Python, no Django.
"""

import re
from typing import BinaryIO

CHUNK_BYTES = 64 * 1024
# Complete pieces of a string's body: plain bytes, a \uXXXX escape, another escape.
_STRING_BODY = re.compile(rb'(?:[^"\\]|\\u[0-9a-fA-F]{4}|\\[^u])*', re.DOTALL)
_STRING_UNITS = re.compile(rb'[^"\\]+|\\u[0-9a-fA-F]{4}|\\[^u]', re.DOTALL)
# Bytes of a bare token: anything but whitespace, structure and quotes.
_BARE_TOKEN = re.compile(rb'[^\s\[\]{},:"]+')
_LONGEST_ESCAPE = 6  # \uXXXX
_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_LOW_SURROGATE = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")


class BoundedJsonReader:
    """`read()` gives the wrapped file's JSON with long strings and tokens cut."""

    def __init__(
        self,
        raw: BinaryIO,
        *,
        max_string_bytes: int,
        max_token_bytes: int = 1024,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._raw = raw
        self._max_string = max_string_bytes
        self._max_token = max_token_bytes
        self._chunk_bytes = chunk_bytes
        self._in_string = False
        self._string_bytes = 0  # of the current string's body, passed on so far
        self._token_bytes = 0  # of the current bare token, passed on so far
        self._carry = b""  # an escape split by the end of a chunk
        self._ready = bytearray()

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._ready) < size) and self._fill():
            pass
        if size < 0:
            size = len(self._ready)
        given = bytes(self._ready[:size])
        del self._ready[:size]
        return given

    def _fill(self) -> bool:
        """Filter one more chunk into `_ready`; False at the end of the file."""
        chunk = self._raw.read(self._chunk_bytes)
        if not chunk:
            # A file that ends inside an escape is broken: hand it on as it is.
            self._ready += self._carry
            self._carry = b""
            return False
        data = self._carry + chunk
        self._carry = b""
        position = 0
        while position < len(data):
            if self._in_string:
                position = self._through_string(data, position)
            else:
                position = self._outside_strings(data, position)
        return True

    def _outside_strings(self, data: bytes, start: int) -> int:
        quote = data.find(b'"', start)
        end = len(data) if quote < 0 else quote
        kept = start
        for token in _BARE_TOKEN.finditer(data, start, end):
            if token.start() > start or kept > start:
                self._token_bytes = 0  # a new token, not the last chunk's
            self._ready += data[kept : token.start()]
            room = max(self._max_token - self._token_bytes, 0)
            length = token.end() - token.start()
            self._ready += data[token.start() : token.start() + min(room, length)]
            self._token_bytes += length
            kept = token.end()
        if kept < end:
            self._token_bytes = 0
        self._ready += data[kept:end]
        if quote < 0:
            return len(data)
        self._ready += b'"'
        self._in_string = True
        self._string_bytes = 0
        self._token_bytes = 0
        return quote + 1

    def _through_string(self, data: bytes, start: int) -> int:
        body = _STRING_BODY.match(data, start)
        end = body.end() if body else start
        if end == len(data):
            # A character split by the end of the chunk waits for its last bytes.
            end = _whole_characters_end(data, start, end)
            self._carry = data[end:]
        room = self._max_string - self._string_bytes
        if room > 0:
            self._ready += self._cut(data, start, end, room)
        self._string_bytes += end - start
        if self._carry:
            return len(data)
        if end == len(data):
            return end
        if data[end : end + 1] == b'"':
            self._ready += b'"'
            self._in_string = False
            return end + 1
        # A backslash that does not start a complete escape: split by the chunk's
        # end (wait for the rest), or invalid JSON (pass it on for the parser).
        if len(data) - end < _LONGEST_ESCAPE:
            self._carry = data[end:]
            return len(data)
        if room > 0:
            self._ready += data[end : end + 2]
        self._string_bytes += 2
        return end + 2

    @staticmethod
    def _cut(data: bytes, start: int, end: int, room: int) -> bytes:
        """data[start:end], a string's body of whole escapes and characters, cut at
        the first boundary at or after `room` bytes."""
        if end - start <= room:
            return data[start:end]
        taken = 0
        for unit in _STRING_UNITS.finditer(data, start, end):
            length = unit.end() - unit.start()
            if taken + length < room:
                taken += length
                continue
            cut = unit.start() + (room - taken)
            if data[unit.start() : unit.start() + 1] == b"\\":
                cut = unit.end()
                # Keep a surrogate pair whole when both halves are at hand.
                if _HIGH_SURROGATE.fullmatch(unit.group()) and _LOW_SURROGATE.match(
                    data, cut, end
                ):
                    cut += _LONGEST_ESCAPE
            # Never inside a UTF-8 sequence: continuation bytes are 10xxxxxx.
            while cut < unit.end() and data[cut] & 0xC0 == 0x80:
                cut += 1
            return data[start:cut]
        return data[start:end]


def _whole_characters_end(data: bytes, start: int, end: int) -> int:
    """`end`, or where the UTF-8 character that `data[:end]` ends inside begins."""
    for lead in range(end - 1, max(start, end - 4) - 1, -1):
        byte = data[lead]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: the lead is further back
        needed = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        return lead if end - lead < needed else end
    return end
