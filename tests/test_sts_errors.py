"""Every way AssumeRole can fail becomes one StsError line and exit status 125.

In process: botocore's Stubber feeds awsrun.session.sts.assume_role each error STS documents.
Out of process: awsrun runs against tests/fake_sts.py, which scripts what STS answers
(errors, retries, hangs, broken XML) and records what botocore sent.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import pytest

from awsrun.errors import ExitStatus, StsError
from awsrun.session.source import Source
from awsrun.session.sts import AssumeRoleRequest, assume_role
from tests.conftest import CHILD, ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun
from tests.fake_sts import (
    ISSUED_KEY_ID,
    ISSUED_SECRET,
    FakeSts,
    Reply,
    assume_role_ok,
    closed_port_url,
    error,
    hang,
    raw,
    slow,
    without_credentials,
)

SOURCE = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
REQUEST = AssumeRoleRequest(role_arn=ROLE_ARN, session_name="ci-run", duration=3600)
MINIMAL_PARAMS = {"RoleArn": ROLE_ARN, "RoleSessionName": "ci-run", "DurationSeconds": 3600}
POLICY_JSON = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
STUB_OK = {
    "Credentials": {
        "AccessKeyId": ISSUED_KEY_ID,
        "SecretAccessKey": ISSUED_SECRET,
        "SessionToken": "FwoFAKEstubbedTOKEN",
        "Expiration": datetime(2030, 1, 1, tzinfo=timezone.utc),
    },
    "AssumedRoleUser": {
        "AssumedRoleId": "AROAFAKEROLEID:ci-run",
        "Arn": "arn:aws:sts::123456789012:assumed-role/Deploy/ci-run",
    },
}


# --- in process, with botocore's Stubber ---------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[Tuple[object, object]]:
    """A real STS client from Source (us-east-1, 1 s timeouts) with a Stubber active on it."""
    from botocore.stub import Stubber

    client = Source(SOURCE).client("us-east-1", 1, 1)
    with Stubber(client) as stubber:
        yield client, stubber


# (code, HTTP status, STS's message, request, retries botocore reported, words the line must hold)
STS_ERRORS = [
    pytest.param(
        "AccessDenied", 403,
        f"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}",
        REQUEST, 0, [ROLE_ARN, "AccessDenied", "trust policy", "sts:AssumeRole"],
        id="access-denied",
    ),
    pytest.param(
        "InvalidClientTokenId", 403, "The security token included in the request is invalid.",
        REQUEST, 0, ["InvalidClientTokenId", "source credentials", "invalid"],
        id="invalid-key-id",
    ),
    pytest.param(
        "SignatureDoesNotMatch", 403,
        "The request signature we calculated does not match the signature you provided.",
        REQUEST, 0, ["SignatureDoesNotMatch", "source credentials", "invalid", "secret"],
        id="wrong-secret",
    ),
    pytest.param(
        "ExpiredToken", 400, "The security token included in the request is expired",
        REQUEST, 0, ["ExpiredToken", "source credentials", "expired"],
        id="expired",
    ),
    pytest.param(
        "ValidationError", 400,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        AssumeRoleRequest(role_arn=ROLE_ARN, session_name="ci-run", duration=43200),
        0, ["43200", ROLE_ARN, "lower", "--duration", "MaxSessionDuration"],
        id="duration-too-long",
    ),
    pytest.param(
        "MalformedPolicyDocument", 400, "Syntax errors in policy.",
        REQUEST, 0, ["MalformedPolicyDocument", "session policy", "Syntax errors in policy."],
        id="malformed-policy",
    ),
    pytest.param(
        "PackedPolicyTooLarge", 400,
        "Packed policy consumes 112% of allotted space, please use smaller policy for session.",
        REQUEST, 0, ["PackedPolicyTooLarge", "session policy", "112%"],
        id="packed-policy-too-large",
    ),
    pytest.param(
        "Throttling", 400, "Rate exceeded",
        REQUEST, 2, ["throttled", "Throttling", "3 attempts"],
        id="throttling",
    ),
    pytest.param(
        "RegionDisabledException", 403,
        "STS is not activated in this region for account:123456789012. "
        "Your account administrator can activate STS in this region using the IAM Console.",
        REQUEST, 0, ["not activated", "us-east-1", "--region"],
        id="region-disabled",
    ),
    pytest.param(
        "InternalFailure", 500, "An internal error occurred.",
        REQUEST, 2, ["HTTP 500", "InternalFailure", "3 attempts"],
        id="internal-failure",
    ),
    pytest.param(
        "SomethingBrandNew", 400, "A kind of failure awsrun has never seen",
        REQUEST, 0, [ROLE_ARN, "SomethingBrandNew", "A kind of failure awsrun has never seen"],
        id="unknown-code",
    ),
    pytest.param(
        "ValidationError", 400,
        "1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint",
        REQUEST, 0, ["ValidationError", "roleSessionName"],
        id="other-validation-error",
    ),
]


@pytest.mark.parametrize("code, status, message, request_, retries, words", STS_ERRORS)
def test_sts_error_becomes_one_explained_line(
    stubbed: Tuple[object, object],
    code: str,
    status: int,
    message: str,
    request_: AssumeRoleRequest,
    retries: int,
    words: List[str],
) -> None:
    client, stubber = stubbed
    stubber.add_client_error(  # type: ignore[attr-defined]
        "assume_role",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
        response_meta={"RetryAttempts": retries},
    )
    with pytest.raises(StsError) as caught:
        assume_role(client, request_)
    text = str(caught.value)
    assert "\n" not in text and text.strip() == text and text
    for word in words:
        assert word in text, f"{word!r} missing from {text!r}"
    assert caught.value.exit_status == ExitStatus.FAILURE == 125
    assert SOURCE_SECRET not in text
    assert caught.value.__suppress_context__  # raised "from None": no chained botocore traceback


def test_a_multi_line_sts_message_still_gives_one_line(stubbed: Tuple[object, object]) -> None:
    # A proxy or an STS-compatible endpoint may put line breaks in its message.
    client, stubber = stubbed
    stubber.add_client_error("assume_role", "AccessDenied", "denied by proxy\nsee the proxy log\r\n")  # type: ignore[attr-defined]
    with pytest.raises(StsError) as caught:
        assume_role(client, REQUEST)
    assert len(str(caught.value).splitlines()) == 1, repr(str(caught.value))
    assert "denied by proxy" in str(caught.value)


def test_duration_hint_only_for_duration_errors(stubbed: Tuple[object, object]) -> None:
    client, stubber = stubbed
    stubber.add_client_error("assume_role", "ValidationError", "Value 'x' at 'roleSessionName' failed")  # type: ignore[attr-defined]
    with pytest.raises(StsError) as caught:
        assume_role(client, REQUEST)
    assert "--duration" not in str(caught.value) and "MaxSessionDuration" not in str(caught.value)


def test_success_gives_the_issued_credentials(stubbed: Tuple[object, object]) -> None:
    client, stubber = stubbed
    stubber.add_response("assume_role", STUB_OK, MINIMAL_PARAMS)  # type: ignore[attr-defined]
    credentials = assume_role(client, REQUEST)
    assert credentials.access_key_id == ISSUED_KEY_ID
    assert credentials.secret_access_key == ISSUED_SECRET
    assert credentials.session_token == "FwoFAKEstubbedTOKEN"
    assert credentials.expiration == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert credentials.assumed_role_arn == "arn:aws:sts::123456789012:assumed-role/Deploy/ci-run"
    stubber.assert_no_pending_responses()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "response",
    [
        pytest.param({"AssumedRoleUser": STUB_OK["AssumedRoleUser"]}, id="no-credentials"),
        pytest.param({"Credentials": STUB_OK["Credentials"]}, id="no-assumed-role-user"),
        pytest.param({}, id="empty"),
    ],
)
def test_answer_without_credentials_is_an_sts_error(stubbed: Tuple[object, object], response: Dict) -> None:
    client, stubber = stubbed
    stubber.add_response("assume_role", response)  # type: ignore[attr-defined]
    with pytest.raises(StsError) as caught:
        assume_role(client, REQUEST)
    assert "without credentials" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_status == 125


# (extra request fields, the extra parameters botocore must be given: exactly these)
OPTIONAL_PARAMS = [
    pytest.param({}, {}, id="none"),
    pytest.param({"external_id": "ext-123"}, {"ExternalId": "ext-123"}, id="external-id"),
    pytest.param({"source_identity": "alice"}, {"SourceIdentity": "alice"}, id="source-identity"),
    pytest.param(
        {"tags": (("team", "ops"), ("env", "prod"))},
        {"Tags": [{"Key": "team", "Value": "ops"}, {"Key": "env", "Value": "prod"}]},
        id="tags",
    ),
    pytest.param(
        {"tags": (("team", "ops"),), "transitive_tags": ("team",)},
        {"Tags": [{"Key": "team", "Value": "ops"}], "TransitiveTagKeys": ["team"]},
        id="transitive-tags",
    ),
    pytest.param({"policy": POLICY_JSON}, {"Policy": POLICY_JSON}, id="policy"),
    pytest.param({"policy_arns": (READ_ONLY,)}, {"PolicyArns": [{"arn": READ_ONLY}]}, id="policy-arns"),
    pytest.param(
        {
            "external_id": "ext-123",
            "source_identity": "alice",
            "tags": (("team", "ops"),),
            "transitive_tags": ("team",),
            "policy": POLICY_JSON,
            "policy_arns": (READ_ONLY, "arn:aws:iam::123456789012:policy/Extra"),
        },
        {
            "ExternalId": "ext-123",
            "SourceIdentity": "alice",
            "Tags": [{"Key": "team", "Value": "ops"}],
            "TransitiveTagKeys": ["team"],
            "Policy": POLICY_JSON,
            "PolicyArns": [{"arn": READ_ONLY}, {"arn": "arn:aws:iam::123456789012:policy/Extra"}],
        },
        id="all",
    ),
]


@pytest.mark.parametrize("fields, extra_params", OPTIONAL_PARAMS)
def test_optional_parameters_are_sent_only_when_given(
    stubbed: Tuple[object, object], fields: Dict, extra_params: Dict
) -> None:
    client, stubber = stubbed
    request = AssumeRoleRequest(role_arn=ROLE_ARN, session_name="ci-run", duration=3600, **fields)
    # expected_params is compared for equality: a parameter sent but not given fails.
    stubber.add_response("assume_role", STUB_OK, {**MINIMAL_PARAMS, **extra_params})  # type: ignore[attr-defined]
    client.assume_role(**request.params())  # type: ignore[attr-defined]
    stubber.assert_no_pending_responses()  # type: ignore[attr-defined]


# --- out of process, against the fake STS --------------------------------------------------


def awsrun_at(url: str, *options: str) -> Tuple[object, float]:
    """awsrun with the fake source keys, STS at ``url``, running tests/child.py; and its duration."""
    env = {**SOURCE, "AWS_ENDPOINT_URL_STS": url}
    started = time.monotonic()
    result = run_awsrun(["--role", ROLE_ARN, *options, "--", "python3", str(CHILD)], env=env)
    return result, time.monotonic() - started


def assert_one_line_failure(result: object, *words: str) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 125, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("awsrun: "), stderr
    for word in words:
        assert word in lines[0], f"{word!r} missing from {lines[0]!r}"
    assert result.stdout == ""  # type: ignore[attr-defined]
    return lines[0]


def assert_no_source_secret(result: object) -> None:
    assert SOURCE_SECRET not in result.stdout + result.stderr  # type: ignore[attr-defined]


# Cut off mid-answer, after the issued secret: botocore quotes the body it cannot parse.
_OK_BODY = assume_role_ok().body
TRUNCATED = _OK_BODY[: _OK_BODY.index("<SessionToken>") + 20]

# (script, options, words the line must hold ({url} = the server's), attempts STS must see)
FAILURES = [
    pytest.param([error("Throttling", 400, "Rate exceeded")], [], ["throttled", "Throttling", "3 attempts"], 3, id="throttled-every-time"),
    pytest.param([error("InternalFailure", 500)], [], ["HTTP 500", "InternalFailure", "3 attempts"], 3, id="500-every-time"),
    pytest.param([raw("<html><body>Bad Gateway</body></html>", 502)], [], ["HTTP 502", "3 attempts"], 3, id="502-html-every-time"),
    pytest.param([error("AccessDenied", 403, "not authorized")], [], ["AccessDenied", "trust policy", ROLE_ARN], 1, id="access-denied-not-retried"),
    pytest.param([error("InvalidClientTokenId", 403)], [], ["InvalidClientTokenId", "source credentials"], 1, id="invalid-key-not-retried"),
    pytest.param([hang()], ["--read-timeout", "0.5"], ["{url}", "did not answer in time"], 3, id="never-answers"),
    pytest.param([without_credentials()], [], ["{url}", "without credentials"], 1, id="no-credentials"),
    pytest.param([raw(TRUNCATED)], [], [], None, id="truncated-xml"),
    pytest.param([raw("this is not XML <<<")], [], [], None, id="not-xml"),
    pytest.param([raw("")], [], [], None, id="empty-200"),
]


@pytest.mark.parametrize("script, options, words, attempts", FAILURES)
def test_sts_failure_is_one_line_and_125(
    fake_sts: Callable[[Sequence[Reply]], FakeSts],
    script: List[Reply],
    options: List[str],
    words: List[str],
    attempts: int,
) -> None:
    sts = fake_sts(script)
    result, elapsed = awsrun_at(sts.url, *options)
    assert_one_line_failure(result, *(word.format(url=sts.url) for word in words))
    assert_no_source_secret(result)
    assert ISSUED_SECRET not in result.stderr  # type: ignore[attr-defined]
    if attempts is not None:  # botocore's standard mode: 3 attempts at most, only for retryable errors
        assert len(sts.requests) == attempts
    assert elapsed < 10  # backoff is at most 1 + 2 s; per-attempt timeouts 0.5 s


def test_connection_refused_names_the_endpoint() -> None:
    url = closed_port_url()
    result, elapsed = awsrun_at(url)
    assert_one_line_failure(result, url, "could not connect")
    assert_no_source_secret(result)
    assert elapsed < 10


# (script, options, attempts STS must see)
RECOVERIES = [
    pytest.param([error("ServiceUnavailable", 503), assume_role_ok()], [], 2, id="503-then-ok"),
    pytest.param([error("Throttling", 400), assume_role_ok()], [], 2, id="throttled-then-ok"),
    pytest.param([slow(0.3, assume_role_ok())], ["--read-timeout", "5"], 1, id="slow-within-timeout"),
    pytest.param([slow(3, assume_role_ok()), assume_role_ok()], ["--read-timeout", "0.5"], 2, id="timeout-then-ok"),
]


@pytest.mark.parametrize("script, options, attempts", RECOVERIES)
def test_transient_failure_is_retried(
    fake_sts: Callable[[Sequence[Reply]], FakeSts], script: List[Reply], options: List[str], attempts: int
) -> None:
    sts = fake_sts(script)
    result, _ = awsrun_at(sts.url, *options)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert len(sts.requests) == attempts
    child = child_report(result.stdout)  # type: ignore[attr-defined]
    assert child["env"]["AWS_ACCESS_KEY_ID"] == ISSUED_KEY_ID
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]
    assert_no_source_secret(result)


def test_minimal_request_carries_only_the_required_parameters(fake_sts: Callable[[Sequence[Reply]], FakeSts]) -> None:
    sts = fake_sts([assume_role_ok()])
    result, _ = awsrun_at(sts.url, "--session-name", "ci-run")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    (sent,) = sts.requests
    assert sent.method == "POST" and sent.path == "/"
    assert sent.form == {
        "Action": "AssumeRole",
        "Version": "2011-06-15",
        "RoleArn": ROLE_ARN,
        "RoleSessionName": "ci-run",
        "DurationSeconds": "3600",
    }


def test_request_carries_every_given_parameter_and_is_signed_with_the_source_key(
    fake_sts: Callable[[Sequence[Reply]], FakeSts],
) -> None:
    sts = fake_sts([assume_role_ok()])
    result, _ = awsrun_at(
        sts.url,
        "--session-name", "ci-run",
        "--duration", "1800",
        "--external-id", "ext-123",
        "--source-identity", "alice",
        "--tag", "team=ops",
        "--tag", "env=prod",
        "--transitive-tag", "team",
        "--policy", POLICY_JSON,
        "--policy-arn", READ_ONLY,
        "--policy-arn", "arn:aws:iam::123456789012:policy/Extra",
    )
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert_no_source_secret(result)
    (sent,) = sts.requests
    assert sent.form == {
        "Action": "AssumeRole",
        "Version": "2011-06-15",
        "RoleArn": ROLE_ARN,
        "RoleSessionName": "ci-run",
        "DurationSeconds": "1800",
        "ExternalId": "ext-123",
        "SourceIdentity": "alice",
        "Tags.member.1.Key": "team",
        "Tags.member.1.Value": "ops",
        "Tags.member.2.Key": "env",
        "Tags.member.2.Value": "prod",
        "TransitiveTagKeys.member.1": "team",
        "Policy": POLICY_JSON,
        "PolicyArns.member.1.arn": READ_ONLY,
        "PolicyArns.member.2.arn": "arn:aws:iam::123456789012:policy/Extra",
    }
    # SigV4 with the source key id, for STS in the default region; the secret is never sent.
    assert sent.authorization.startswith("AWS4-HMAC-SHA256 ")
    assert f"Credential={SOURCE_KEY_ID}/" in sent.authorization
    assert "/us-east-1/sts/aws4_request" in sent.authorization
    assert SOURCE_SECRET not in str(sent.headers) + str(sent.form)
    assert "awsrun/" in sent.headers.get("user-agent", "")


def test_retries_resend_the_same_request(fake_sts: Callable[[Sequence[Reply]], FakeSts]) -> None:
    sts = fake_sts([error("InternalFailure", 500), assume_role_ok()])
    result, _ = awsrun_at(sts.url, "--session-name", "ci-run", "--external-id", "ext-123")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    first, second = sts.requests
    assert first.form == second.form and first.form["ExternalId"] == "ext-123"
    assert f"Credential={SOURCE_KEY_ID}/" in second.authorization


def test_fake_sts_stops_even_while_a_request_hangs() -> None:
    import urllib.request

    sts = FakeSts([hang()]).start()
    try:
        urllib.request.urlopen(sts.url, data=b"Action=AssumeRole", timeout=0.2)
    except OSError:
        pass  # the read timed out, as intended
    started = time.monotonic()
    sts.stop()
    assert time.monotonic() - started < 2
    assert len(sts.requests) == 1 and sts.requests[0].form == {"Action": "AssumeRole"}
