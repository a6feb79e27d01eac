"""The member-side command line: keys, statement files and co-signatures (protocol §9.5).

Most tests drive `registry.cli.app.cli` in process with click's CliRunner; one runs the installed
`registry` console script as a real subprocess. Keys come from fixed seeds unless the test is about
`keygen` itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import registry.cli.cmd_council
import registry.cli.cmd_member
import registry.cli.cmd_show  # noqa: F401  (registers `show`)
from crypto.keyfile import key_file_is_encrypted, read_key_file, write_key_file
from crypto.keys import SigningKey, fingerprint
from registry.cli.app import cli
from registry.cli.cmd_member import revocation_certificate
from registry.cli.keys_io import parse_statement_file
from registry.errors import ErrorCode, Rejected
from registry.rules import Context, apply, genesis
from registry.statements import (
    Declare,
    Entry,
    Params,
    PolicyStatement,
    Reason,
    Reinstate,
    Revoke,
    Rotate,
    Unvouch,
    Vouch,
    format_entry,
    parse_entry,
    verify_entry,
)

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "cli"
ORIGIN = "registry.example/log"
DECLARATIONS = ROOT / "registry" / "declarations"


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"test_cli_member/{label}".encode()).digest()


def run(*args: object, env: dict[str, str | None] | None = None) -> Result:
    """Run `registry ARGS` in process; REGISTRY_ORIGIN is set and REGISTRY_PASSPHRASE unset by default."""
    full_env: dict[str, str | None] = {"REGISTRY_ORIGIN": ORIGIN, "REGISTRY_PASSPHRASE": None}
    full_env.update(env or {})
    return CliRunner().invoke(cli, [str(a) for a in args], env=full_env)


def make_key(tmp_path: Path, label: str) -> tuple[Path, SigningKey]:
    key = SigningKey.from_seed(_seed(label))
    path = tmp_path / f"{label}.key"
    write_key_file(path, key)
    return path, key


def read(path: Path) -> Entry:
    return parse_statement_file(path.read_bytes())


def signers(path: Path) -> frozenset[bytes]:
    return read(path).signers


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- keygen and revocation certificates ------------------------------------------------------------


@pytest.mark.spec("9.5-d", "9.5-h")
def test_keygen_writes_key_0600_and_prints_member_id_last(tmp_path: Path) -> None:
    out = tmp_path / "alice.key"
    result = run("keygen", "--out", out)
    assert result.exit_code == 0, result.stderr
    member_id = result.stdout.splitlines()[-1]
    assert len(member_id) == 64 and member_id == member_id.lower()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert read_key_file(out).public_key.hex() == member_id
    assert not key_file_is_encrypted(out)


@pytest.mark.spec("9.5-c")
def test_keygen_writes_a_revocation_certificate_that_verifies(tmp_path: Path) -> None:
    out = tmp_path / "alice.key"
    before = time.time_ns() // 1_000_000
    result = run("keygen", "--out", out)
    after = time.time_ns() // 1_000_000
    assert result.exit_code == 0, result.stderr
    member_id = bytes.fromhex(result.stdout.splitlines()[-1])
    cert = out.with_name("alice.key.revocation")
    assert stat.S_IMODE(cert.stat().st_mode) == 0o600
    entry = parse_entry(cert.read_bytes())
    stmt = entry.statement
    assert isinstance(stmt, Revoke)
    assert (stmt.member, stmt.reason, stmt.evidence, stmt.origin) == (
        member_id,
        Reason.KEY_COMPROMISED,
        None,
        ORIGIN,
    )
    assert before <= stmt.created_ms <= after
    assert entry.signers == {member_id}
    verify_entry(entry, ORIGIN)
    with pytest.raises(Rejected) as info:
        verify_entry(entry, "another.example/log")
    assert info.value.code is ErrorCode.WRONG_ORIGIN


@pytest.mark.spec("9.5-c")
def test_keygen_revocation_reason_can_be_chosen(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    result = run("keygen", "--out", out, "--origin", "other.example/log", "--revocation-reason", "duress")
    assert result.exit_code == 0, result.stderr
    stmt = read(tmp_path / "k.key.revocation").statement
    assert isinstance(stmt, Revoke) and stmt.reason is Reason.DURESS and stmt.origin == "other.example/log"


@pytest.mark.spec("9.5-c")
def test_keygen_without_origin_writes_no_certificate_and_says_how(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    result = run("keygen", "--out", out, env={"REGISTRY_ORIGIN": None})
    assert result.exit_code == 0, result.stderr
    assert out.exists() and not (tmp_path / "k.key.revocation").exists()
    assert "registry revocation --key" in result.stderr
    # ... and the command it names makes one later.
    cert = tmp_path / "k.key.revocation"
    later = run("revocation", "--key", out, "--origin", ORIGIN, "--out", cert)
    assert later.exit_code == 0, later.stderr
    entry = parse_entry(cert.read_bytes())
    assert entry.signers == {read_key_file(out).public_key}
    assert stat.S_IMODE(cert.stat().st_mode) == 0o600
    verify_entry(entry, ORIGIN)


@pytest.mark.spec("9.5-d")
def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    first = run("keygen", "--out", out)
    assert first.exit_code == 0
    content = out.read_bytes()
    second = run("keygen", "--out", out)
    assert second.exit_code == 2
    assert out.read_bytes() == content


@pytest.mark.spec("9.5-c")
def test_revocation_certificate_matches_the_vector() -> None:
    for name in ("revocation-certificate", "revocation-certificate-duress"):
        case = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
        inputs = case["inputs"]
        key = SigningKey.from_seed(bytes.fromhex(inputs["seed_hex"]))
        entry = revocation_certificate(key, inputs["origin"], inputs["created_ms"], Reason(inputs["reason"]))
        assert format_entry(entry).decode("ascii") == case["expected"]["file"], name
        assert key.public_key.hex() == case["expected"]["member"]


@pytest.mark.spec("9.5-a", "9.5-b")
@pytest.mark.parametrize(
    "name",
    [
        "certificate-trailing-newline",
        "certificate-pretty-printed",
        "certificate-tampered-created-ms",
        "certificate-other-reason",
    ],
)
def test_broken_statement_file_vectors_are_refused_by_show(tmp_path: Path, name: str) -> None:
    case = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    path = tmp_path / "statement.json"
    path.write_text(case["inputs"]["file"], encoding="utf-8")
    result = run("show", path)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {case['expected_error']}: ")


@pytest.mark.spec("9.5-a", "9.5-f")
def test_council_draft_matches_the_vector(tmp_path: Path) -> None:
    case = json.loads((VECTORS / "council-revoke-draft.json").read_text(encoding="utf-8"))
    entry = parse_statement_file(case["expected"]["file"].encode("ascii"))
    assert entry.signatures == ()
    stmt = entry.statement
    assert isinstance(stmt, Revoke) and stmt.reason is Reason.FRAUD
    assert stmt.evidence == hashlib.sha256(case["inputs"]["evidence"].encode("utf-8")).digest()
    assert format_entry(entry).decode("ascii") == case["expected"]["file"]
    # A log refuses a draft: an entry carries at least one signature.
    with pytest.raises(Rejected) as info:
        parse_entry(case["expected"]["file"].encode("ascii"))
    assert info.value.code is ErrorCode.MALFORMED_ENTRY


# --- encrypted keys --------------------------------------------------------------------------------


@pytest.mark.spec("9.5-d")
def test_encrypted_key_round_trip_via_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    env: dict[str, str | None] = {"REGISTRY_PASSPHRASE": "correct horse battery staple"}
    result = run("keygen", "--out", out, "--encrypt", env=env)
    assert result.exit_code == 0, result.stderr
    member_id = result.stdout.splitlines()[-1]
    assert key_file_is_encrypted(out)
    assert b"correct horse" not in out.read_bytes()
    # Reading it back with the passphrase signs a statement.
    other = SigningKey.from_seed(_seed("other")).public_key.hex()
    vouch = tmp_path / "vouch.json"
    ok = run("vouch", "--key", out, "--member", other, "--out", vouch, env=env)
    assert ok.exit_code == 0, ok.stderr
    assert signers(vouch) == {bytes.fromhex(member_id)}
    # Without the passphrase and without a terminal nothing prompts: a usage error.
    missing = run("vouch", "--key", out, "--member", other, "--out", tmp_path / "v2.json")
    assert missing.exit_code == 2
    assert "REGISTRY_PASSPHRASE" in missing.stderr
    assert not (tmp_path / "v2.json").exists()
    # A wrong passphrase is refused with bad_key.
    bad_env: dict[str, str | None] = {"REGISTRY_PASSPHRASE": "x"}
    wrong = run("vouch", "--key", out, "--member", other, "--out", tmp_path / "v3.json", env=bad_env)
    assert wrong.exit_code == 1
    assert wrong.stderr.startswith("error: bad_key: ")


@pytest.mark.spec("9.5-d")
def test_keygen_encrypt_without_passphrase_or_terminal_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    result = run("keygen", "--out", out, "--encrypt")
    assert result.exit_code == 2
    assert not out.exists()


# --- policy ----------------------------------------------------------------------------------------


def _policy(tmp_path: Path, *extra: object) -> tuple[Path, list[SigningKey], SigningKey]:
    founder = SigningKey.from_seed(_seed("founder"))
    council = [make_key(tmp_path, f"council{i}")[1] for i in range(3)]
    out = tmp_path / "policy.json"
    args: list[object] = ["policy", "new", "--founder", founder.public_key.hex(), "--threshold", 2, "--out", out]
    for key in council:
        args += ["--council", key.public_key.hex()]
    result = run(*args, *extra)
    assert result.exit_code == 0, result.stderr
    return out, council, founder


@pytest.mark.spec("9.5-j")
def test_policy_new_with_two_council_signatures_is_a_valid_genesis(tmp_path: Path) -> None:
    out, council, founder = _policy(tmp_path, "--set", "voucher_min_age_days=0", "--set", "sponsor_required=false")
    assert read(out).signatures == ()
    for i in (0, 2):
        signed = run("policy", "sign", out, "--key", tmp_path / f"council{i}.key")
        assert signed.exit_code == 0, signed.stderr
    entry = parse_entry(out.read_bytes())
    stmt = entry.statement
    assert isinstance(stmt, PolicyStatement)
    assert stmt.version == 0 and stmt.threshold == 2 and stmt.founders == (founder.public_key,)
    assert stmt.council == tuple(sorted(k.public_key for k in council))
    assert stmt.params == Params(voucher_min_age_days=0, sponsor_required=False)
    assert entry.signers == {council[0].public_key, council[2].public_key}
    for lang in ("en", "ru"):
        text = (DECLARATIONS / f"{lang}.txt").read_bytes()
        assert stmt.declarations[lang].encode("utf-8") == text
    # The rules engine accepts it as a genesis.
    state = genesis(verify_entry(entry, ORIGIN), Context(0, stmt.created_ms))
    assert founder.public_key in state.members
    # `policy show` prints the declaration hashes, which are the SHA-256 of the shipped texts.
    shown = run("policy", "show", out)
    assert shown.exit_code == 0, shown.stderr
    for lang in ("en", "ru"):
        digest = hashlib.sha256((DECLARATIONS / f"{lang}.txt").read_bytes()).hexdigest()
        assert f"{lang}: {digest}" in shown.stdout
    as_json = json.loads(run("policy", "show", "--json", out).stdout)
    assert as_json["declaration_hashes"]["ru"] == hashlib.sha256((DECLARATIONS / "ru.txt").read_bytes()).hexdigest()


@pytest.mark.spec("9.5-l")
@pytest.mark.parametrize(
    "setting", ["no_such_param=1", "vouch_threshold", "vouch_threshold=two", "sponsor_required=maybe"]
)
def test_policy_new_refuses_a_bad_setting(tmp_path: Path, setting: str) -> None:
    key = SigningKey.from_seed(_seed("x")).public_key.hex()
    out = tmp_path / "p.json"
    result = run("policy", "new", "--founder", key, "--council", key, "--threshold", 1, "--set", setting, "--out", out)
    assert result.exit_code == 2
    assert not out.exists()
    if setting.startswith("no_such_param"):
        assert "vouch_threshold" in result.stderr and "voucher_min_age_days" in result.stderr


@pytest.mark.spec("9.5-l")
@pytest.mark.parametrize("extra", [["--set", "vouch_threshold=99"], ["--threshold", 5]])
def test_policy_new_refuses_values_out_of_bounds(tmp_path: Path, extra: list[object]) -> None:
    key = SigningKey.from_seed(_seed("x")).public_key.hex()
    args: list[object] = ["policy", "new", "--founder", key, "--council", key, "--out", tmp_path / "p.json"]
    if "--threshold" not in extra:
        args += ["--threshold", 1]
    result = run(*args, *extra)
    assert result.exit_code == 2
    assert not (tmp_path / "p.json").exists()


def test_policy_new_refuses_a_key_that_is_not_a_valid_point(tmp_path: Path) -> None:
    small_order = "01" + "00" * 31  # the identity point
    key = SigningKey.from_seed(_seed("x")).public_key.hex()
    result = run("policy", "new", "--founder", small_order, "--council", key, "--threshold", 1, "--out", tmp_path / "p")
    assert result.exit_code == 2


def test_policy_new_reads_declarations_from_a_folder(tmp_path: Path) -> None:
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "en.txt").write_text("Declaration, test edition.\n", encoding="utf-8")
    (texts / "ru.txt").write_text("Декларация, тестовая редакция.\n", encoding="utf-8")
    out, _, _ = _policy(tmp_path, "--declarations", texts)
    stmt = read(out).statement
    assert isinstance(stmt, PolicyStatement)
    assert stmt.declarations == {"en": "Declaration, test edition.\n", "ru": "Декларация, тестовая редакция.\n"}
    (texts / "ru.txt").unlink()
    key = SigningKey.from_seed(_seed("x")).public_key.hex()
    args = ["policy", "new", "--founder", key, "--council", key, "--threshold", 1, "--declarations", texts]
    missing = run(*args, "--out", tmp_path / "p2.json")
    assert missing.exit_code == 2
    assert "'ru'" in missing.stderr
    assert not (tmp_path / "p2.json").exists()


def test_policy_sign_refuses_a_key_outside_a_genesis_council(tmp_path: Path) -> None:
    out, _, _ = _policy(tmp_path)
    outsider, _ = make_key(tmp_path, "outsider")
    result = run("policy", "sign", out, "--key", outsider)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unexpected_signature: ")
    assert read(out).signatures == ()


@pytest.mark.spec("9.5-l")
def test_policy_amend_makes_the_next_version_accepted_by_the_rules(tmp_path: Path) -> None:
    out, council, _ = _policy(tmp_path, "--set", "voucher_min_age_days=0")
    for i in (0, 1):
        assert run("policy", "sign", out, "--key", tmp_path / f"council{i}.key").exit_code == 0
    genesis_entry = parse_entry(out.read_bytes())
    state = genesis(verify_entry(genesis_entry, ORIGIN), Context(0, genesis_entry.statement.created_ms))
    amendment = tmp_path / "amend.json"
    result = run("policy", "amend", out, "--set", "vouch_threshold=3", "--out", amendment)
    assert result.exit_code == 0, result.stderr
    for i in (1, 2):
        assert run("policy", "sign", amendment, "--key", tmp_path / f"council{i}.key").exit_code == 0
    entry = parse_entry(amendment.read_bytes())
    stmt = entry.statement
    assert isinstance(stmt, PolicyStatement)
    assert (stmt.version, stmt.founders, stmt.threshold) == (1, (), 2)
    assert stmt.params == Params(vouch_threshold=3, voucher_min_age_days=0)
    assert stmt.council == tuple(sorted(k.public_key for k in council))
    new_state = apply(state, verify_entry(entry, ORIGIN), Context(1, stmt.created_ms + 1))
    assert new_state.policy.params.vouch_threshold == 3


# --- declare, sponsor, vouch, accept ---------------------------------------------------------------


@pytest.mark.spec("9.5-j", "9.5-k")
def test_declare_names_the_sponsor_who_then_cosigns(tmp_path: Path) -> None:
    member_path, member = make_key(tmp_path, "member")
    sponsor_path, sponsor = make_key(tmp_path, "sponsor")
    other_path, _ = make_key(tmp_path, "other")
    out = tmp_path / "declare.json"
    commitment = "ab" * 32
    args = ["declare", "--key", member_path, "--declaration", "ru", "--sponsor", sponsor.public_key.hex()]
    result = run(*args, "--identity-commitment", commitment, "--out", out)
    assert result.exit_code == 0, result.stderr
    stmt = read(out).statement
    assert isinstance(stmt, Declare)
    assert stmt.declaration == hashlib.sha256((DECLARATIONS / "ru.txt").read_bytes()).digest()
    assert (stmt.member, stmt.sponsor) == (member.public_key, sponsor.public_key)
    assert stmt.commitment == bytes.fromhex(commitment)
    assert signers(out) == {member.public_key}
    # Another key may not co-sign as sponsor.
    refused = run("sponsor", out, "--key", other_path)
    assert refused.exit_code == 1 and refused.stderr.startswith("error: unexpected_signature: ")
    assert signers(out) == {member.public_key}
    signed = run("sponsor", out, "--key", sponsor_path)
    assert signed.exit_code == 0, signed.stderr
    entry = parse_entry(out.read_bytes())
    assert entry.signers == {member.public_key, sponsor.public_key}
    verify_entry(entry, ORIGIN)
    assert no_temporary_files(tmp_path)


@pytest.mark.spec("9.5-k")
def test_sponsor_refuses_a_declaration_without_sponsor(tmp_path: Path) -> None:
    member_path, _ = make_key(tmp_path, "member")
    sponsor_path, _ = make_key(tmp_path, "sponsor")
    out = tmp_path / "declare.json"
    result = run("declare", "--key", member_path, "--declaration", "en", "--out", out)
    assert result.exit_code == 0 and "sponsor" in result.stderr
    refused = run("sponsor", out, "--key", sponsor_path)
    assert refused.exit_code == 1 and refused.stderr.startswith("error: unexpected_signature: ")


def test_declare_takes_the_hash_from_a_policy_file_or_the_command_line(tmp_path: Path) -> None:
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "en.txt").write_text("English text.\n", encoding="utf-8")
    (texts / "ru.txt").write_text("Русский текст.\n", encoding="utf-8")
    policy, _, _ = _policy(tmp_path, "--declarations", texts)
    member_path, _ = make_key(tmp_path, "member")
    out = tmp_path / "d1.json"
    assert run("declare", "--key", member_path, "--declaration", "en", "--policy", policy, "--out", out).exit_code == 0
    stmt = read(out).statement
    assert isinstance(stmt, Declare) and stmt.declaration == hashlib.sha256(b"English text.\n").digest()
    out2 = tmp_path / "d2.json"
    result = run("declare", "--key", member_path, "--declaration", "en", "--declaration-hash", "cd" * 32, "--out", out2)
    assert result.exit_code == 0
    stmt2 = read(out2).statement
    assert isinstance(stmt2, Declare) and stmt2.declaration == bytes.fromhex("cd" * 32)
    unknown = run("declare", "--key", member_path, "--declaration", "de", "--policy", policy, "--out", tmp_path / "x")
    assert unknown.exit_code == 2


@pytest.mark.spec("9.5-a", "9.5-b")
def test_vouch_file_without_and_with_the_subject_countersignature(tmp_path: Path) -> None:
    voucher_path, voucher = make_key(tmp_path, "voucher")
    subject_path, subject = make_key(tmp_path, "subject")
    out = tmp_path / "vouch.json"
    result = run("vouch", "--key", voucher_path, "--member", subject.public_key.hex(), "--out", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    half = parse_entry(out.read_bytes())
    assert isinstance(half.statement, Vouch)
    assert (half.statement.voucher, half.statement.subject) == (voucher.public_key, subject.public_key)
    assert half.signers == {voucher.public_key}
    shown = run("show", out)
    assert shown.exit_code == 0 and "not signed yet by: subject" in shown.stdout
    accepted = run("accept", out, "--key", subject_path)
    assert accepted.exit_code == 0, accepted.stderr
    full = parse_entry(out.read_bytes())
    assert full.signers == {voucher.public_key, subject.public_key}
    assert full.payload == half.payload
    verify_entry(full, ORIGIN)
    assert "not signed yet" not in run("show", out).stdout


@pytest.mark.spec("9.5-k")
def test_accept_with_another_key_warns_but_signs(tmp_path: Path) -> None:
    voucher_path, _ = make_key(tmp_path, "voucher")
    subject = SigningKey.from_seed(_seed("subject"))
    rotated_path, rotated = make_key(tmp_path, "rotated")
    out = tmp_path / "vouch.json"
    assert run("vouch", "--key", voucher_path, "--member", subject.public_key.hex(), "--out", out).exit_code == 0
    result = run("accept", out, "--key", rotated_path)
    assert result.exit_code == 0
    assert "warning" in result.stderr and fingerprint(subject.public_key) in result.stderr
    assert rotated.public_key in signers(out)


def test_vouch_refuses_self_vouch(tmp_path: Path) -> None:
    key_path, key = make_key(tmp_path, "self")
    result = run("vouch", "--key", key_path, "--member", key.public_key.hex(), "--out", tmp_path / "v.json")
    assert result.exit_code == 1 and result.stderr.startswith("error: self_vouch: ")


def test_accept_refuses_a_file_of_another_type(tmp_path: Path) -> None:
    key_path, _ = make_key(tmp_path, "k")
    out = tmp_path / "unvouch.json"
    assert run("unvouch", "--key", key_path, "--member", "aa" * 32, "--out", out).exit_code == 2  # not a point
    other = SigningKey.from_seed(_seed("other")).public_key.hex()
    assert run("unvouch", "--key", key_path, "--member", other, "--out", out).exit_code == 0
    assert isinstance(read(out).statement, Unvouch)
    assert run("accept", out, "--key", key_path).exit_code == 2


# --- tampering, overwriting, errors ------------------------------------------------------------------


@pytest.mark.spec("9.5-b", "9.5-g")
def test_tampered_file_is_refused_by_show_and_by_cosigning(tmp_path: Path) -> None:
    voucher_path, _ = make_key(tmp_path, "voucher")
    subject_path, subject = make_key(tmp_path, "subject")
    out = tmp_path / "vouch.json"
    assert run("vouch", "--key", voucher_path, "--member", subject.public_key.hex(), "--out", out).exit_code == 0
    data = out.read_bytes()
    stmt = read(out).statement
    tampered = data.replace(f'"created_ms":{stmt.created_ms}'.encode(), f'"created_ms":{stmt.created_ms - 1}'.encode())
    assert tampered != data
    out.write_bytes(tampered)
    shown = run("show", out)
    assert shown.exit_code == 1
    assert shown.stderr.startswith("error: bad_signature: ")
    accepted = run("accept", out, "--key", subject_path)
    assert accepted.exit_code == 1
    assert out.read_bytes() == tampered  # nothing was signed
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"not json")
    result = run("show", garbage)
    assert result.exit_code == 1 and result.stderr.startswith("error: malformed_encoding: ")


@pytest.mark.spec("9.5-e")
def test_out_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    key_path, _ = make_key(tmp_path, "k")
    other = SigningKey.from_seed(_seed("other")).public_key.hex()
    out = tmp_path / "v.json"
    out.write_bytes(b"precious")
    refused = run("vouch", "--key", key_path, "--member", other, "--out", out)
    assert refused.exit_code == 2
    assert out.read_bytes() == b"precious"
    forced = run("vouch", "--key", key_path, "--member", other, "--out", out, "--force")
    assert forced.exit_code == 0
    assert isinstance(read(out).statement, Vouch)
    assert no_temporary_files(tmp_path)


@pytest.mark.spec("9.5-g")
def test_origin_is_required_and_checked(tmp_path: Path) -> None:
    key_path, _ = make_key(tmp_path, "k")
    other = SigningKey.from_seed(_seed("other")).public_key.hex()
    unset: dict[str, str | None] = {"REGISTRY_ORIGIN": None}
    no_origin = run("vouch", "--key", key_path, "--member", other, "--out", tmp_path / "a", env=unset)
    assert no_origin.exit_code == 2
    bad = run("vouch", "--key", key_path, "--member", other, "--origin", "has space", "--out", tmp_path / "b")
    assert bad.exit_code == 2
    from_flag = run("vouch", "--key", key_path, "--member", other, "--origin", "x.example", "--out", tmp_path / "c")
    assert from_flag.exit_code == 0
    assert read(tmp_path / "c").statement.origin == "x.example"


@pytest.mark.spec("9.5-i")
def test_created_ms_is_the_current_time_in_milliseconds(tmp_path: Path) -> None:
    key_path, _ = make_key(tmp_path, "k")
    before = time.time_ns() // 1_000_000
    assert run("revoke", "--key", key_path, "--reason", "withdrawn", "--out", tmp_path / "r.json").exit_code == 0
    after = time.time_ns() // 1_000_000
    created = read(tmp_path / "r.json").statement.created_ms
    assert isinstance(created, int) and before <= created <= after


# --- revoke, unvouch, rotate, council --------------------------------------------------------------


def test_member_revoke_signed_by_the_key_or_for_a_rotated_member(tmp_path: Path) -> None:
    key_path, key = make_key(tmp_path, "k")
    out = tmp_path / "r.json"
    assert run("revoke", "--key", key_path, "--reason", "withdrawn", "--out", out).exit_code == 0
    stmt = read(out).statement
    assert isinstance(stmt, Revoke) and stmt.member == key.public_key and stmt.reason is Reason.WITHDRAWN
    assert signers(out) == {key.public_key}
    original = SigningKey.from_seed(_seed("original")).public_key
    out2 = tmp_path / "r2.json"
    args = ["revoke", "--key", key_path, "--reason", "duress", "--member", original.hex(), "--out", out2]
    assert run(*args).exit_code == 0
    stmt2 = read(out2).statement
    assert isinstance(stmt2, Revoke) and stmt2.member == original
    assert run("revoke", "--key", key_path, "--reason", "fraud", "--out", tmp_path / "r3.json").exit_code == 2


def test_rotate_is_signed_by_both_keys(tmp_path: Path) -> None:
    old_path, old = make_key(tmp_path, "old")
    new_path, new = make_key(tmp_path, "new")
    out = tmp_path / "rotate.json"
    result = run("rotate", "--key", old_path, "--new-key", new_path, "--out", out)
    assert result.exit_code == 0, result.stderr
    entry = parse_entry(out.read_bytes())
    assert isinstance(entry.statement, Rotate)
    assert (entry.statement.member, entry.statement.new_key) == (old.public_key, new.public_key)
    assert entry.signers == {old.public_key, new.public_key}
    verify_entry(entry, ORIGIN)
    assert "registry revocation" in result.stderr
    assert run("rotate", "--key", old_path, "--new-key", old_path, "--out", tmp_path / "x").exit_code == 2


@pytest.mark.spec("9.5-f")
def test_council_revoke_keeps_only_the_evidence_hash_and_collects_signatures(tmp_path: Path) -> None:
    c1, k1 = make_key(tmp_path, "c1")
    c2, k2 = make_key(tmp_path, "c2")
    member = SigningKey.from_seed(_seed("member")).public_key.hex()
    evidence = tmp_path / "evidence.txt"
    evidence.write_bytes(b"Ivan Ivanov, passport 4509 123456, born 1980-01-01")
    out = tmp_path / "council.json"
    args = ["council", "revoke", "--member", member, "--reason", "fraud", "--evidence", evidence, "--out", out]
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    data = out.read_bytes()
    assert b"Ivanov" not in data and b"4509" not in data
    draft = read(out)
    assert draft.signatures == ()
    assert isinstance(draft.statement, Revoke)
    assert draft.statement.evidence == hashlib.sha256(evidence.read_bytes()).digest()
    assert run("show", out).exit_code == 0
    assert run("council", "sign", out, "--key", c1).exit_code == 0
    assert run("council", "sign", out, "--key", c2).exit_code == 0
    entry = parse_entry(out.read_bytes())
    assert entry.signers == {k1.public_key, k2.public_key}
    verify_entry(entry, ORIGIN)
    # A member's own revocation is not a council statement.
    own = tmp_path / "own.json"
    assert run("revoke", "--key", c1, "--reason", "withdrawn", "--out", own).exit_code == 0
    assert run("council", "sign", own, "--key", c2).exit_code == 2


def test_council_reinstate_draft_with_and_without_evidence(tmp_path: Path) -> None:
    member = SigningKey.from_seed(_seed("member")).public_key.hex()
    out = tmp_path / "reinstate.json"
    assert run("council", "reinstate", "--member", member, "--out", out).exit_code == 0
    stmt = read(out).statement
    assert isinstance(stmt, Reinstate) and stmt.evidence is None
    evidence = tmp_path / "appeal.pdf"
    evidence.write_bytes(b"%PDF appeal")
    out2 = tmp_path / "reinstate2.json"
    assert run("council", "reinstate", "--member", member, "--evidence", evidence, "--out", out2).exit_code == 0
    stmt2 = read(out2).statement
    assert isinstance(stmt2, Reinstate) and stmt2.evidence == hashlib.sha256(b"%PDF appeal").digest()


def test_show_json_lists_signers_and_missing_parties(tmp_path: Path) -> None:
    member_path, member = make_key(tmp_path, "member")
    sponsor = SigningKey.from_seed(_seed("sponsor")).public_key
    out = tmp_path / "d.json"
    args = ["declare", "--key", member_path, "--declaration", "en", "--sponsor", sponsor.hex(), "--out", out]
    assert run(*args).exit_code == 0
    summary = json.loads(run("show", "--json", out).stdout)
    assert summary["type"] == "declare"
    assert summary["missing"] == ["sponsor"]
    assert [s["key"] for s in summary["signatures"]] == [member.public_key.hex()]
    assert summary["payload_sha256"] == read(out).payload_hash.hex()


# --- the installed command -------------------------------------------------------------------------


@pytest.mark.spec("9.5-h", "9.5-d")
def test_installed_registry_command_runs_as_a_subprocess(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("registry")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "registry"]
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_PASSPHRASE", "REGISTRY_ORIGIN")}
    key = tmp_path / "k.key"
    done = subprocess.run(
        [*command, "keygen", "--out", str(key), "--origin", ORIGIN],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    member_id = done.stdout.splitlines()[-1]
    assert read_key_file(key).public_key.hex() == member_id
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    shown = subprocess.run(
        [sys.executable, "-m", "registry", "show", str(tmp_path / "k.key.revocation")],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "type: revoke" in shown.stdout and member_id in shown.stdout
    usage = subprocess.run(
        [*command, "vouch", "--key", str(key)], capture_output=True, text=True, env=env, check=False, timeout=60
    )
    assert usage.returncode == 2
