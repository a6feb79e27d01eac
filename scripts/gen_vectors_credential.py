#!/usr/bin/env python3
"""Write the status tree, state leaf, disclosure and credential vectors to tests/vectors/credential/
(protocol §11.3).

Deterministic: keys come from fixed seeds (member keys SHA-256("test key <n>"), the log key
SHA-256("antiwar-registry test log seed"), witness keys SHA-256("antiwar-registry test witness <n>")),
salts and times are fixed, and Ed25519 is deterministic, so two runs write identical files. The log
is built through the public rules engine, as any implementation would replay it.

Each file is one case: `desc`, `kind`, `inputs`, and either `expected` or `expected_error` (with the
spec `section`, and for credentials the failing `step`). Kinds:
  smt           build a tree from inputs.items ([key hex, value hex]); expected.root, and for each of
                expected.proofs the proof of `key` (present with `value`, or absent when value is null)
  smt-proof     verify inputs.proof_hex for inputs.key (and inputs.value or null) against inputs.root
  status-leaf   format_status_leaf of inputs -> expected.hex
  state-leaf    format_state_leaf of inputs -> expected.bytes and expected.leaf_hash
  identity      make_identity(inputs.attributes, inputs.salts, inputs.decoy_salts) -> expected
                disclosures, commitment and identity file; disclose(inputs.show) -> expected.disclosure_file
  disclosure    check inputs.disclosure_file against inputs.commitment
  credential    parse inputs.presentation (text) and the policy, verify at inputs.now_ms with
                inputs.challenge -> expected verdict, or expected_error with step

Usage: scripts/gen_vectors_credential.py [--check]   (--check: exit 1 if a file differs from a fresh build)
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/vectorio.py, also when loaded by a test

import vectorio

from crypto import smt
from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import cosign
from crypto.keys import SigningKey
from crypto.merkle import MerkleTree, leaf_hash
from crypto.nodestore import MemoryNodeStore
from crypto.note import add_signatures
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteSigner, NoteVerifier
from registry.credential import Credential, format_credential_binary, format_credential_text
from registry.identity import Identity, disclose, format_disclosure, format_identity, format_identity_disclosure
from registry.identity import make_identity as _make_identity
from registry.presentation import format_presentation, make_presentation
from registry.rules import Context, apply, genesis
from registry.state import State, Status
from registry.statements import (
    Declare,
    Entry,
    MemberId,
    Params,
    PolicyStatement,
    Reason,
    Revoke,
    Statement,
    Vouch,
    declaration_hash,
    entry_from_statement,
    format_leaf,
    sign_entry,
    verify_entry,
)
from registry.statetree import (
    StateLeaf,
    StatusLeaf,
    advance_status_tree,
    apply_state_leaf,
    changed_members,
    format_state_leaf,
    format_status_leaf,
    parse_status_leaf,
    state_leaf_hash,
    status_key,
)
from registry.trust import TrustPolicy, format_trust_policy

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "credential"
ORIGIN = "registry.example/log"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EN = "I oppose the war. (vector text)\n"
RU = "Я против войны. (текст для векторов)\n"
CHALLENGE = bytes(range(16))
ATTRIBUTES = {
    "family_name": "Иванова",
    "given_names": "Анна-Мария",
    "birth_date": "01.02.1990",
    "document_number": "75 1234567",
    "issuing_state": "rus",
}


def key(n: int) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"test key {n}".encode()).digest())


def log_signer() -> NoteSigner:
    return NoteSigner(ORIGIN, SigningKey.from_seed(hashlib.sha256(b"antiwar-registry test log seed").digest()))


def witness(n: int) -> tuple[SigningKey, NoteVerifier]:
    k = SigningKey.from_seed(hashlib.sha256(f"antiwar-registry test witness {n}".encode()).digest())
    return k, NoteVerifier(f"witness{n}.registry.example", SIG_TYPE_COSIGNATURE, k.public_key)


def salt(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()[:16]


def make_identity() -> Identity:
    salts = [salt(f"vector salt {i}") for i in range(5)]
    decoys = [salt(f"vector decoy {i}") for i in range(3)]
    return _make_identity(ATTRIBUTES, salts, decoys)


def trust_policy(quorum: int = 2) -> TrustPolicy:
    return TrustPolicy(ORIGIN, log_signer().verifier, tuple(witness(n)[1] for n in (1, 2, 3)), quorum, 72 * 3_600_000)


# --- status tree vectors ---------------------------------------------------------------------------


def _smt_key(i: int) -> bytes:
    return hashlib.sha256(f"antiwar-registry test smt key {i}".encode()).digest()


def _absent(i: int) -> bytes:
    return hashlib.sha256(f"antiwar-registry test smt absent {i}".encode()).digest()


def _smt_case(desc: str, n: int, present: list[int]) -> dict[str, Any]:
    items = [(_smt_key(i), f"value {i}".encode()) for i in range(n)]
    tree = smt.SparseMerkleTree.from_items(items)
    proofs: list[dict[str, str | None]] = [
        {"key": k.hex(), "value": v.hex(), "proof_hex": smt.format_proof(tree.prove(k)).hex()}
        for k, v in (items[i] for i in present)
    ]
    proofs += [
        {"key": _absent(i).hex(), "value": None, "proof_hex": smt.format_proof(tree.prove(_absent(i))).hex()}
        for i in range(2)
    ]
    return {
        "desc": desc,
        "kind": "smt",
        "inputs": {"items": [[k.hex(), v.hex()] for k, v in items]},
        "expected": {"root": tree.root.hex(), "proofs": proofs},
    }


def _smt_cases() -> dict[str, Any]:
    cases = {
        "smt-empty": _smt_case("the empty status tree: root is 32 zero bytes; absence proofs end at depth 0", 0, []),
        "smt-one": _smt_case("one key: the root is its leaf hash; its proof has depth 0", 1, [0]),
        "smt-two": _smt_case("two keys: a branch at the first bit where they differ", 2, [0, 1]),
        "smt-1000": _smt_case("1,000 keys SHA-256('antiwar-registry test smt key <i>'), values 'value <i>'", 1000,
                              [0, 1, 500, 999]),
    }  # fmt: skip
    items = [(_smt_key(i), f"value {i}".encode()) for i in range(1000)]
    tree = smt.SparseMerkleTree.from_items(items)
    # The first key whose path has an empty sibling and a depth that is not a multiple of 8, so that
    # every broken form below can be built from it.
    chosen = next(
        i for i, (k, _) in enumerate(items)
        if smt.EMPTY_HASH in tree.prove(k).siblings and tree.prove(k).depth % 8
    )  # fmt: skip
    k, v = items[chosen]
    proof = tree.prove(k)
    good = smt.format_proof(proof)
    other = smt.SparseMerkleTree.from_items(items[:999])

    def neg(desc: str, proof_hex: str, error: str, *, root: bytes = tree.root, value: bytes | None = v,
            k: bytes = k) -> dict[str, Any]:
        return {
            "desc": desc,
            "kind": "smt-proof",
            "inputs": {"root": root.hex(), "key": k.hex(), "value": None if value is None else value.hex(),
                       "proof_hex": proof_hex},
            "expected_error": error,
            "section": "5.8-g" if error == "bad_proof" else "5.8-f",
        }  # fmt: skip

    flipped = bytearray(good)
    flipped[-1] ^= 1
    bitmap_at = 2
    depth = good[1]
    nbytes = (depth + 7) // 8
    # A set bit past the depth: only possible when depth is not a multiple of 8.
    past = bytearray(good)
    past[bitmap_at + nbytes - 1] |= 1 if depth % 8 else 0
    zero_at = next(i for i in range(depth) if proof.siblings[i] == smt.EMPTY_HASH)
    bitmap = bytearray(good[bitmap_at : bitmap_at + nbytes])
    bitmap[zero_at // 8] |= 0x80 >> (zero_at % 8)
    written = b"".join(s for i, s in enumerate(proof.siblings) if s != smt.EMPTY_HASH or i == zero_at)
    explicit = good[:bitmap_at] + bytes(bitmap) + written
    deeper = smt.format_proof(smt.Proof(smt.Terminal.LEAF, (*proof.siblings, smt.EMPTY_HASH)))
    cases.update(
        {
            "smt-proof-valid": {
                "desc": f"membership of key {chosen} among the 1,000 keys of smt-1000",
                "kind": "smt-proof",
                "inputs": {"root": tree.root.hex(), "key": k.hex(), "value": v.hex(), "proof_hex": good.hex()},
                "expected": {"ok": True},
            },
            "smt-proof-flipped-bit": neg("the last sibling has one bit flipped", bytes(flipped).hex(), "bad_proof"),
            "smt-proof-wrong-value": neg("the proof of the key with another value", good.hex(), "bad_proof",
                                         value=b"value 8"),
            "smt-proof-wrong-root": neg("a valid proof against the root of the first 999 keys", good.hex(),
                                        "bad_proof", root=other.root),
            "smt-proof-truncated": neg("the last sibling cut short", good[:-1].hex(), "malformed_encoding"),
            "smt-proof-trailing-byte": neg("one byte appended", (good + b"\x00").hex(), "malformed_encoding"),
            "smt-proof-explicit-zero-sibling": neg("an empty sibling written as 32 zero bytes", explicit.hex(),
                                                   "malformed_encoding"),
            "smt-proof-non-canonical-depth": neg("one more level with an empty deepest sibling", deeper.hex(),
                                                 "bad_proof"),
            "smt-proof-present-as-absent": neg("the membership proof offered as proof of absence", good.hex(),
                                               "bad_proof", value=None),
            "smt-proof-unknown-terminal": neg("terminal byte 3", ("03" + good.hex()[2:]), "malformed_encoding"),
        }
    )  # fmt: skip
    if depth % 8:
        cases["smt-proof-bit-past-depth"] = neg("a bitmap bit set past the depth", bytes(past).hex(),
                                                "malformed_encoding")  # fmt: skip
    return cases


# --- a log, its status tree, credentials ---------------------------------------------------------------


class _Log:
    """A log as a sequencer writes it: every batch of entries, the genesis included, ends with a state
    leaf, and a checkpoint is signed (and cosigned) for the size after it (protocol §5.8-i). Every leaf
    of a batch, its state leaf included, carries the batch's one log time, `now` (§5.6-j, §8.2-f)."""

    def __init__(self) -> None:
        self.now = T0
        policy = PolicyStatement(
            ORIGIN, T0, 0, tuple(sorted(MemberId(key(n).public_key) for n in (1, 2))),
            tuple(sorted(key(n).public_key for n in (101, 102, 103))), 2, {"en": EN, "ru": RU},
            Params(voucher_min_age_days=0),
        )  # fmt: skip
        entry = self._sign(policy, key(101), key(102))
        self.state: State = genesis(verify_entry(entry, ORIGIN), Context(0, T0))
        self.leaves = [format_leaf(0, T0, entry)]
        self.tree = advance_status_tree(smt.SparseMerkleTree(), self.state, changed_members(None, self.state), 0)
        self.merkle = MerkleTree(MemoryNodeStore())
        self.merkle.extend([leaf_hash(self.leaves[0])])
        self.seal()

    @staticmethod
    def _sign(statement: Statement, *keys: SigningKey) -> Entry:
        entry = entry_from_statement(statement)
        for k in keys:
            entry = sign_entry(entry, k)
        return entry

    def begin(self) -> None:
        """Begin a batch, one second after the last one."""
        self.now += 1000

    def submit(self, statement: Statement, *keys: SigningKey) -> None:
        """Append an entry to the batch, at the batch's log time."""
        entry = self._sign(statement, *keys)
        ctx = Context(len(self.leaves), self.now)
        after = apply(self.state, verify_entry(entry, ORIGIN), ctx)
        self.tree = advance_status_tree(self.tree, after, changed_members(self.state, after), ctx.index)
        self.state = after
        self.leaves.append(format_leaf(ctx.index, ctx.logged_ms, entry))
        self.merkle.extend([leaf_hash(self.leaves[-1])])

    def seal(self, *, witnesses: int = 3, cosign_s: int | None = None) -> None:
        """End the batch: a state leaf, then the checkpoint of the new size, cosigned by the witnesses."""
        self.sealed = StateLeaf(len(self.leaves), self.now, self.tree.root)
        self.state = apply_state_leaf(self.state, self.sealed, self.tree)
        self.leaves.append(format_state_leaf(self.sealed))
        self.merkle.extend([leaf_hash(self.leaves[-1])])
        self.checkpoint = Checkpoint(ORIGIN, len(self.leaves), self.merkle.root())
        note = sign_checkpoint(self.checkpoint, log_signer())
        t = self.now // 1000 + 5 if cosign_s is None else cosign_s
        self.note = add_signatures(note, [cosign(witness(n)[0], witness(n)[1].name, note.text, t + n)
                                          for n in range(1, witnesses + 1)])  # fmt: skip

    def credential(self, member: SigningKey) -> Credential:
        """The credential of `member` from the latest checkpoint."""
        size = self.checkpoint.size
        k = status_key(MemberId(member.public_key))
        value = self.tree.get(k)
        if value is None or size != len(self.leaves):
            raise SystemExit("vector member missing, or entries after the last checkpoint")
        return Credential(self.note, self.checkpoint, tuple(self.merkle.inclusion_proof(size - 1, size)),
                          self.sealed, MemberId(member.public_key), parse_status_leaf(value),
                          self.tree.prove(k))  # fmt: skip


