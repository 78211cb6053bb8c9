"""A real S3-compatible server on loopback for the object-storage tests.

`MotoServer` runs moto's standalone server (installed from the package registry with
the dev extras) in its own process: the product talks HTTP to it with boto3 as it
would to MinIO or Amazon S3. `StoreProxy` sits in front of it and forwards every
request, until it is told to misbehave: refuse PUTs after some (a store that stops
taking writes halfway), refuse everything as a store does wrong credentials, or
close connections as a store that is down.
"""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

from tests.services import free_port

ACCESS_KEY, SECRET_KEY, REGION = "test-access-key", "test-secret-key", "us-east-1"


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto server did not answer on {port}: {log.read_text()}")


class MotoServer:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = log_dir / "moto.log"
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                 "-p", str(self.port)],
                stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_for_port(self.port, self.process, log)

    def client(self, endpoint_url: str | None = None):
        return boto3.client(
            "s3",
            endpoint_url=endpoint_url or self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in pages.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user and system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1]
        user, system = fields.split()[11:13]
        return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_REFUSALS = {
    "deny_writes": (403, "AccessDenied", "Access Denied"),
    "bad_credentials": (
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    ),
}


class StoreProxy:
    """Forwards to `target` (a MotoServer's URL); `puts_allowed` PUTs, then each
    further PUT is refused with S3's AccessDenied; `mode` "bad_credentials"
    refuses every request, "down" drops every connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.puts_allowed: int | None = None
        self.mode = "forward"
        self.puts = 0
        self.refused = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                body = self._body()
                refusal = proxy.refusal(self.command)
                if proxy.mode == "down":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if refusal is not None:
                    self._refuse(*refusal)
                    return
                self._forward(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _refuse(self, status: int, code: str, message: str) -> None:
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n'
                    f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self, body: bytes) -> None:
                headers = {
                    key: value
                    for key, value in self.headers.items()
                    if key.lower() not in ("transfer-encoding", "connection")
                }
                headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(
                    "127.0.0.1", proxy.target_port, timeout=30
                )
                try:
                    upstream.request(self.command, self.path, body, headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in (
                        "transfer-encoding", "connection", "content-length", "date",
                        "server",
                    ):  # fmt: skip
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def refusal(self, method: str) -> tuple[int, str, str] | None:
        with self.lock:
            if self.mode == "bad_credentials":
                self.refused += 1
                return _REFUSALS["bad_credentials"]
            if method == "PUT" and self.puts_allowed is not None:
                if self.puts >= self.puts_allowed:
                    self.refused += 1
                    return _REFUSALS["deny_writes"]
                self.puts += 1
        return None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
