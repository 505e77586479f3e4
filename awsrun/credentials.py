"""The temporary credentials that travel from STS to the child, and how to show a key safely."""

from typing import NamedTuple, Optional

try:  # Up to Python 3.11, datetime.py first runs a whole pure-Python datetime that its C module
    # then replaces: a millisecond, a tenth of a cache hit. _datetime alone is the same classes.
    from _datetime import datetime, timedelta, timezone
except ImportError:  # an interpreter without CPython's C module
    from datetime import datetime, timedelta, timezone

__all__ = ["Credentials", "mask", "iso8601", "account_of", "datetime", "timedelta", "timezone"]


def mask(value: str) -> str:
    """Show only the last four characters, as aws-vault does for key ids."""
    return "****" + value[-4:] if len(value) > 4 else "****"


def iso8601(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, as AWS_CREDENTIAL_EXPIRATION and credential_process expect."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_of(arn: str) -> Optional[str]:
    """The account of an ARN (``arn:PARTITION:SERVICE:REGION:ACCOUNT:...``) if it is 12 digits, else None.

    Checked, not trusted: the account id becomes AWS_ACCOUNT_ID, from which SDKs build endpoint host names.
    """
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn":
        account = parts[4]
        if len(account) == 12 and account.isascii() and account.isdigit():
            return account
    return None


# Immutable values are NamedTuples, not dataclasses: importing dataclasses (and inspect)
# would cost a cache hit more than all of awsrun's own work.
class Credentials(NamedTuple):
    """A role session's credentials; repr never shows a secret."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    assumed_role_arn: str

    def __repr__(self) -> str:
        return (
            f"Credentials(access_key_id={mask(self.access_key_id)!r}, "
            f"expiration={iso8601(self.expiration)!r}, assumed_role_arn={self.assumed_role_arn!r})"
        )

    @property
    def account_id(self) -> Optional[str]:
        """The role session's account, from its assumed-role ARN; None if that holds none."""
        return account_of(self.assumed_role_arn)

    def secrets(self) -> tuple:
        """The values that must never appear in output unless asked for."""
        return (self.secret_access_key, self.session_token)
