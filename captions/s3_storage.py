"""Previews and releases in a private bucket of an S3-compatible store.

django-storages' S3Storage with what the product needs of it (settings.py sets it up
from AWS_STORAGE_BUCKET_NAME and the other AWS_* variables):

- `url()` gives this site's media URL, as local files have: pages and the API keep
  URLs that check who asks (verification/media.py); `signed_url()` is the store's own,
  short-lived one, handed out only after that check.
- `put_bytes()` writes a small file in one PUT (the storage API's `save()` goes
  through boto3's transfer manager, several times slower for a preview).
- `delete_prefix()` removes a folder's objects a thousand at a time.
"""

import mimetypes
import threading

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class PrivateS3Storage(S3Storage):
    _client_lock = threading.Lock()

    @property
    def client(self):
        """One boto3 client for all threads (clients are thread-safe; the resources
        django-storages keeps, one per thread, take a tenth of a second to make)."""
        client = self.__dict__.get("_shared_client")
        if client is None:
            with self._client_lock:
                client = self.__dict__.get("_shared_client")
                if client is None:
                    client = self.__dict__["_shared_client"] = (
                        self.connection.meta.client
                    )
        return client

    def key(self, name: str) -> str:
        """The object's key for a storage name (SuspiciousOperation outside it)."""
        return self._normalize_name(clean_name(name))

    def url(self, name, parameters=None, expire=None, http_method=None) -> str:
        return settings.MEDIA_URL + filepath_to_uri(name)

    def signed_url(self, name: str, *, download_as: str | None = None) -> str:
        parameters = {}
        if download_as is not None:
            parameters["ResponseContentDisposition"] = (
                f'attachment; filename="{download_as}"'
            )
        return super().url(name, parameters=parameters)

    def put_bytes(self, name: str, content: bytes) -> None:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self.client.put_object(
            Bucket=self.bucket_name,
            Key=self.key(name),
            Body=content,
            ContentType=content_type,
        )

    def delete_prefix(self, prefix: str) -> None:
        folder = self.key(prefix).rstrip("/") + "/"
        self.bucket.objects.filter(Prefix=folder).delete()