def _scenario() -> tuple[_Log, Identity, Credential, Credential, Credential]:
    log = _Log()  # the genesis (0) and its state leaf (1)
    ident = make_identity()
    member, pending = key(11), key(12)
    log.begin()
    log.submit(Declare(ORIGIN, log.now, MemberId(member.public_key), declaration_hash(EN), ident.commitment,
                       MemberId(key(1).public_key)), member, key(1))  # fmt: skip
    log.submit(Vouch(ORIGIN, log.now, MemberId(key(2).public_key), MemberId(member.public_key), ident.commitment),
               key(2), member)  # fmt: skip
    log.submit(Declare(ORIGIN, log.now, MemberId(pending.public_key), declaration_hash(EN), None,
                       MemberId(key(2).public_key)), pending, key(2))  # fmt: skip
    log.seal()  # entries 2, 3, 4 and the state leaf 5, one batch: the checkpoint of size 6
    good = log.credential(member)
    pend = log.credential(pending)
    log.begin()
    log.submit(Revoke(ORIGIN, log.now, MemberId(member.public_key), Reason.WITHDRAWN, None), member)
    log.seal()  # entry 6 and the state leaf 7: size 8
    revoked = log.credential(member)
    return log, ident, good, pend, revoked


def _credential_cases() -> dict[str, Any]:
    _, ident, good, pend, revoked = _scenario()
    member = key(11)
    policy = trust_policy()
    shown = disclose(ident, ["family_name", "birth_date"])
    now = good.state.logged_ms + 60_000
    cases: dict[str, Any] = {}

    def case(name: str, desc: str, presentation: bytes, *, expected: dict[str, Any] | None = None,
             error: tuple[int, str, str] | None = None, challenge: bytes | None = CHALLENGE, at: int = now,
             policy_text: str | None = None, require: list[str] | None = None) -> None:
        body: dict[str, Any] = {
            "desc": desc,
            "kind": "credential",
            "inputs": {
                "policy": policy_text or format_trust_policy(policy),
                "presentation": presentation.decode("utf-8"),
                "challenge": None if challenge is None else challenge.hex(),
                "now_ms": at,
                "required_attributes": require or [],
            },
        }
        if expected is not None:
            body["expected"] = expected
        if error is not None:
            body["expected_error"], body["step"], body["section"] = error[1], error[0], error[2]
        cases[name] = body

    pres = make_presentation(good, member, CHALLENGE, shown)
    text = format_presentation(pres)
    case("credential-valid", "a verified member presents its credential with family name and birth date; "
         "2 of 3 witnesses required", text, require=["family_name"], expected={
             "member": good.member_id.hex(), "status": "verified", "since": good.leaf.since,
             "tree_size": good.checkpoint.size, "attributes": dict(shown.attributes),
             "credential_text": format_credential_text(good).decode("utf-8"),
             "credential_binary_hex": format_credential_binary(good).hex(),
         })  # fmt: skip
    bare = make_presentation(good, member, CHALLENGE)
    case("credential-valid-no-disclosure", "the same credential, no attributes disclosed",
         format_presentation(bare), expected={"member": good.member_id.hex(), "status": "verified",
                                              "since": good.leaf.since, "tree_size": good.checkpoint.size,
                                              "attributes": {}})  # fmt: skip

    def tamper(data: bytes, old: bytes, new: bytes) -> bytes:
        if old not in data:
            raise SystemExit(f"cannot tamper: {old!r} not found")
        return data.replace(old, new, 1)

    cp_text = good.note.text.encode()
    root_line = cp_text.split(b"\n")[2]
    flipped_root = bytearray(root_line)
    flipped_root[0] = ord("A") if flipped_root[0] != ord("A") else ord("B")
    case("credential-tampered-checkpoint-root", "one character of the checkpoint's root hash changed",
         tamper(text, root_line, bytes(flipped_root)), error=(1, "bad_signature", "8.1-a"))  # fmt: skip
    other_log = NoteSigner("other.example/log", log_signer().key).verifier
    case("credential-other-log", "a policy for another origin", text, error=(1, "bad_signature", "8.1-a"),
         policy_text=format_trust_policy(replace(policy, origin="other.example/log", log=other_log)))  # fmt: skip
    one_witness = replace(pres, credential=replace(good, note=replace(good.note, signatures=good.note.signatures[:2])))
    case("credential-below-quorum", "only one witness cosignature, two required",
         format_presentation(one_witness), error=(2, "bad_signature", "8.1-b"))  # fmt: skip
    case("credential-stale", "checked 73 hours after the witnesses cosigned, maximum age 72 hours", text,
         error=(4, "stale_credential", "8.1-e"), at=good.state.logged_ms + 73 * 3_600_000)  # fmt: skip
    case("credential-future", "checked an hour before the witnesses cosigned", text,
         error=(4, "bad_time", "8.1-d"), at=good.state.logged_ms - 3_600_000)  # fmt: skip
    other_root = replace(good, state=replace(good.state, root=revoked.state.root))
    case("credential-proof-against-another-root", "the state leaf of another checkpoint with this checkpoint",
         format_presentation(replace(pres, credential=other_root)), error=(3, "bad_proof", "8.1-c"))  # fmt: skip
    wrong_leaf = replace(good, leaf=StatusLeaf(good.leaf.key, Status.VERIFIED, good.leaf.since + 1,
                                               good.leaf.commitment))  # fmt: skip
    case("credential-altered-status-leaf", "the status leaf's since index changed",
         format_presentation(replace(pres, credential=wrong_leaf)), error=(5, "bad_proof", "8.1-f"))  # fmt: skip
    case("credential-pending-member", "a pending member's credential", format_presentation(
        replace(make_presentation(pend, key(12), CHALLENGE))), error=(6, "not_verified", "8.1-g"))  # fmt: skip
    case("credential-revoked-member", "the credential issued after the member revoked itself",
         format_presentation(make_presentation(revoked, member, CHALLENGE)),
         error=(6, "not_verified", "8.1-g"), at=revoked.state.logged_ms + 60_000)  # fmt: skip
    case("credential-wrong-challenge", "the verifier issued another challenge", text,
         error=(7, "wrong_challenge", "8.1-h"), challenge=bytes(16))  # fmt: skip
    forged = replace(pres, signature=key(13).sign(b"not the payload"))
    case("credential-forged-holder-signature", "the holder signature made by another key",
         format_presentation(forged), error=(7, "bad_signature", "8.1-h"))  # fmt: skip
    case("credential-undisclosed-attribute", "the verifier requires the document number, not disclosed", text,
         error=(8, "undisclosed_attribute", "8.1-i"), require=["document_number"])  # fmt: skip
    altered = replace(shown, disclosures=(replace(shown.disclosures[0], value="PETROVA"), shown.disclosures[1]))
    altered_pres = make_presentation(good, member, CHALLENGE, altered)
    case("credential-altered-attribute", "the family name changed in the disclosure (re-signed by the holder)",
         format_presentation(altered_pres), error=(8, "attribute_mismatch", "8.1-i"))  # fmt: skip
    return cases


