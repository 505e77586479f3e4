"""A local credential endpoint speaking the container-credentials protocol the AWS SDKs know.

Bound to 127.0.0.1 only. Every request must carry the run's random token in its
Authorization header (compared in constant time); any other path, method or token is
refused. The credentials served are whatever ``current()`` returns at that moment.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from awsrun.credentials import Credentials, iso8601

__all__ = ["CredentialServer", "PATH"]

PATH = "/awsrun/credentials"


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
        return json.dumps(
            {
                "AccessKeyId": credentials.access_key_id,
                "SecretAccessKey": credentials.secret_access_key,
                "Token": credentials.session_token,
                "Expiration": iso8601(credentials.expiration),
                "RoleArn": credentials.assumed_role_arn,
            }
        ).encode("utf-8")


def _handler(server: CredentialServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        server_version = "awsrun"
        sys_version = ""

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
