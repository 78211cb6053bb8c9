"""Where previews and built releases live: Django's storage API, local or a bucket.

Two storages (settings.STORAGES): "default" holds previews (ingest writes them, the
media view serves them), "releases" the files of built releases. Local folders by
default, an S3-compatible bucket once AWS_STORAGE_BUCKET_NAME is set
(captions/s3_storage.py). What every stage needs of them is here, with a fast path
for local folders (a preview written as one file, not through the storage API's
name-finding and temporary files) and every store error turned into `StorageError`,
whose message says what failed without a key, a URL's signature or a traceback.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.http import FileResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils._os import safe_join
from urllib3.exceptions import HTTPError as Urllib3Error

MEDIA = "default"
RELEASES = "releases"
# Files up to this size are written in one request (`save_file`).
SMALL_FILE_BYTES = 8 * 1024 * 1024


class StorageError(Exception):
    """The store refused or could not be reached; the message says which and why."""


class LocalReleasesStorage(FileSystemStorage):
    """Built releases in RELEASES_ROOT, read at each use (as FileSystemStorage reads
    MEDIA_ROOT): a command or a test that points it elsewhere is followed."""

    @property  # type: ignore[override]
    def base_location(self) -> str:
        return str(settings.RELEASES_ROOT)

    @property  # type: ignore[override]
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def media_storage() -> Storage:
    return storages[MEDIA]


def releases_storage() -> Storage:
    return storages[RELEASES]


def local_root(storage: Storage) -> Path | None:
    """The folder of a local storage; None for an object store."""
    if isinstance(storage, FileSystemStorage):
        return Path(storage.location)
    return None


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Turn what a store raises into a StorageError saying `what` failed and why."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        answer = f"the object store answered {status} {code}"
        raise StorageError(f"{what}: {answer}") from None
    except (EndpointConnectionError, Urllib3Error):
        raise StorageError(f"{what}: the object store does not answer") from None
    except BotoCoreError as error:
        raise StorageError(f"{what}: {type(error).__name__}") from None
    except FileNotFoundError:  # not there: the caller's 404, not the store's failure
        raise
    except OSError as error:
        raise StorageError(f"{what}: {error.strerror or error}") from None


def save_file(storage: Storage, name: str, path: Path) -> None:
    """Write the local file `path` under `name`: a small one at once, a large one
    streamed (an object store's multipart upload), never whole in memory."""
    root = local_root(storage)
    if root is not None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, root / name)
        return
    if path.stat().st_size <= SMALL_FILE_BYTES:
        save_bytes(storage, name, path.read_bytes())
        return
    with store_errors(f"writing {name}"), path.open("rb") as content:
        if storage.save(name, File(content)) != name:
            raise StorageError(f"writing {name}: the store saved it under another name")


def save_bytes(storage: Storage, name: str, content: bytes) -> None:
    """Write `content` under `name` exactly (replacing what was there)."""
    root = local_root(storage)
    if root is not None:
        path = root / name
        try:
            path.write_bytes(content)
        except FileNotFoundError:  # a folder's first file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return
    with store_errors(f"writing {name}"):
        put_bytes = getattr(storage, "put_bytes", None)
        if put_bytes is not None:
            put_bytes(name, content)
        elif storage.save(name, ContentFile(content)) != name:
            raise StorageError(f"writing {name}: the store saved it under another name")


def delete_folder(storage: Storage, folder: str) -> None:
    """Remove everything under `folder` (nothing there is fine)."""
    root = local_root(storage)
    if root is not None:
        shutil.rmtree(root / folder, ignore_errors=True)
        return
    with store_errors(f"deleting {folder}/"):
        storage.delete_prefix(folder)  # type: ignore[attr-defined]


def open_stored(storage: Storage, name: str) -> IO[bytes]:
    """A stored file opened for reading; FileNotFoundError if there is none."""
    root = local_root(storage)
    if root is not None:
        return (root / name).open("rb")
    with store_errors(f"reading {name}"):
        return storage.open(name, "rb")  # django-storages: a 404 is FileNotFoundError


def is_stored(storage: Storage, name: str) -> bool:
    root = local_root(storage)
    if root is not None:
        try:
            return (root / name).is_file()
        except OSError:  # a name too long for the file system is no file either
            return False
    with store_errors(f"looking for {name}"):
        try:
            return storage.exists(name)
        except SuspiciousOperation:
            return False


def _require_servable(storage: Storage, name: str) -> None:
    """FileNotFoundError unless `name` may name a file of `storage` (a path out of
    it, a folder, a file that is not there locally)."""
    if not name or name.endswith("/") or "\x00" in name or "\\" in name:
        raise FileNotFoundError(name)
    root = local_root(storage)
    try:
        if root is not None:
            path = Path(safe_join(root, name))
            if not path.is_file():
                raise FileNotFoundError(name)
            return
        key = getattr(storage, "key", None)
        if key is not None:
            key(name)
    except (SuspiciousOperation, OSError):  # out of it, or too long a name
        raise FileNotFoundError(name) from None


def stored_response(
    storage: Storage,
    name: str,
    *,
    content_type: str | None = None,
    download_as: str | None = None,
    cache_control: str,
    ask_store_first: bool = False,
) -> HttpResponseBase:
    """The answer that gives a checked-for user a stored file.

    A local file, or with MEDIA_THROUGH_APP a stored one, is sent by this process; an
    object store's is a redirect to a signed URL that expires in
    AWS_QUERYSTRING_EXPIRE seconds (the redirect itself is kept by the browser for
    at most half that). The caller has checked who asks and that the name is one
    it serves; FileNotFoundError for a name out of the storage or a file that is
    not there (locally, through the app, or with `ask_store_first` a request to
    the store before a redirect: a 404 of ours rather than the store's),
    StorageError if the store fails.
    """
    _require_servable(storage, name)
    signed_url = getattr(storage, "signed_url", None)
    if signed_url is None or settings.MEDIA_THROUGH_APP:
        response: Any = FileResponse(
            open_stored(storage, name),
            content_type=content_type,
            as_attachment=download_as is not None,
            filename=download_as or Path(name).name,
        )
        response["Cache-Control"] = cache_control
        return response
    if ask_store_first and not is_stored(storage, name):
        raise FileNotFoundError(name)
    with store_errors(f"signing {name}"):
        response = HttpResponseRedirect(signed_url(name, download_as=download_as))
    response["Cache-Control"] = (
        f"private, max-age={settings.AWS_QUERYSTRING_EXPIRE // 2}"
    )
    return response
