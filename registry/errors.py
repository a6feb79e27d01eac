"""Error codes and rejections of the registry (protocol §10).

`ErrorCode` is the closed set of stable machine codes. A code's value is never changed, reused or
removed. A broken rule is a `Rejection` (code, message, spec section); `apply` raises it wrapped in
`Rejected`. Messages are one sentence a member can act on and never carry personal data: members
appear as key fingerprints.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["ErrorCode", "RegistryError", "Rejected", "Rejection"]


class ErrorCode(StrEnum):
    """Every code the registry returns (protocol §10). Values are part of the wire format."""

    # Encoding and signatures (§4, §3)
    MALFORMED_ENCODING = "malformed_encoding"
    MALFORMED_ENTRY = "malformed_entry"
    TOO_LARGE = "too_large"
    BAD_SIGNATURE = "bad_signature"
    BAD_KEY = "bad_key"
    BAD_PROOF = "bad_proof"
    WRONG_ORIGIN = "wrong_origin"
    INSUFFICIENT_SIGNATURES = "insufficient_signatures"
    UNEXPECTED_SIGNATURE = "unexpected_signature"
    # Log (§5)
    DUPLICATE_ENTRY = "duplicate_entry"
    BAD_TIME = "bad_time"
    NOT_GENESIS = "not_genesis"
    # Membership rules (§7)
    UNKNOWN_MEMBER = "unknown_member"
    ALREADY_MEMBER = "already_member"
    UNKNOWN_DECLARATION = "unknown_declaration"
    SPONSOR_REQUIRED = "sponsor_required"
    SELF_VOUCH = "self_vouch"
    VOUCHER_NOT_VERIFIED = "voucher_not_verified"
    VOUCHER_TOO_NEW = "voucher_too_new"
    VOUCHER_SUSPENDED = "voucher_suspended"
    QUOTA_EXCEEDED = "quota_exceeded"
    TOO_MANY_PENDING = "too_many_pending"
    ALREADY_VOUCHED = "already_vouched"
    NO_SUCH_VOUCH = "no_such_vouch"
    COMMITMENT_MISMATCH = "commitment_mismatch"
    MEMBER_REVOKED = "member_revoked"
    NOT_REVOKED_BY_COUNCIL = "not_revoked_by_council"
    KEY_RETIRED = "key_retired"
    BAD_REASON = "bad_reason"
    BAD_POLICY = "bad_policy"
    RATE_LIMITED = "rate_limited"
    # Verification and audit (§8)
    AUDIT_MISMATCH = "audit_mismatch"
    # Service (§9)
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    # Credentials (§4.3, §8.1)
    STALE_CREDENTIAL = "stale_credential"
    WRONG_CHALLENGE = "wrong_challenge"
    NOT_VERIFIED = "not_verified"
    ATTRIBUTE_MISMATCH = "attribute_mismatch"
    UNDISCLOSED_ATTRIBUTE = "undisclosed_attribute"
    # Witnesses (§6)
    WITNESS_QUORUM_UNAVAILABLE = "witness_quorum_unavailable"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a statement or a check failed: a stable code, a sentence, and the spec ID of the rule."""

    code: ErrorCode
    message: str
    section: str = ""


class RegistryError(Exception):
    """Root of every error raised by `registry/`. Carries a `Rejection`."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(f"{rejection.code}: {rejection.message}")
        self.rejection: Final = rejection

    @property
    def code(self) -> ErrorCode:
        return self.rejection.code

    @property
    def message(self) -> str:
        return self.rejection.message


class Rejected(RegistryError):
    """A statement broke a rule of protocol §7 or an encoding rule of §4; nothing was written."""