def _leaf_cases() -> dict[str, Any]:
    commitment = hashlib.sha256(b"commitment").digest()
    leaf = StatusLeaf(key(11).public_key, Status.VERIFIED, 2, commitment)
    state = StateLeaf(5, T0, hashlib.sha256(b"root").digest())
    return {
        "status-leaf": {
            "desc": "the status leaf of a verified member since entry 2, with an identity commitment",
            "kind": "status-leaf",
            "inputs": {"key": leaf.key.hex(), "status": "verified", "since": 2, "commitment": commitment.hex()},
            "expected": {"hex": format_status_leaf(leaf).hex(),
                         "tree_key": status_key(key(11).public_key).hex()},
        },
        "state-leaf": {
            "desc": "the state leaf at index 5 with root SHA-256('root')",
            "kind": "state-leaf",
            "inputs": {"index": 5, "logged_ms": T0, "root": state.root.hex()},
            "expected": {"bytes": format_state_leaf(state).decode(), "leaf_hash": state_leaf_hash(state).hex()},
        },
    }  # fmt: skip


def _identity_cases() -> dict[str, Any]:
    ident = make_identity()
    shown = disclose(ident, ["family_name", "birth_date"])
    file = format_identity_disclosure(shown)
    altered = file.replace(format_disclosure(shown.disclosures[0]).encode(),
                           format_disclosure(replace(shown.disclosures[0], value="PETROVA")).encode())  # fmt: skip
    return {
        "identity": {
            "desc": "commitment to five attributes (typed in Cyrillic and normalised), fixed salts; "
                    "a disclosure of family name and birth date",
            "kind": "identity",
            "inputs": {"attributes": ATTRIBUTES, "salts": [salt(f"vector salt {i}").hex() for i in range(5)],
                       "decoy_salts": [salt(f"vector decoy {i}").hex() for i in range(3)],
                       "show": ["family_name", "birth_date"]},
            "expected": {"disclosures": [format_disclosure(d) for d in ident.disclosures],
                         "decoys": [d.hex() for d in ident.decoys], "commitment": ident.commitment.hex(),
                         "identity_file": format_identity(ident).decode(), "disclosure_file": file.decode()},
        },
        "disclosure-valid": {
            "desc": "the disclosure of family name and birth date against its commitment",
            "kind": "disclosure",
            "inputs": {"disclosure_file": file.decode(), "commitment": ident.commitment.hex()},
            "expected": {"attributes": dict(shown.attributes)},
        },
        "disclosure-altered-attribute": {
            "desc": "the family name replaced (a valid disclosure of another value with the same salt)",
            "kind": "disclosure",
            "inputs": {"disclosure_file": altered.decode(), "commitment": ident.commitment.hex()},
            "expected_error": "attribute_mismatch", "section": "4.3-f",
        },
        "disclosure-wrong-commitment": {
            "desc": "a valid disclosure checked against another commitment",
            "kind": "disclosure",
            "inputs": {"disclosure_file": file.decode(), "commitment": hashlib.sha256(b"other").hexdigest()},
            "expected_error": "attribute_mismatch", "section": "4.3-f",
        },
    }  # fmt: skip


def build_vectors() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for part in (_smt_cases(), _leaf_cases(), _identity_cases(), _credential_cases()):
        cases.update(part)
    return cases


def render(case: dict[str, Any]) -> str:
    return vectorio.render(case, indent=1)


def main(argv: list[str]) -> int:
    return vectorio.main(argv, lambda: {OUT: {n: render(c) for n, c in build_vectors().items()}}, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
