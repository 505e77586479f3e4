"""A scripted fake STS on 127.0.0.1: answers each request with the next reply of a script.

    with FakeSts([error("Throttling", 400), assume_role_ok()]) as sts:
        run_awsrun([...], env={"AWS_ENDPOINT_URL_STS": sts.url})
        assert len(sts.requests) == 2

The last reply repeats once the script is used up, so a one-reply script answers every
attempt the same way. Every request is recorded (path, headers, form body) before it is
answered, so tests can count attempts and inspect what botocore sent. An ``Issuing``
entry (assume_role_issuing) is built when its request arrives, for sessions that must
expire seconds after they are issued and differ from one answer to the next.
"""

from __future__ import annotations

import itertools
import math
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Sequence, Union
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

__all__ = [
    "FakeSts",
    "Issuing",
    "Reply",
    "Request",
    "assume_role_issuing",
    "assume_role_ok",
    "assume_root_ok",
    "closed_port_url",
    "error",
    "get_session_token_ok",
    "hang",
    "raw",
    "slow",
    "without_credentials",
    "ISSUED_KEY_ID",
    "ISSUED_SECRET",
    "ISSUED_TOKEN",
    "MFA_SESSION_KEY_ID",
    "MFA_SESSION_SECRET",
    "MFA_SESSION_TOKEN",
    "ROOT_KEY_ID",
    "ROOT_SECRET",
    "ROOT_TOKEN",
]

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

# What the fake STS issues on success: obviously fake, and distinct from the source keys.
ISSUED_KEY_ID = "ASIAFAKESTSISSUED001"
ISSUED_SECRET = "fakeStsIssuedSecretKeyDoNotUse0000000000"
ISSUED_TOKEN = "FwoFAKEfakeSTSsessionTOKEN" + "x" * 40
# What GetSessionToken issues: the MFA session awsrun --refresh assumes from.
MFA_SESSION_KEY_ID = "ASIAFAKEMFASESSION01"
MFA_SESSION_SECRET = "fakeMfaSessionSecretKeyDoNotUse000000000"
MFA_SESSION_TOKEN = "FwoFAKEfakeMFAsessionTOKEN" + "m" * 40
# What AssumeRoot issues: the member account's root session.
ROOT_KEY_ID = "ASIAFAKEROOTSESSION1"
ROOT_SECRET = "fakeRootSessionSecretKeyDoNotUse00000000"
ROOT_TOKEN = "FwoFAKEfakeROOTsessionTOKEN" + "z" * 40


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``hang`` holds the connection open without answering."""

    status: int = 200
    body: str = ""
    delay: float = 0.0
    hang: bool = False
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One request as the fake STS received it."""

    method: str
    path: str
    headers: Dict[str, str]
    form: Dict[str, str]

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


def error(code: str, status: int = 400, message: str = "", kind: Optional[str] = None) -> Reply:
    """An STS XML error document, as STS sends it."""
    kind = kind or ("Receiver" if status >= 500 else "Sender")
    body = (
        f'<ErrorResponse xmlns="{_NS}">'
        f"<Error><Type>{kind}</Type><Code>{escape(code)}</Code><Message>{escape(message or code)}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId>"
        "</ErrorResponse>"
    )
    return Reply(status=status, body=body)


def _assume_role_response(result: str) -> str:
    return (
        f'<AssumeRoleResponse xmlns="{_NS}"><AssumeRoleResult>{result}</AssumeRoleResult>'
        "<ResponseMetadata><RequestId>11111111-1111-1111-1111-111111111111</RequestId></ResponseMetadata>"
        "</AssumeRoleResponse>"
    )


_ASSUMED_USER = (
    "<AssumedRoleUser><AssumedRoleId>AROAFAKEROLEID:session</AssumedRoleId>"
    "<Arn>arn:aws:sts::123456789012:assumed-role/Deploy/session</Arn></AssumedRoleUser>"
)


