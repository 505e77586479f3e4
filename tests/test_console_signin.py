"""--console: a sign-in URL for the role session, against moto's STS and a fake federation endpoint.

The fake (an http.server on 127.0.0.1) records each getSigninToken request and answers with a
token, an HTTP error, text that is not JSON, or JSON without the token.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest

from awsrun.deliver import signin
from awsrun.errors import ConfigError
from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun, trust_env_file

TOKEN = "fake-signin-token-0123456789"
OTHER_ROLE = "arn:aws:iam::123456789012:role/ReadOnly"


class Federation:
    """A fake federation endpoint: ``answer`` is (status, body) of every getSigninToken."""

    def __init__(self) -> None:
        self.seen: List[Dict[str, str]] = []
        self.answer: Tuple[int, bytes] = (200, json.dumps({"SigninToken": TOKEN}).encode())
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                fake.seen.append({key: values[0] for key, values in parse_qs(parts.query).items()} | {"path": parts.path})
                status, body = fake.answer
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/federation"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def federation() -> Iterator[Federation]:
    fake = Federation()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def console_env(source_env: Dict[str, str], federation: Federation, **more: str) -> Dict[str, str]:
    return {**source_env, "AWS_ENDPOINT_URL_SIGNIN": federation.url, "AWS_REGION": "eu-west-1", **more}


def query_of(url: str) -> Dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# --- the printed URL and what the endpoint was sent -------------------------------------------------

@pytest.mark.parametrize("roles, duration, source, session_duration", [
    ([ROLE_ARN], [], {}, "3600"),  # one hop from an IAM user's keys: AWS takes SessionDuration
    ([ROLE_ARN], ["--duration", "4h"], {}, "14400"),
    ([ROLE_ARN, OTHER_ROLE], [], {}, None),  # chained: SessionDuration would be refused
    ([ROLE_ARN], ["--duration", "4h"], {"AWS_SESSION_TOKEN": "FwoFAKEsourceToken"}, None),  # temporary source
], ids=["one-hop", "one-hop-4h", "chained", "temporary-source"])
def test_print_gives_a_login_url_for_the_role_session(
    source_env: Dict[str, str], federation: Federation, roles: List[str], duration: List[str],
    source: Dict[str, str], session_duration: Optional[str],
) -> None:
    args = [arg for role in roles for arg in ("--role", role)]
    result = run_awsrun(["--no-cache", "-v", *args, *duration, "--console", "--print"],
                        env=console_env(source_env, federation, **source))
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith(federation.url + "?")
    login = query_of(url)
    assert login == {"Action": "login", "Issuer": "awsrun", "SigninToken": TOKEN,
                     "Destination": "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"}
    [asked] = federation.seen
    assert asked["Action"] == "getSigninToken" and asked["path"] == "/federation"
    session = json.loads(asked["Session"])
    assert set(session) == {"sessionId", "sessionKey", "sessionToken"}
    assert session["sessionId"].startswith("ASIA") and session["sessionId"] != SOURCE_KEY_ID
    assert session["sessionKey"] != SOURCE_SECRET and session["sessionToken"]
    assert asked.get("SessionDuration") == session_duration
    # The URL and the token are secrets: -v names the endpoint, never the query.
    assert TOKEN not in result.stderr and session["sessionKey"] not in result.stderr
    assert "sign-in endpoint = " + federation.url in result.stderr


def test_a_cached_session_is_used(source_env: Dict[str, str], federation: Federation) -> None:
    env = console_env(source_env, federation)
    first = run_awsrun(["--cache", "--role", ROLE_ARN, "--export"], env=env)
    assert first.returncode == 0, first.stderr
    result = run_awsrun(["--cache", "--role", ROLE_ARN, "--console", "--print"], env=env)
    assert result.returncode == 0, result.stderr
    assert "reusing cached session" in result.stderr
    exported = dict(line.split("=", 1) for line in first.stdout.replace("export ", "").splitlines() if "=" in line)
    assert json.loads(federation.seen[0]["Session"])["sessionId"] == exported["AWS_ACCESS_KEY_ID"].strip("'")


def test_browser_opens_the_url(source_env: Dict[str, str], federation: Federation, tmp_path: Path) -> None:
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\nenv > {opened}.env\n')
    browser.chmod(0o755)
    result = run_awsrun(["--no-cache", "--role", ROLE_ARN, "--console"],
                        env=console_env(source_env, federation, BROWSER=str(browser)))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert query_of(opened.read_text())["SigninToken"] == TOKEN
    # The browser needs the URL only: no credential of the source (nor the role's) in its environment.
    browser_env = Path(f"{opened}.env").read_text()
    assert "AWS_ACCESS_KEY_ID" not in browser_env and SOURCE_SECRET not in browser_env
    assert "opened the AWS console as" in result.stderr and TOKEN not in result.stderr


@pytest.mark.parametrize("browser", [None, "/bin/false", "/nonexistent/browser"], ids=["none", "fails", "missing"])
def test_without_a_browser_the_url_is_printed(source_env: Dict[str, str], federation: Federation,
                                               monkeypatch: pytest.MonkeyPatch, browser: Optional[str]) -> None:
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    if browser:
        monkeypatch.setenv("BROWSER", browser)
    result = run_awsrun(["--no-cache", "--role", ROLE_ARN, "--console"], env=console_env(source_env, federation))
    assert result.returncode == 0, result.stderr
    assert query_of(result.stdout.strip())["SigninToken"] == TOKEN
    assert "no browser could be started" in result.stderr


def test_endpoint_in_a_dotenv_is_not_used(source_env: Dict[str, str], federation: Federation) -> None:
    Path(".env").write_text(f"AWS_ENDPOINT_URL_SIGNIN={federation.url}\n")
    trust_env_file()
    env = {**source_env, "AWS_REGION": "eu-west-1"}
    result = run_awsrun(["--no-cache", "--role", ROLE_ARN, "--console", "--print", "--connect-timeout", "1"],
                        env={**env, "https_proxy": "http://127.0.0.1:9", "no_proxy": ""})
    assert federation.seen == []
    assert result.stderr.count("AWS_ENDPOINT_URL_SIGNIN in a .env file is not used") == 1
    assert result.returncode == 125 and "signin.aws.amazon.com" in result.stderr


# --- errors: one line, 125, the host but never the query ----------------------------------------------

@pytest.mark.parametrize("answer, said", [
    ((500, b"oops"), "answered HTTP 500"),
    ((200, b"<html>not json</html>"), "answered something other than JSON"),
    ((200, b'{"Other": "x"}'), "answered no SigninToken"),
    ((302, b""), "answered HTTP 302"),  # a redirect is not followed: it would carry the keys
], ids=["500", "not-json", "no-token", "redirect"])
def test_endpoint_errors_are_one_line(source_env: Dict[str, str], federation: Federation,
                                      answer: Tuple[int, bytes], said: str) -> None:
    federation.answer = answer
    result = run_awsrun(["--no-cache", "--role", ROLE_ARN, "--console", "--print"],
                        env=console_env(source_env, federation))
    assert result.returncode == 125
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith("awsrun: assumed ")
    [line] = result.stderr.splitlines()[1:]
    assert said in line and "127.0.0.1" in line
    assert "Session" not in result.stderr and "?" not in line


def test_debug_shows_no_query(source_env: Dict[str, str], federation: Federation) -> None:
    federation.answer = (500, b"oops")
    result = run_awsrun(["--no-cache", "--debug", "--role", ROLE_ARN, "--console", "--print"],
                        env=console_env(source_env, federation))
    assert result.returncode == 125 and "Traceback" in result.stderr
    secret = json.loads(federation.seen[0]["Session"])["sessionKey"]
    assert "getSigninToken" not in result.stderr and secret not in result.stderr


@pytest.mark.parametrize("args, said", [
    (["--role", ROLE_ARN, "--print"], "--print (from --print) prints the sign-in URL of --console"),
    (["--role", ROLE_ARN, "--console", "--", "aws", "s3", "ls"], "--console prints credentials and runs no command"),
    (["--each-role", ROLE_ARN, "--console", "--", "true"], "does not go with --console"),
    (["--role", ROLE_ARN, "--console", "--export"], "--export and --console exclude each other"),
    (["--assume-root", "111122223333", "--task-policy", "S3UnlockBucketPolicy", "--console"],
     "--assume-root and --console exclude each other"),
], ids=["print-alone", "command", "each-role", "export", "assume-root"])
def test_refusals(args: List[str], said: str) -> None:
    result = run_awsrun(args)
    assert result.returncode == 125
    assert said in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("value", ["http://example.com/federation", "https://h/federation?x=1", "ftp://h/"])
def test_a_bad_endpoint_override_is_refused(source_env: Dict[str, str], value: str) -> None:
    result = run_awsrun(["--no-cache", "--role", ROLE_ARN, "--console", "--print"],
                        env={**source_env, "AWS_ENDPOINT_URL_SIGNIN": value})
    assert result.returncode == 125
    assert "invalid $AWS_ENDPOINT_URL_SIGNIN" in result.stderr


# --- the hosts of each partition ------------------------------------------------------------------------

@pytest.mark.parametrize("partition, region, federation, destination", [
    ("aws", "us-east-1", "https://signin.aws.amazon.com/federation",
     "https://console.aws.amazon.com/console/home?region=us-east-1"),
    ("aws", "eu-west-1", "https://signin.aws.amazon.com/federation",
     "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"),
    ("aws-us-gov", "us-gov-west-1", "https://signin.amazonaws-us-gov.com/federation",
     "https://console.amazonaws-us-gov.com/console/home?region=us-gov-west-1"),
    ("aws-cn", "cn-north-1", "https://signin.amazonaws.cn/federation",
     "https://console.amazonaws.cn/console/home?region=cn-north-1"),
])
def test_partition_hosts(partition: str, region: str, federation: str, destination: str) -> None:
    assert signin.endpoints(partition, region, None) == signin.Endpoints(federation, destination)


def test_other_partitions_are_refused_unless_an_endpoint_is_named() -> None:
    with pytest.raises(ConfigError, match=r"not of 'aws-iso' .*set AWS_ENDPOINT_URL_SIGNIN"):
        signin.endpoints("aws-iso", "us-iso-east-1", None)
    place = signin.endpoints("aws-iso", "us-iso-east-1", "https://signin.example.ic.gov")
    assert place == signin.Endpoints("https://signin.example.ic.gov/federation",
                                     "https://console.example.ic.gov/console/home?region=us-iso-east-1")


def test_an_unknown_partition_is_refused_before_sts() -> None:
    # STS is a closed port: the refusal must come first.
    result = run_awsrun(["--no-cache", "--role", "arn:aws-iso:iam::123456789012:role/Deploy", "--console", "--print"],
                        env={"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
                             "AWS_REGION": "us-iso-east-1", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9"})
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and "'aws-iso'" in result.stderr
    assert "AWS_ENDPOINT_URL_SIGNIN" in result.stderr
