"""Previews and releases in a private bucket of an S3-compatible store.

django-storages' S3Storage with what the product needs of it (settings.py sets it up
from AWS_STORAGE_BUCKET_NAME and the other AWS_* variables):

- `url()` gives this site's media URL, as local files have: pages and the API keep
  URLs that check who asks (verification/media.py); `signed_url()` is the store's own,
  short-lived one, handed out only after that check.
- `put_bytes()` writes a small file in one PUT to a URL boto3 signed, sent with
  urllib3: a third of the CPU of boto3's `put_object` (and far less than the storage
  API's `save()`, which goes through boto3's transfer manager); ingest sends two a
  patch.
- `delete_prefix()` removes a folder's objects a thousand at a time.
"""

import mimetypes
import re
import threading

import certifi
import urllib3
from botocore.exceptions import ClientError
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

    @property
    def http(self) -> urllib3.PoolManager:
        """Connections for `put_bytes`, shared by all threads, with the client's
        timeouts, TLS checks (AWS_S3_VERIFY, else certifi's as boto3) and retries of
        what S3 says to retry (500, 503 SlowDown) and of failed connections."""
        http = self.__dict__.get("_http")
        if http is None:
            config = self.client_config
            verify = self.verify
            http = self.__dict__["_http"] = urllib3.PoolManager(
                maxsize=config.max_pool_connections or 10,
                timeout=urllib3.Timeout(
                    connect=config.connect_timeout, read=config.read_timeout
                ),
                retries=urllib3.Retry(
                    total=2,
                    backoff_factor=0.2,
                    status_forcelist=(500, 502, 503, 504),
                    allowed_methods=None,
                    raise_on_status=False,
                ),
                cert_reqs="CERT_NONE" if verify is False else "CERT_REQUIRED",
                ca_certs=verify if isinstance(verify, str) else certifi.where(),
            )
        return http

    def put_bytes(self, name: str, content: bytes) -> None:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket_name,
                "Key": self.key(name),
                "ContentType": content_type,
            },
            ExpiresIn=600,
        )
        answer = self.http.request(
            "PUT", url, body=content, headers={"Content-Type": content_type}
        )
        if answer.status >= 300:
            raise _client_error(answer.status, answer.data, "PutObject")

    def delete_prefix(self, prefix: str) -> None:
        folder = self.key(prefix).rstrip("/") + "/"
        self.bucket.objects.filter(Prefix=folder).delete()


def _client_error(status: int, body: bytes, operation: str) -> ClientError:
    """What boto3 raises for an S3 error answer (captions/storage.py words it)."""
    found = re.search(rb"<Code>([A-Za-z0-9.]{1,64})</Code>", body[:4096])
    code = found.group(1).decode() if found else str(status)
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )
