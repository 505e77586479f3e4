"""Key rotation as a small state machine whose every step leaves a working key in the keyring.

    current                  -> create a key in IAM, store it as pending     (current still works)
    current + pending        -> wait until STS accepts pending, then promote (both work)
    new current + retired    -> delete the retired key in IAM, forget it     (new one works)

The state lives in the keyring item, so a rotation interrupted anywhere is finished by
running it again. Only the window between IAM creating the new key and the keyring storing
it can lose the new secret; the next run then finds two keys and says which to delete.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

from awsrun.credentials import mask
from awsrun.keys.aws import Aws, AwsKeyError, KeyRejected, user_name
from awsrun.keys.store import Pending, Store, StoredKey

__all__ = ["Outcome", "rotate", "wait_until_accepted", "RotationError", "DELAYS"]

# IAM is eventually consistent: a new key usually works within seconds, rarely after ~30.
DELAYS = (1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0)


class RotationError(AwsKeyError):
    """A rotation that cannot go on; the keyring still holds a working key."""


class Outcome(NamedTuple):
    rotated: bool
    message: str


def wait_until_accepted(aws: Aws, key_id: str, secret: str, sleep: Callable[[float], None]) -> str:
    """GetCallerIdentity with the key until STS accepts it (bounded retries with backoff); its ARN."""
    for delay in (*DELAYS, None):
        try:
            return aws.identity(key_id, secret)
        except KeyRejected:
            if delay is None:
                raise
            sleep(delay)
    raise AssertionError("unreachable")


def _user(arn: str, name: str) -> str:
    user = user_name(arn)
    if not user:
        raise RotationError(f"{name}'s key belongs to {arn}, not an IAM user; awsrun-keys rotates IAM users' keys only")
    return user


def rotate(name: str, store: Store, aws: Aws, *, older_than: Optional[float], now: float,
           sleep: Callable[[float], None], say: Callable[[str], None]) -> Outcome:
    """Rotate (or finish rotating) the key stored as ``name``."""
    item = store.get(name)
    if item is None:
        raise RotationError(f"no key named {name!r} in the keyring; see 'awsrun-keys list'")
    if item.retired:
        return _finish(name, item, store, aws, say)
    if item.pending:
        return _promote(name, item, store, aws, sleep, say)
    try:
        arn = aws.identity(item.key_id, item.secret)
    except KeyRejected:
        raise RotationError(
            f"STS rejects {name}'s stored key {mask(item.key_id)} (deleted or deactivated?); "
            f"store a working one: awsrun-keys remove {name} && awsrun-keys add {name}"
        ) from None
    user = _user(arn, name)
    keys = aws.list_keys(item.key_id, item.secret, user)
    created = next((key.created for key in keys if key.key_id == item.key_id), item.created)
    if older_than is not None and now - created < older_than:
        return Outcome(False, f"{name}: key {mask(item.key_id)} is {age(now - created)} old, not older than {age(older_than)}; not rotated")
    if len(keys) >= 2:
        ids = ", ".join(mask(key.key_id) + (" (in the keyring)" if key.key_id == item.key_id else "") for key in keys)
        raise RotationError(
            f"IAM user {user} already has two access keys ({ids}) and IAM allows two: delete the one "
            "the keyring does not hold, then run again"
        )
    new_id, new_secret, new_created = aws.create_key(item.key_id, item.secret, user)
    item = item._replace(pending=Pending(new_id, new_secret, new_created))
    store.put(name, item)
    say(f"{name}: created {mask(new_id)} for IAM user {user}; waiting until STS accepts it")
    return _promote(name, item, store, aws, sleep, say)


def _promote(name: str, item: StoredKey, store: Store, aws: Aws, sleep: Callable[[float], None],
             say: Callable[[str], None]) -> Outcome:
    pending = item.pending
    assert pending is not None
    try:
        wait_until_accepted(aws, pending.key_id, pending.secret, sleep)
    except KeyRejected:
        # Never accepted: deleted by someone, or IAM slower than ever. Ask IAM with the old key.
        user = _user(aws.identity(item.key_id, item.secret), name)
        if pending.key_id not in {key.key_id for key in aws.list_keys(item.key_id, item.secret, user)}:
            store.put(name, item._replace(pending=None))
            raise RotationError(f"{name}: the new key {mask(pending.key_id)} no longer exists in IAM; "
                                f"{mask(item.key_id)} stays in use; run the rotation again") from None
        raise RotationError(f"{name}: STS does not accept the new key {mask(pending.key_id)} yet; "
                            f"{mask(item.key_id)} stays in use; run the rotation again later") from None
    promoted = StoredKey(pending.key_id, pending.secret, pending.created, retired=item.key_id)
    store.put(name, promoted)
    return _finish(name, promoted, store, aws, say)


def _finish(name: str, item: StoredKey, store: Store, aws: Aws, say: Callable[[str], None]) -> Outcome:
    retired = item.retired
    assert retired is not None
    user = _user(aws.identity(item.key_id, item.secret), name)
    try:
        deleted = aws.delete_key(item.key_id, item.secret, user, retired)
    except AwsKeyError as exc:
        raise RotationError(f"{name}: {mask(item.key_id)} is in use; deleting the old key {mask(retired)} failed "
                            f"({exc}); run the rotation again to finish") from None
    store.put(name, item._replace(retired=None))
    gone = "deleted" if deleted else "was already gone"
    return Outcome(True, f"{name}: rotated; {mask(item.key_id)} is in use, the old key {mask(retired)} {gone}")


def age(seconds: float) -> str:
    """A short age: 45m, 5h, 12d."""
    seconds = max(0.0, seconds)
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> Optional[float]:
    """'90d' -> seconds; None when it is not NUMBER followed by m, h, d or w."""
    import re

    match = re.fullmatch(r"(\d{1,6})([mhdw])", text.strip().lower())
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None
