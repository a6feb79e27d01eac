"""The offline credential check (protocol §8.1): the numbered steps, in order, and the verdict.

A verifier holds a trust policy (§9.7-a: the log's key, the witnesses' keys, a quorum, a maximum
age), a presentation, optionally the challenge it issued, and its own clock (`now_ms`, passed in).
`verify_presentation` runs the steps of §8.1 in order and raises at the first that fails, naming the
step; `check_presentation` returns the failure instead. Nothing here opens a file or a connection.

Steps (the labels in the code below):
1. log signature          the checkpoint verifies under the log's key, for the policy's origin
2. witness cosignatures   when the policy names witnesses: every known cosignature verifies, quorum met
3. state leaf inclusion   the state leaf is the checkpoint's last leaf and its inclusion proof verifies
4. freshness              the k-th newest witness time (or, with no quorum, the state leaf's time) is
                          neither in the future nor older than the maximum age
5. status tree proof      the member's status leaf is in the status tree with the state leaf's root
6. status                 the status is `verified`
7. holder signature       the challenge is the verifier's, and the member's current key signed it
8. attributes             disclosed attributes open the member's identity commitment; required ones
                          are disclosed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from crypto import proof, smt
from crypto.cosignature import verify_cosignatures
from crypto.domain import verify_in_domain
from crypto.errors import CryptoError
from crypto.notekey import verify_note

from .credential import Credential
from .errors import ErrorCode, Rejected, Rejection
from .identity import ATTRIBUTES, verify_identity_disclosure
from .presentation import PRESENTATION_PURPOSE, Presentation, presentation_payload
from .state import Status
from .statements import MemberId
from .statetree import format_status_leaf, state_leaf_hash, status_key
from .trust import TrustPolicy

__all__ = [
    "MAX_FUTURE_SKEW_MS",
    "STEPS",
    "Freshness",
    "Verdict",
    "VerificationFailed",
    "check_presentation",
    "verify_credential",
    "verify_presentation",
]

MAX_FUTURE_SKEW_MS: Final = 600_000
"""protocol §8.1-d: how far in the verifier's future a freshness time may lie (clock skew)."""

STEPS: Final[Mapping[int, str]] = MappingProxyType(
    {
        1: "log signature",
        2: "witness cosignatures",
        3: "state leaf inclusion",
        4: "freshness",
        5: "status tree proof",
        6: "status",
        7: "holder signature",
        8: "attributes",
    }
)


