"""An in-process S3 server for tests: moto's S3 (a real HTTP server speaking the S3 protocol,
signatures and multipart uploads included) on a free loopback port, with a switch that makes it
answer writes as a full MinIO does (HTTP 507 ``XMinioStorageFull``) and one that stops it.

    with S3Server() as s3:          # s3.endpoint, s3.client (boto3), s3.make_bucket("b")
        s3.full = True              # PUT/POST → 507 XMinioStorageFull; reads still work
        s3.stop(); s3.start()       # unreachable, then back on the same port (its objects kept)
"""
from __future__ import annotations

import threading

from shared.natsproc import free_port

FULL_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>XMinioStorageFull</Code>'
             b"<Message>Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed."
             b"</Message></Error>")


class S3Server:
    def __init__(self, port: int | None = None):
        from moto.server import DomainDispatcherApplication, create_backend_app

        self.port = port or free_port()
        self.full = False
        self.refused = 0  # writes answered 507 while full
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _app(self, environ, start_response):
        if self.full and environ.get("REQUEST_METHOD") in ("PUT", "POST"):
            self.refused += 1
            start_response("507 Insufficient Storage", [("Content-Type", "application/xml"), ("Content-Length", str(len(FULL_BODY)))])
            return [FULL_BODY]
        return self._moto(environ, start_response)

    def start(self) -> "S3Server":
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test-secret")

    def make_bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        out, token = [], None
        while True:
            kw = {"Bucket": bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            r = self.client.list_objects_v2(**kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return out
            token = r["NextContinuationToken"]

    def open_uploads(self, bucket: str) -> list[dict]:
        return self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
