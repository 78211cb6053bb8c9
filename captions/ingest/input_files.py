"""Files a user names: the one way ingest, tile import, the admin's ingest form and
the commands reach a file on the server.

A path a curator types is hostile. GDAL opens far more than GeoTIFFs: a name can be
a URL (`/vsicurl/…`), an archive member (`/vsizip/…`), a driver prefix (`MEM:::`,
`GTIFF_DIR:1:…`), and a file holding `<VRTDataset>` in its first bytes is read as a
VRT whatever its name, which turns any other file's bytes (the database,
`/proc/self/environ`) into pixels that a lossless preview hands back. So, before any
library sees it, a path must be:

1. absolute, with no NUL byte and no GDAL virtual file system;
2. once resolved (symlinks followed), under one of the allowed roots and outside the
   product's own folders (media, releases, var, the database) and `/proc`, `/sys`,
   `/dev`, with one message for both cases so that the answer does not tell whether
   a path outside exists;
3. a regular file whose first bytes are those of an allowed format, opened with
   that format's driver only, and GDAL kept from reading sidecar files beside it.

Plain Python, rasterio and Pillow, no Django: the caller passes the `InputPolicy`
(`captions.ingest.scenes.input_policy()` builds it from the settings).
"""

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import rasterio
from PIL import Image

# Never readable as input, whatever the roots: the kernel's and the devices' files.
SYSTEM_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))

# First bytes of each format we read, and the one GDAL driver that opens it.
_SIGNATURES: dict[str, tuple[tuple[bytes, ...], str]] = {
    "GeoTIFF": ((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"), "GTiff"),
    "PNG": ((b"\x89PNG\r\n\x1a\n",), "PNG"),
    "JPEG 2000": (
        (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"),
        "JP2OpenJPEG",
    ),
    "JPEG": ((b"\xff\xd8\xff",), "JPEG"),
}
# What an ingest reads (a COG is a GeoTIFF); JPEG is not among them: no imagery we
# ingest needs it, and every format allowed is one more parser exposed.
RASTER_FORMATS = ("GeoTIFF", "PNG", "JPEG 2000")
TILE_FORMATS = ("PNG",)  # ChatEarthNet and SatlasPretrain tiles
_PILLOW_DECODERS = {"PNG": "PNG", "JPEG": "JPEG"}
_SIGNATURE_BYTES = 12

# GDAL configuration while a user's raster is open: no listing or probing of the
# folder, so no `.ovr`, `.msk` or `.aux.xml` beside the file is opened (an overview
# file is opened with every driver, VRT included), and no `.aux.xml` written there.
SAFE_GDAL_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_PAM_ENABLED": "NO",
}


class InputFileError(Exception):
    """A path or file that may not be read; the message names the path as given."""


@dataclass(frozen=True)
class InputPolicy:
    """Where user-named files may be read from.

    `allowed_roots` empty means anywhere but the protected roots (development only:
    the settings require roots when DEBUG is off). `protected_roots` are the
    product's own folders, refused even inside an allowed root.
    """

    allowed_roots: tuple[Path, ...]
    protected_roots: tuple[Path, ...]

    def permits(self, real: Path) -> bool:
        """Whether a resolved path may be read (it need not exist)."""
        if any(
            real.is_relative_to(root) for root in (*self.protected_roots, *SYSTEM_ROOTS)
        ):
            return False
        return not self.allowed_roots or any(
            real.is_relative_to(root) for root in self.allowed_roots
        )

    def describe(self) -> str:
        if self.allowed_roots:
            return "files under " + ", ".join(str(root) for root in self.allowed_roots)
        return "files outside the product's own folders"


def resolve_input_path(path: Path | str, policy: InputPolicy) -> Path:
    """The real path of a user-named file or folder, if the policy permits it.

    Raises `InputFileError`. The same message for a path outside the roots whether
    it exists or not; only inside them does the answer say "no such file".
    """
    text = str(path)
    if "\x00" in text:
        raise InputFileError("a path cannot hold a NUL byte")
    if not text.startswith("/"):
        raise InputFileError(f"{text}: give an absolute path on the server")
    if text.startswith("/vsi"):
        raise InputFileError(f"{text}: GDAL's virtual file systems cannot be read")
    real = Path(os.path.realpath(text))
    if not policy.permits(real):
        raise InputFileError(
            f"{text}: not a path that can be read here (only {policy.describe()})"
        )
    if not real.exists():
        raise InputFileError(f"{text}: no such file or folder")
    return real


def resolve_input_file(path: Path | str, policy: InputPolicy) -> Path:
    """`resolve_input_path` for a regular file (not a folder, a pipe or a device)."""
    real = resolve_input_path(path, policy)
    if not stat.S_ISREG(real.stat().st_mode):
        raise InputFileError(f"{path}: not a regular file")
    return real


def input_format(
    real: Path, formats: tuple[str, ...], *, shown: Path | str, kind: str
) -> str:
    """The allowed format whose signature begins the file, or `InputFileError`
    saying that `shown` is not a `kind` (e.g. "raster (GeoTIFF only)")."""
    with real.open("rb") as handle:
        head = handle.read(_SIGNATURE_BYTES)
    for name in formats:
        if head.startswith(_SIGNATURES[name][0]):
            return name
    raise InputFileError(f"{shown}: not a {kind}")


def format_list(formats: tuple[str, ...]) -> str:
    if len(formats) == 1:
        return formats[0]
    return ", ".join(formats[:-1]) + " or " + formats[-1]


def open_input_raster(
    path: Path | str, policy: InputPolicy, formats: tuple[str, ...] = RASTER_FORMATS
) -> rasterio.io.DatasetReader:
    """Open a user-named raster with GDAL, through every check above.

    Open and read it inside `safe_gdal_env()`. Raises `InputFileError`, or rasterio's
    errors for a file of an allowed format that GDAL cannot read.
    """
    real = resolve_input_file(path, policy)
    kind = f"raster ({format_list(formats)} only)"
    driver = _SIGNATURES[input_format(real, formats, shown=path, kind=kind)][1]
    return rasterio.open(str(real), driver=driver)


@contextmanager
def safe_gdal_env() -> Iterator[None]:
    """GDAL's configuration for reading user-named rasters (`SAFE_GDAL_OPTIONS`)."""
    with rasterio.Env(**SAFE_GDAL_OPTIONS):
        yield


def open_input_image(
    path: Path | str, policy: InputPolicy, formats: tuple[str, ...] = TILE_FORMATS
) -> Image.Image:
    """Open a user-named image with Pillow, through every check above, restricted
    to the decoders of the allowed formats (Pillow too guesses by content: an EPS
    file named `.png` would run Ghostscript). The image is not decoded yet."""
    real = resolve_input_file(path, policy)
    kind = f"readable {format_list(formats)}"
    found = input_format(real, formats, shown=path, kind=kind)
    return Image.open(real, formats=[_PILLOW_DECODERS[found]])
