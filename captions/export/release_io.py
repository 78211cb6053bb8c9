"""What every release layout writes with: hashed files, copies, progress beats."""

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from captions.claims import heartbeat
from captions.models import Release

PROGRESS_INTERVAL_S = 1.0
COPY_BLOCK = 1024 * 1024


class ReleaseError(Exception):
    """A release that cannot be created or built; the message says why."""


class ReleaseBusy(ReleaseError):
    """Another worker is building the release and is alive: try again later."""


@dataclass
class Progress:
    """Counts written to the release row at most once a second (the admin polls).

    They are also the build's heartbeat (captions/claims.py): a build that writes
    them is alive, and is never taken over.
    """

    release_id: int
    enabled: bool = True  # a rebuild leaves the done release's counts alone
    images_done: int = 0
    pairs_done: int = 0
    written_at: float = field(default_factory=time.monotonic)

    def tick(self, *, images: int = 0, pairs: int = 0) -> None:
        self.images_done += images
        self.pairs_done += pairs
        if time.monotonic() - self.written_at >= PROGRESS_INTERVAL_S:
            self.write()

    def write(self) -> None:
        self.written_at = time.monotonic()
        if not self.enabled:
            return
        heartbeat(
            Release,
            self.release_id,
            working=Release.Status.BUILDING,
            images_done=self.images_done,
            pairs_done=self.pairs_done,
        )


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str

    def as_json(self) -> dict:
        return {"path": self.path, "bytes": self.size, "sha256": self.sha256}


def copy_hashed(reader: IO[bytes], target: Path) -> tuple[int, str]:
    """Copy an open file into `target`: its size and sha256."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as writer:
        while block := reader.read(COPY_BLOCK):
            digest.update(block)
            writer.write(block)
            size += len(block)
    return size, digest.hexdigest()


class HashingFile:
    """A UTF-8 text file that knows its size and sha256 once closed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.size = 0
        self.handle: IO[bytes] | None = None

    def __enter__(self) -> "HashingFile":
        self.handle = self.path.open("wb")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.handle is not None
        self.handle.close()

    def write(self, text: str) -> None:
        assert self.handle is not None
        content = text.encode()
        self.handle.write(content)
        self.digest.update(content)
        self.size += len(content)

    def entry(self, root: Path) -> FileEntry:
        return FileEntry(
            self.path.relative_to(root).as_posix(), self.size, self.digest.hexdigest()
        )


def write_hashed(content: bytes, target: Path) -> tuple[int, str]:
    """Write `content` to `target`: its size and sha256, as `copy_hashed` gives."""
    target.write_bytes(content)
    return len(content), hashlib.sha256(content).hexdigest()