def assume_role_ok(expires_in: timedelta = timedelta(hours=1)) -> Reply:
    """A valid AssumeRole answer issuing ISSUED_KEY_ID / ISSUED_SECRET / ISSUED_TOKEN."""
    expiration = (datetime.now(timezone.utc) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
    credentials = (
        f"<Credentials><AccessKeyId>{ISSUED_KEY_ID}</AccessKeyId><SecretAccessKey>{ISSUED_SECRET}</SecretAccessKey>"
        f"<SessionToken>{ISSUED_TOKEN}</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
    )
    return Reply(body=_assume_role_response(credentials + _ASSUMED_USER))


def without_credentials() -> Reply:
    """A well-formed 200 AssumeRole answer that holds no Credentials element."""
    return Reply(body=_assume_role_response(_ASSUMED_USER))


def raw(body: str, status: int = 200) -> Reply:
    """Any body, e.g. malformed or truncated XML."""
    return Reply(status=status, body=body)


def slow(seconds: float, reply: Reply) -> Reply:
    """``reply``, sent only after ``seconds``."""
    return Reply(status=reply.status, body=reply.body, delay=seconds, headers=dict(reply.headers))


def hang() -> Reply:
    """Read the request, then never answer (until the server stops)."""
    return Reply(hang=True)


class Issuing:
    """A reply made when its request arrives, not when the script is written: each answer
    issues new key ids and an Expiration counted from that moment (for renewal tests)."""

    def __init__(self, make: Callable[[int], Reply]) -> None:
        self._make = make
        self._numbers = itertools.count(1)

    def reply(self) -> Reply:
        return self._make(next(self._numbers))


def _expiry(expires_in: timedelta) -> str:
    # Rounded up to a whole second, as STS writes it: the session lives at least expires_in.
    moment = datetime.now(timezone.utc) + expires_in
    return datetime.fromtimestamp(math.ceil(moment.timestamp()), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def assume_role_issuing(expires_in: timedelta) -> Issuing:
    """AssumeRole answers whose Nth issues ASIAFAKESTSRENEWnnnn (and its own secret and
    token), expiring ``expires_in`` (rounded up to a whole second) after it is sent."""

    def make(number: int) -> Reply:
        credentials = (
            f"<Credentials><AccessKeyId>ASIAFAKESTSRENEW{number:04d}</AccessKeyId>"
            f"<SecretAccessKey>fakeRenewedSecret{number:04d}DoNotUse0000000000</SecretAccessKey>"
            f"<SessionToken>FwoFAKErenewedTOKEN{number:04d}{'r' * 40}</SessionToken>"
            f"<Expiration>{_expiry(expires_in)}</Expiration></Credentials>"
        )
        return Reply(body=_assume_role_response(credentials + _ASSUMED_USER))

    return Issuing(make)


def get_session_token_ok(expires_in: timedelta = timedelta(hours=12)) -> Reply:
    """A valid GetSessionToken answer issuing MFA_SESSION_KEY_ID / _SECRET / _TOKEN."""
    credentials = (
        f"<Credentials><AccessKeyId>{MFA_SESSION_KEY_ID}</AccessKeyId>"
        f"<SecretAccessKey>{MFA_SESSION_SECRET}</SecretAccessKey>"
        f"<SessionToken>{MFA_SESSION_TOKEN}</SessionToken><Expiration>{_expiry(expires_in)}</Expiration></Credentials>"
    )
    body = (
        f'<GetSessionTokenResponse xmlns="{_NS}"><GetSessionTokenResult>{credentials}</GetSessionTokenResult>'
        "<ResponseMetadata><RequestId>22222222-2222-2222-2222-222222222222</RequestId></ResponseMetadata>"
        "</GetSessionTokenResponse>"
    )
    return Reply(body=body)


def assume_root_ok(expires_in: timedelta = timedelta(seconds=900), source_identity: str = "") -> Reply:
    """A valid AssumeRoot answer issuing ROOT_KEY_ID / ROOT_SECRET / ROOT_TOKEN: Credentials and
    SourceIdentity, and (unlike AssumeRole) no AssumedRoleUser."""
    credentials = (
        f"<Credentials><AccessKeyId>{ROOT_KEY_ID}</AccessKeyId><SecretAccessKey>{ROOT_SECRET}</SecretAccessKey>"
        f"<SessionToken>{ROOT_TOKEN}</SessionToken><Expiration>{_expiry(expires_in)}</Expiration></Credentials>"
    )
    identity = f"<SourceIdentity>{escape(source_identity)}</SourceIdentity>" if source_identity else ""
    body = (
        f'<AssumeRootResponse xmlns="{_NS}"><AssumeRootResult>{credentials}{identity}</AssumeRootResult>'
        "<ResponseMetadata><RequestId>33333333-3333-3333-3333-333333333333</RequestId></ResponseMetadata>"
        "</AssumeRootResponse>"
    )
    return Reply(body=body)


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeSts:
    """The server; a context manager that starts it in a thread and stops it cleanly."""

    def __init__(self, script: Sequence[Union[Reply, "Issuing"]]) -> None:
        if not script:
            raise ValueError("the script needs at least one reply")
        self._script = list(script)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: List[Request] = []
        self.in_flight = 0  # requests being answered now
        self.most_in_flight = 0  # the most at any one time
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval keeps stop() fast (shutdown waits for the loop to notice).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-sts", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeSts":
        self._thread.start()
        return self

    def stop(self) -> None:
        # Release handlers that hang or sleep first, so shutdown does not wait on them.
        self._stopping.set()
        if self._thread.is_alive():  # shutdown() would wait forever on a loop never started
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> "FakeSts":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, request: Request) -> Reply:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
            chosen = self._script[min(index, len(self._script) - 1)]
            return chosen.reply() if isinstance(chosen, Issuing) else chosen

    def _handler_class(self) -> type:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                form = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
                headers = {key.lower(): value for key, value in self.headers.items()}
                with fake._lock:
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    self._reply(fake._next_reply(Request(self.command, self.path, headers, form)))
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _reply(self, reply: Reply) -> None:
                if reply.hang:
                    fake._stopping.wait()
                    self.close_connection = True
                    return
                if reply.delay and fake._stopping.wait(reply.delay):
                    return
                payload = reply.body.encode("utf-8")
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (read timeout) before the slow answer came

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        return Handler
