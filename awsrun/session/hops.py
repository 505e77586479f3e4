"""What a planned chain is made of: each AssumeRole request, checked locally, and where its values came from.

Plain data, no imports of awsrun: planning (chain.py), checking (hopchecks.py) and calling (sts.py) share it.
"""

from __future__ import annotations

from typing import Dict, Mapping, NamedTuple, Optional, Tuple

__all__ = ["StsParams", "AssumeRoleRequest", "Hop"]

# The keyword arguments of one STS call, as botocore's client takes them.
StsParams = Dict[str, object]


class AssumeRoleRequest(NamedTuple):
    """Everything AssumeRole is asked for, already checked locally."""

    role_arn: str
    session_name: str
    duration: int
    external_id: Optional[str] = None
    source_identity: Optional[str] = None
    tags: Tuple[Tuple[str, str], ...] = ()
    transitive_tags: Tuple[str, ...] = ()
    policy: Optional[str] = None
    policy_arns: Tuple[str, ...] = ()
    mfa_serial: Optional[str] = None
    web_identity_token_file: Optional[str] = None  # set: AssumeRoleWithWebIdentity with this file's token

    def params(self, token_code: Optional[str] = None) -> StsParams:
        params: StsParams = {
            "RoleArn": self.role_arn,
            "RoleSessionName": self.session_name,
            "DurationSeconds": self.duration,
        }
        optional = {
            "ExternalId": self.external_id,
            "SourceIdentity": self.source_identity,
            "Policy": self.policy,
            "Tags": [{"Key": k, "Value": v} for k, v in self.tags],
            "TransitiveTagKeys": list(self.transitive_tags),
            "PolicyArns": [{"arn": arn} for arn in self.policy_arns],
            "SerialNumber": self.mfa_serial if token_code else None,
            "TokenCode": token_code,
        }
        params.update({key: value for key, value in optional.items() if value})
        return params

    def web_identity_params(self, token: str) -> StsParams:
        """AssumeRoleWithWebIdentity takes no tags, external id, MFA or source identity."""
        params: StsParams = {"RoleArn": self.role_arn, "RoleSessionName": self.session_name,
                                  "DurationSeconds": self.duration, "WebIdentityToken": token}
        if self.policy:
            params["Policy"] = self.policy
        if self.policy_arns:
            params["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        return params



class Hop(NamedTuple):
    """One AssumeRole of the chain and where each of its values came from."""

    label: str
    request: AssumeRoleRequest
    origins: Mapping[str, str]

    def explain(self) -> str:
        r = self.request
        parts = [f"{r.role_arn} (from {self.origins['role']})",
                 f"session name {r.session_name} (from {self.origins['session-name']})",
                 f"duration {r.duration} (from {self.origins['duration']})"]
        if r.external_id:
            parts.append(f"external id (from {self.origins['external-id']})")
        if r.mfa_serial:
            parts.append(f"MFA {r.mfa_serial} (from {self.origins['mfa-serial']})")
        return f"{self.label}: " + ", ".join(parts)
