"""Public response bodies of the REST API (protocol §9.1 to §9.3).

These pydantic models are the API's wire format and nothing else: they are built field by field from
the core's frozen values (never from table models, STYLE §5), so that a new field in the core or a new
column in the store cannot reach a client by accident. Hashes, ids and keys are lowercase hex; a
checkpoint is its signed note text.

Deliberately not here: the error body (built by `api.errors`, with its schema per status).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from registry.sequencer import Receipt
from registry.state import MemberView
from registry.statements import PolicyStatement, declaration_hash

__all__ = [
    "ConsistencyProofBody",
    "CredentialBody",
    "DeclarationBody",
    "ErrorBody",
    "HealthBody",
    "InclusionProofBody",
    "MemberBody",
    "ParamsBody",
    "PolicyBody",
    "ReceiptBody",
    "TrustBody",
    "ValidateBody",
    "member_body",
    "policy_body",
    "receipt_body",
]

_HEX32 = r"^[0-9a-f]{64}$"


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorBody(_Body):
    """Every error: a stable code of §10, one sentence, and the spec ID of the rule ([9.1-a])."""

    code: str
    message: str
    section: str


class ReceiptBody(_Body):
    """201 of POST /v1/entries ([9.2-a], [9.2-b])."""

    index: int = Field(ge=0, description="the entry's position in the log")
    logged_ms: int = Field(ge=0, description="the log time of the entry's leaf")
    leaf_hash: str = Field(pattern=_HEX32, description="SHA-256(0x00 || leaf bytes), hex")
    tree_size: int = Field(ge=1, description="the size of the checkpoint below")
    checkpoint: str = Field(description="the log-signed checkpoint note of size tree_size")
    inclusion_proof: list[str] = Field(description="RFC 6962 path of index in tree_size, hex, leaf's sibling first")


class ValidateBody(_Body):
    """200 of POST /v1/validate ([9.2-e]): ok, or the rejection that submitting would get."""

    ok: bool
    code: str | None = None
    message: str | None = None
    section: str | None = None


class MemberBody(_Body):
    """200 of GET /v1/members/{id} ([9.3-a]); the object `registry status --json` prints."""

    member: str = Field(pattern=_HEX32)
    key: str = Field(pattern=_HEX32)
    status: str = Field(description="pending, verified, suspended or revoked")
    valid_vouches: int = Field(ge=0)
    founder: bool
    commitment: str | None = Field(pattern=_HEX32)
    revocation_reason: str | None
    strikes: int = Field(ge=0)
    history: list[int] = Field(description="indexes of the entries about this member, increasing")
    tree_size: int = Field(ge=0)


class ParamsBody(_Body):
    """The rule parameters of a policy (protocol §7.2)."""

    vouch_threshold: int
    voucher_min_age_days: int
    max_pending_vouchees: int
    vouch_quota: int
    strike_limit: int
    sponsor_required: bool
    max_pending_members: int
    rate_limit_per_day: int


class DeclarationBody(_Body):
    text: str
    sha256: str = Field(pattern=_HEX32, description="the declaration hash a declare statement names")


class PolicyBody(_Body):
    """200 of GET /v1/policy ([9.3-b])."""

    origin: str
    version: int
    created_ms: int
    council: list[str]
    threshold: int
    params: ParamsBody
    declarations: dict[str, DeclarationBody]
    tree_size: int


class InclusionProofBody(_Body):
    """200 of GET /v1/proof/inclusion ([9.3-c])."""

    index: int
    tree_size: int
    inclusion_proof: list[str]


class ConsistencyProofBody(_Body):
    """200 of GET /v1/proof/consistency ([9.3-d])."""

    old: int
    new: int
    consistency_proof: list[str]


class CredentialBody(_Body):
    """200 of GET /v1/credential/{id} ([9.7-i]): a member's credential, in the text form of §9.7-c."""

    member: str = Field(pattern=_HEX32)
    status: str = Field(description="the status the credential proves: pending, verified, suspended or revoked")
    tree_size: int = Field(ge=1, description="the size of the checkpoint the credential is built on")
    credential: str = Field(description="the credential's text form (c2sp.org/tlog-proof@v1)")


class TrustBody(_Body):
    """200 of GET /v1/trust ([9.7-j]): the trust policy this registry publishes, in the form of §9.7-b."""

    policy: str


class HealthBody(_Body):
    """200 of GET /healthz ([9.3-e])."""

    status: str
    tree_size: int


# The two bodies on hot paths are built with `model_construct` (no validation): every field comes from
# the core's frozen values, already checked, and the model is the schema of what is sent.


def receipt_body(receipt: Receipt, logged_ms: int, tree_size: int) -> ReceiptBody:
    return ReceiptBody.model_construct(
        index=receipt.index,
        logged_ms=logged_ms,
        leaf_hash=receipt.leaf_hash.hex(),
        tree_size=tree_size,
        checkpoint=receipt.checkpoint.decode("utf-8"),
        inclusion_proof=[node.hex() for node in receipt.inclusion_proof],
    )


def member_body(view: MemberView, tree_size: int) -> MemberBody:
    return MemberBody.model_construct(
        member=view.member_id.hex(),
        key=view.key.hex(),
        status=str(view.status),
        valid_vouches=view.valid_vouches,
        founder=view.founder,
        commitment=None if view.commitment is None else view.commitment.hex(),
        revocation_reason=None if view.revocation_reason is None else str(view.revocation_reason),
        strikes=view.strikes,
        history=list(view.history),
        tree_size=tree_size,
    )


def policy_body(policy: PolicyStatement, tree_size: int) -> PolicyBody:
    p = policy.params
    return PolicyBody(
        origin=policy.origin,
        version=policy.version,
        created_ms=policy.created_ms,
        council=[key.hex() for key in policy.council],
        threshold=policy.threshold,
        params=ParamsBody(
            vouch_threshold=p.vouch_threshold,
            voucher_min_age_days=p.voucher_min_age_days,
            max_pending_vouchees=p.max_pending_vouchees,
            vouch_quota=p.vouch_quota,
            strike_limit=p.strike_limit,
            sponsor_required=p.sponsor_required,
            max_pending_members=p.max_pending_members,
            rate_limit_per_day=p.rate_limit_per_day,
        ),
        declarations={
            lang: DeclarationBody(text=text, sha256=declaration_hash(text).hex())
            for lang, text in sorted(policy.declarations.items())
        },
        tree_size=tree_size,
    )
