"""awsrun-keys against a hostile STS and IAM: whatever they answer, one inert line, no traceback, no secret."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List

import pytest

from tests.fake_sts import FakeSts, Reply, raw
from tests.keys_support import MemoryKeyring  # noqa: F401  (skips without the keyring library)
from tests.test_keys_cli import Harness

from awsrun.keys.store import SERVICE, StoredKey

KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET"
USER_ARN = "arn:aws:iam::123456789012:user/alice"
_STS = "https://sts.amazonaws.com/doc/2011-06-15/"
_IAM = "https://iam.amazonaws.com/doc/2010-05-08/"
_META = "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"


def caller(arn: str = USER_ARN, with_arn: bool = True) -> Reply:
    fields = (f"<Arn>{arn}</Arn>" if with_arn else "") + "<UserId>AIDAFAKE</UserId><Account>123456789012</Account>"
    return raw(f'<GetCallerIdentityResponse xmlns="{_STS}"><GetCallerIdentityResult>{fields}'
               f"</GetCallerIdentityResult>{_META}</GetCallerIdentityResponse>")


def listed(key_id: str = KEY_ID) -> Reply:
    member = (f"<member><UserName>alice</UserName><AccessKeyId>{key_id}</AccessKeyId><Status>Active</Status>"
              "<CreateDate>2024-01-01T00:00:00Z</CreateDate></member>")
    return raw(f'<ListAccessKeysResponse xmlns="{_IAM}"><ListAccessKeysResult><IsTruncated>false</IsTruncated>'
               f"<AccessKeyMetadata>{member}</AccessKeyMetadata></ListAccessKeysResult>{_META}</ListAccessKeysResponse>")


def created(fields: str) -> Reply:
    return raw(f'<CreateAccessKeyResponse xmlns="{_IAM}"><CreateAccessKeyResult>{fields}'
               f"</CreateAccessKeyResult>{_META}</CreateAccessKeyResponse>")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[Reply]]:
    """Fill the list with the script; STS and IAM both answer from it, in order."""
    script: List[Reply] = []

    class Late(FakeSts):
        def _next_reply(self, request):  # type: ignore[no-untyped-def]
            self._script = script
            return super()._next_reply(request)

    with Late([raw("")]) as sts:
        for name, value in {"AWS_ENDPOINT_URL_STS": sts.url, "AWS_ENDPOINT_URL_IAM": sts.url,
                            "AWS_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}.items():
            monkeypatch.setenv(name, value)
        yield script


def assert_one_inert_line(err: str) -> None:
    assert err.count("\n") == 1 and err.startswith("awsrun-keys: "), err
    assert "Traceback" not in err and "internal error" not in err
    assert SECRET not in err and SECRET[:8] not in err and "NEWSECRET" not in err
    assert not any(c in err for c in "\r\x1b\x9b\u202e\u2066"), repr(err)


@pytest.mark.parametrize("arn, shown", [
    (USER_ARN + "\nawsrun-keys: stored nothing, all is fine", "alice\\x0aawsrun-keys: stored nothing"),
    (USER_ARN + "\u202eevil", "alice\\u202eevil"),
    (USER_ARN + "\x9b2J", "alice\\x9b2J"),
])
def test_a_forged_arn_is_shown_escaped(isolated: Path, fake: List[Reply], arn: str, shown: str) -> None:
    fake += [caller(arn), listed()]
    result = Harness()("add", "work", "--stdin", stdin=f"{KEY_ID}\n{SECRET}\n")
    assert result.status == 0, result.err
    assert shown in result.err
    assert_one_inert_line(result.err)


@pytest.mark.parametrize("script, message", [
    ([caller(with_arn=False)], "STS GetCallerIdentity at http://127.0.0.1:"),
    ([caller(with_arn=False)], "sent an answer awsrun-keys cannot read (no Arn)"),
    ([raw("<<not xml")], "STS GetCallerIdentity at http://127.0.0.1:"),
    ([caller(USER_ARN + "\x1b[2K")], "cannot read"),  # XML 1.0 cannot hold ESC: a parse error
    ([raw(f"<x>{SECRET}</x><")], "sent an answer awsrun-keys cannot read"),
])
def test_add_with_an_unreadable_sts_answer_is_one_line_and_125(isolated: Path, fake: List[Reply], script: List[Reply],
                                                               message: str) -> None:
    fake += script
    keys = Harness()
    result = keys("add", "work", "--stdin", stdin=f"{KEY_ID}\n{SECRET}\n")
    assert result.status == 125 and message in result.err, result.err
    assert_one_inert_line(result.err)
    assert keys.item("work") is None


@pytest.mark.parametrize("answer, message", [
    ("<AccessKey><UserName>alice</UserName><AccessKeyId>AKIANEWNEWNEWEXAMPLE</AccessKeyId><Status>Active</Status>"
     "</AccessKey>", "IAM CreateAccessKey at http://127.0.0.1:"),
    ("<AccessKey><UserName>alice</UserName><AccessKeyId>AKIANEWNEWNEWEXAMPLE</AccessKeyId></AccessKey>",
     "(no SecretAccessKey); delete the new key ****MPLE in IAM"),
    ("<AccessKey><SecretAccessKey>NEWSECRETNEWSECRETNEWSECRET</SecretAccessKey></AccessKey>", "(no AccessKeyId)"),
    ("", "(no AccessKey)"),
])
def test_rotate_with_an_unreadable_iam_answer_is_one_line_and_125(isolated: Path, fake: List[Reply], answer: str,
                                                                  message: str) -> None:
    fake += [caller(), listed(), created(answer)]
    keys = Harness()
    keys.backend.set_password(SERVICE, "work", StoredKey(KEY_ID, SECRET, 0.0).to_json())
    result = keys("rotate", "work")
    assert result.status == 125 and message in result.err, result.err
    assert_one_inert_line(result.err)
    item = keys.item("work")  # the working key stays
    assert item and (item.key_id, item.secret, item.pending) == (KEY_ID, SECRET, None)