class VerificationFailed(Rejected):
    """A presentation failed step `step` of protocol §8.1; `rejection` carries the code and spec ID."""

    def __init__(self, step: int, rejection: Rejection) -> None:
        super().__init__(rejection)
        self.step: Final = step

    @property
    def step_name(self) -> str:
        return STEPS[self.step]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a verifier may conclude when every step passed (protocol §8.1-j)."""

    member_id: MemberId
    key: bytes
    status: Status
    since: int
    origin: str
    tree_size: int
    state_logged_ms: int
    fresh_ms: int
    age_ms: int
    witnesses: tuple[str, ...]
    quorum: int
    challenge_checked: bool
    attributes: Mapping[str, str]


def _fail(step: int, code: ErrorCode, message: str, section: str) -> VerificationFailed:
    return VerificationFailed(step, Rejection(code, message, section))


def _crypto(step: int, exc: CryptoError, section: str) -> VerificationFailed:
    try:
        code = ErrorCode(exc.code)
    except ValueError:
        code = ErrorCode.MALFORMED_ENCODING
    return _fail(step, code, exc.message, section)


@dataclass(frozen=True, slots=True)
class Freshness:
    """What steps 1 to 5 establish about a credential: the witnesses that cosigned, the freshness time
    and the age at `now_ms`."""

    witnesses: tuple[str, ...]
    fresh_ms: int
    age_ms: int


def verify_credential(
    credential: Credential, policy: TrustPolicy, *, now_ms: int, max_age_ms: int | None = None
) -> Freshness:
    """Steps 1 to 5 of protocol §8.1: the credential is signed, witnessed, fresh and proves its status
    leaf. It says nothing of the status itself (step 6) or of who holds it (steps 7 and 8).

    Raises:
        VerificationFailed: the first of steps 1 to 5 that fails.
    """
    cp = credential.checkpoint
    max_age = policy.max_age_ms if max_age_ms is None else max_age_ms

    # Step 1: the log's signature, for the origin the policy names (§8.1-a).
    if cp.origin != policy.origin:
        raise _fail(1, ErrorCode.BAD_SIGNATURE, "the credential is from another log than the policy's", "8.1-a")
    try:
        verify_note(credential.note, [policy.log])
    except CryptoError as exc:
        raise _crypto(1, exc, "8.1-a") from None

    # Step 2: witness cosignatures and the quorum (§8.1-b).
    times: Mapping[str, int] = {}
    if policy.witnesses:
        try:
            times = verify_cosignatures(credential.note, policy.witnesses, policy.quorum)
        except CryptoError as exc:
            raise _crypto(2, exc, "8.1-b") from None

    # Step 3: the state leaf is the checkpoint's last leaf, included under its root (§8.1-c).
    state = credential.state
    if cp.size == 0 or state.index != cp.size - 1:
        raise _fail(3, ErrorCode.BAD_PROOF, "the state leaf is not the checkpoint's last leaf", "8.1-c")
    try:
        proof.verify_inclusion(state_leaf_hash(state), state.index, cp.size, credential.inclusion_proof, cp.root_hash)
    except CryptoError as exc:
        raise _crypto(3, exc, "8.1-c") from None

    # Step 4: freshness (§8.1-d).
    if policy.quorum:
        # The k-th newest cosignature time: k witnesses vouch that the log looked like this then.
        fresh_ms = sorted(times.values(), reverse=True)[policy.quorum - 1] * 1000
        if state.logged_ms > fresh_ms + MAX_FUTURE_SKEW_MS:
            raise _fail(4, ErrorCode.BAD_TIME, "the state leaf is later than the witnesses' cosignatures", "8.1-d")
    else:
        fresh_ms = state.logged_ms
    if fresh_ms > now_ms + MAX_FUTURE_SKEW_MS:
        raise _fail(4, ErrorCode.BAD_TIME, "the credential's time is in the verifier's future", "8.1-d")
    age_ms = max(0, now_ms - fresh_ms)
    if age_ms > max_age:
        raise _fail(
            4,
            ErrorCode.STALE_CREDENTIAL,
            f"the credential is {age_ms // 60_000} minutes old, more than the {max_age // 60_000} allowed",
            "8.1-e",
        )

    # Step 5: the member's leaf in the status tree of the state leaf's root (§8.1-f).
    try:
        smt.verify_membership(
            state.root, status_key(credential.member_id), format_status_leaf(credential.leaf), credential.status_proof
        )
    except CryptoError as exc:
        raise _crypto(5, exc, "8.1-f") from None
    return Freshness(tuple(sorted(times)), fresh_ms, age_ms)


def verify_presentation(
    presentation: Presentation,
    policy: TrustPolicy,
    *,
    now_ms: int,
    challenge: bytes | None = None,
    max_age_ms: int | None = None,
    required_attributes: Sequence[str] = (),
) -> Verdict:
    """Run the steps of protocol §8.1 in order.

    Args:
        presentation: as parsed (`registry.presentation.parse_presentation`).
        policy: the verifier's trust policy.
        now_ms: the verifier's clock, in milliseconds since the epoch.
        challenge: the challenge the verifier issued; None when it issued none (the verdict says so).
        max_age_ms: overrides the policy's maximum age.
        required_attributes: attributes that must be disclosed.

    Returns:
        The verdict.

    Raises:
        VerificationFailed: the first step that fails, with its code: `bad_signature`, `bad_key`,
            `malformed_encoding` (steps 1, 2, 7), `bad_proof` (3, 5), `bad_time` and
            `stale_credential` (4), `not_verified` (6), `wrong_challenge` (7), `attribute_mismatch`
            and `undisclosed_attribute` (8).
    """
    credential = presentation.credential
    cp = credential.checkpoint
    state = credential.state
    leaf = credential.leaf
    fresh = verify_credential(credential, policy, now_ms=now_ms, max_age_ms=max_age_ms)  # steps 1 to 5

    # Step 6: the status is verified (§8.1-g).
    if leaf.status is not Status.VERIFIED:
        raise _fail(6, ErrorCode.NOT_VERIFIED, f"the member's status is {leaf.status}, not verified", "8.1-g")

    # Step 7: the holder signed the verifier's challenge with the member's current key (§8.1-h).
    if challenge is not None and presentation.challenge != challenge:
        raise _fail(7, ErrorCode.WRONG_CHALLENGE, "the presentation answers another challenge", "8.1-h")
    payload = presentation_payload(credential, presentation.challenge, presentation.disclosure)
    try:
        verify_in_domain(leaf.key, PRESENTATION_PURPOSE, cp.origin, payload, presentation.signature)
    except CryptoError as exc:
        raise _crypto(7, exc, "8.1-h") from None

    # Step 8: disclosed attributes open the commitment; required ones are there (§8.1-i).
    attributes: Mapping[str, str] = {}
    if presentation.disclosure is not None:
        if leaf.commitment is None:
            raise _fail(8, ErrorCode.ATTRIBUTE_MISMATCH, "the member declared no identity commitment", "8.1-i")
        try:
            attributes = verify_identity_disclosure(presentation.disclosure, leaf.commitment)
        except Rejected as exc:
            raise VerificationFailed(8, Rejection(exc.code, exc.message, "8.1-i")) from None
    for name in required_attributes:
        if name not in attributes:
            message = f"the attribute {name} is required but not disclosed"
            raise _fail(8, ErrorCode.UNDISCLOSED_ATTRIBUTE, message, "8.1-i")

    return Verdict(
        member_id=credential.member_id,
        key=leaf.key,
        status=leaf.status,
        since=leaf.since,
        origin=cp.origin,
        tree_size=cp.size,
        state_logged_ms=state.logged_ms,
        fresh_ms=fresh.fresh_ms,
        age_ms=fresh.age_ms,
        witnesses=fresh.witnesses,
        quorum=policy.quorum,
        challenge_checked=challenge is not None,
        attributes=MappingProxyType({n: attributes[n] for n in ATTRIBUTES if n in attributes}),
    )


def check_presentation(
    presentation: Presentation,
    policy: TrustPolicy,
    *,
    now_ms: int,
    challenge: bytes | None = None,
    max_age_ms: int | None = None,
    required_attributes: Sequence[str] = (),
) -> Verdict | VerificationFailed:
    """`verify_presentation`, returning the failure instead of raising it."""
    try:
        return verify_presentation(
            presentation,
            policy,
            now_ms=now_ms,
            challenge=challenge,
            max_age_ms=max_age_ms,
            required_attributes=required_attributes,
        )
    except VerificationFailed as failure:
        return failure
