"""Test factory for credentials: a status tree replayed from a `tests.factory.Log`, a state leaf appended
as the last leaf, a checkpoint signed by the test log key and cosigned by test witnesses.

Keys from fixed seeds (the seeds of protocol §11.2), times explicit, nothing mocked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import cosign
from crypto.keys import SigningKey
from crypto.merkle import MerkleTree, leaf_hash
from crypto.nodestore import MemoryNodeStore
from crypto.note import add_signatures
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteSigner, NoteVerifier
from crypto.smt import SparseMerkleTree
from registry.credential import Credential
from registry.replay import apply_leaf
from registry.state import State
from registry.statements import MemberId
from registry.statetree import (
    StateLeaf,
    advance_status_tree,
    apply_state_leaf,
    changed_members,
    format_state_leaf,
    parse_log_leaf,
    parse_status_leaf,
    status_key,
)
from registry.trust import TrustPolicy
from tests.factory import ORIGIN, Log

LOG_SEED = hashlib.sha256(b"antiwar-registry test log seed").digest()


def log_signer(origin: str = ORIGIN) -> NoteSigner:
    return NoteSigner(origin, SigningKey.from_seed(LOG_SEED))


def witness_key(n: int) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"antiwar-registry test witness {n}".encode()).digest())


def witness_name(n: int) -> str:
    return f"witness{n}.registry.example"


def witness_verifier(n: int) -> NoteVerifier:
    return NoteVerifier(witness_name(n), SIG_TYPE_COSIGNATURE, witness_key(n).public_key)


def policy(witnesses: int = 0, quorum: int | None = None, max_age_ms: int = 72 * 3_600_000) -> TrustPolicy:
    ws = tuple(witness_verifier(n) for n in range(1, witnesses + 1))
    return TrustPolicy(ORIGIN, log_signer().verifier, ws, witnesses if quorum is None else quorum, max_age_ms)


def status_tree_of(leaves: list[bytes]) -> tuple[State, SparseMerkleTree]:
    """Replay leaves; return the state and its status tree (changed members found by diff; a state leaf
    changes none and its root is checked)."""
    state: State | None = None
    tree = SparseMerkleTree()
    for raw in leaves:
        leaf = parse_log_leaf(raw)
        if isinstance(leaf, StateLeaf):
            assert state is not None, "a state leaf before the genesis"
            state = apply_state_leaf(state, leaf, tree)
            continue
        after = apply_leaf(state, leaf)
        tree = advance_status_tree(tree, after, changed_members(state, after), leaf.index)
        state = after
    assert state is not None
    return state, tree


@dataclass
class Issued:
    credential: Credential
    tree: SparseMerkleTree
    state: State
    leaves: list[bytes]


def issue(
    log: Log,
    member: MemberId,
    *,
    state_ms: int | None = None,
    witnesses: int = 0,
    cosign_s: int | None = None,
) -> Issued:
    """A credential for `member` from the log as it is now: a state leaf is appended at `state_ms`
    (default: the log time of the batch it closes, the last leaf's, as a sequencer writes it, protocol
    §8.2-f) and the checkpoint cosigned by witnesses 1..`witnesses` at `cosign_s`."""
    state, tree = status_tree_of(log.leaves)
    logged_ms = state.last_logged_ms if state_ms is None else state_ms
    state_leaf = StateLeaf(len(log.leaves), logged_ms, tree.root)
    leaves = [*log.leaves, format_state_leaf(state_leaf)]
    merkle = MerkleTree(MemoryNodeStore())
    merkle.extend(leaf_hash(raw) for raw in leaves)
    cp = Checkpoint(ORIGIN, len(leaves), merkle.root())
    note = sign_checkpoint(cp, log_signer())
    if witnesses:
        t = logged_ms // 1000 + 1 if cosign_s is None else cosign_s
        sigs = [cosign(witness_key(n), witness_name(n), note.text, t + n) for n in range(1, witnesses + 1)]
        note = add_signatures(note, sigs)
    key = status_key(member)
    value = tree.get(key)
    assert value is not None, "the member is not in the status tree"
    credential = Credential(
        note=note,
        checkpoint=cp,
        inclusion_proof=tuple(merkle.inclusion_proof(len(leaves) - 1, len(leaves))),
        state=state_leaf,
        member_id=member,
        leaf=parse_status_leaf(value),
        status_proof=tree.prove(key),
    )
    return Issued(credential, tree, state, leaves)
