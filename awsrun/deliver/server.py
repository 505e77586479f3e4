"""A local credential endpoint speaking the container-credentials protocol the AWS SDKs know.

Bound to 127.0.0.1 only. Every request must carry the run's random token in its
Authorization header (compared in constant time); any other path, method or token is
refused. The credentials served are whatever ``current()`` returns at that moment.
"""

from __future__ import annotations

import hmac
import io
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from awsrun.credentials import Credentials, iso8601

__all__ = ["CredentialServer", "PATH", "IDLE_SECONDS"]

PATH = "/awsrun/credentials"
# A connection idle or half-sent this long is closed, so no local process can hold a
# serving thread (each connection has one) for long.
IDLE_SECONDS = 3.0


class CredentialServer:
    """Serve ``current()`` at http://127.0.0.1:PORT/awsrun/credentials until stopped."""

    def __init__(self, current: Callable[[], Credentials], token: Optional[str] = None) -> None:
        self.token = token or secrets.token_urlsafe(32)  # 256 bits
        self._current = current
        handler = _handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="awsrun-credentials", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def start(self) -> "CredentialServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def authorised(self, header: Optional[str]) -> bool:
        return header is not None and hmac.compare_digest(header.encode("utf-8"), self.token.encode("utf-8"))

    def document(self) -> bytes:
        credentials = self._current()
        document = {
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "Token": credentials.session_token,
            "Expiration": iso8601(credentials.expiration),
            "RoleArn": credentials.assumed_role_arn,
        }
        if credentials.account_id:
            document["AccountId"] = credentials.account_id
        return json.dumps(document).encode("utf-8")


class _DeadlineReader(io.RawIOBase):
    """Reads from a socket until a deadline, then times out like an idle socket."""

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        self._connection, self._deadline = connection, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview") -> int:  # type: ignore[override]
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("the request took too long")
        self._connection.settimeout(left)
        return self._connection.recv_into(buffer)


def _handler(server: CredentialServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        server_version = "awsrun"
        sys_version = ""
        timeout = IDLE_SECONDS  # StreamRequestHandler sets it on the socket

        def setup(self) -> None:
            super().setup()
            # The timeout counts per read; a request trickled in byte by byte must also end.
            self.rfile = io.BufferedReader(_DeadlineReader(self.connection, time.monotonic() + IDLE_SECONDS))

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path != PATH:
                return self._refuse(404, "not found")
            if not server.authorised(self.headers.get("Authorization")):
                return self._refuse(401, "missing or wrong authorization token")
            self._send(200, server.document())

        def _refuse(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"message": message}).encode("utf-8"))

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _method_not_allowed(self) -> None:
            self._refuse(405, "only GET")

        do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _method_not_allowed  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # never log requests
            pass

    return Handler
