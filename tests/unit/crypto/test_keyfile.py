"""Tests of crypto/keyfile.py: private key files (protocol §3.4)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from crypto import keyfile
from crypto.errors import BadKey
from crypto.keyfile import (
    KEY_FILE_FORMAT,
    MAX_KEY_FILE_SIZE,
    key_file_is_encrypted,
    read_key_file,
    read_public_key,
    write_key_file,
)
from crypto.keys import SigningKey

SEED = bytes(range(100, 132))
KEY = SigningKey.from_seed(SEED)
PASSPHRASE = "correct horse battery staple, кириллица".encode()
FAST: dict[str, Any] = {"opslimit": 1, "memlimit": 8192}  # the smallest Argon2id limits, for speed


def _seed_forms(seed: bytes) -> list[str]:
    return [seed.hex(), seed.hex().upper(), base64.b64encode(seed).decode(), repr(seed)]


def _assert_no_seed(text: str) -> None:
    for form in _seed_forms(SEED):
        assert form not in text


def _write_encrypted(path: Path, key: SigningKey = KEY) -> None:
    write_key_file(path, key, PASSPHRASE, **FAST)


def test_all_pins_public_names() -> None:
    assert keyfile.__all__ == [
        "ARGON2ID_MEMLIMIT",
        "ARGON2ID_OPSLIMIT",
        "KEY_FILE_FORMAT",
        "MAX_KEY_FILE_SIZE",
        "key_file_is_encrypted",
        "read_key_file",
        "read_public_key",
        "write_key_file",
    ]


@pytest.mark.spec("3.4-a")
@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_key_file_mode_is_exactly_0600(tmp_path: Path, encrypted: bool, umask: int) -> None:
    path = tmp_path / "member.key"
    previous = os.umask(umask)
    try:
        write_key_file(path, KEY, PASSPHRASE if encrypted else None, **FAST)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_ISREG(path.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["member.key"]  # no temporary file left behind


@pytest.mark.spec("3.4-a")
def test_overwrite_keeps_mode_0600_and_replaces_content(tmp_path: Path) -> None:
    path = tmp_path / "member.key"
    path.write_text("old")
    path.chmod(0o644)
    other = SigningKey.generate()
    write_key_file(path, other, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == other


@pytest.mark.spec("3.4-b")
def test_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "member.key"
    write_key_file(path, KEY)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_key_file(path, SigningKey.generate())
    with pytest.raises(FileExistsError):
        write_key_file(path, SigningKey.generate(), PASSPHRASE, **FAST)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["member.key"]


@pytest.mark.spec("3.4-c", "3.4-d")
def test_plain_round_trip_and_literal_format(tmp_path: Path) -> None:
    path = tmp_path / "member.key"
    write_key_file(path, KEY)
    assert read_key_file(path) == KEY
    assert read_key_file(path, PASSPHRASE) == KEY  # a passphrase is ignored for a plain file
    assert read_public_key(path) == KEY.public_key
    assert not key_file_is_encrypted(path)
    # The literal example of protocol §3.4.
    assert path.read_text() == (
        "{\n"
        '  "format": "antiwar-registry-key/v1",\n'
        f'  "public_key": "{base64.b64encode(KEY.public_key).decode()}",\n'
        f'  "seed": "{base64.b64encode(SEED).decode()}"\n'
        "}\n"
    )


@pytest.mark.spec("3.4-c", "3.4-e")
def test_encrypted_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "member.key"
    _write_encrypted(path)
    assert key_file_is_encrypted(path)
    assert read_public_key(path) == KEY.public_key
    assert read_key_file(path, PASSPHRASE) == KEY
    text = path.read_text()
    _assert_no_seed(text)
    document = json.loads(text)
    assert document["format"] == KEY_FILE_FORMAT
    encryption = document["encryption"]
    assert (encryption["kdf"], encryption["cipher"]) == ("argon2id13", "xsalsa20poly1305")
    assert (encryption["opslimit"], encryption["memlimit"]) == (1, 8192)
    assert len(base64.b64decode(encryption["salt"])) == 16
    assert len(base64.b64decode(encryption["nonce"])) == 24
    assert len(base64.b64decode(encryption["ciphertext"])) == 48


@pytest.mark.spec("3.4-e")
def test_encryption_uses_fresh_salt_and_nonce(tmp_path: Path) -> None:
    first, second = tmp_path / "a.key", tmp_path / "b.key"
    _write_encrypted(first)
    _write_encrypted(second)
    a, b = json.loads(first.read_text())["encryption"], json.loads(second.read_text())["encryption"]
    assert a["salt"] != b["salt"] and a["nonce"] != b["nonce"] and a["ciphertext"] != b["ciphertext"]


def test_default_limits_are_libsodium_moderate() -> None:
    assert (keyfile.ARGON2ID_OPSLIMIT, keyfile.ARGON2ID_MEMLIMIT) == (3, 256 * 1024 * 1024)


@pytest.mark.spec("3.4-e")
def test_wrong_or_missing_passphrase_is_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "member.key"
    _write_encrypted(path)
    for wrong in (None, b"", b"wrong", PASSPHRASE + b" "):
        with pytest.raises(BadKey) as caught:
            read_key_file(path, wrong)
        assert caught.value.code == "bad_key"
        _assert_no_seed(str(caught.value))


def _rewrite(path: Path, change: Any) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _flip_ciphertext(document: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(document["encryption"]["ciphertext"]))
    raw[5] ^= 1
    document["encryption"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()


def _flip_nonce(document: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(document["encryption"]["nonce"]))
    raw[0] ^= 1
    document["encryption"]["nonce"] = base64.b64encode(bytes(raw)).decode()


def _set(section: str | None, field: str, value: Any) -> Any:
    def change(document: dict[str, Any]) -> None:
        (document[section] if section else document)[field] = value

    return change


TAMPERS = {
    "flipped-ciphertext": _flip_ciphertext,
    "flipped-nonce": _flip_nonce,
    "other-salt": _set("encryption", "salt", base64.b64encode(bytes(16)).decode()),
    "other-opslimit": _set("encryption", "opslimit", 2),
    "other-public-key": _set("", "public_key", base64.b64encode(SigningKey.generate().public_key).decode()),
    "opslimit-too-high": _set("encryption", "opslimit", 10**6),
    "memlimit-too-high": _set("encryption", "memlimit", 2**40),
    "memlimit-too-low": _set("encryption", "memlimit", 1024),
    "opslimit-bool": _set("encryption", "opslimit", True),
    "opslimit-string": _set("encryption", "opslimit", "1"),
    "unknown-kdf": _set("encryption", "kdf", "scrypt"),
    "unknown-cipher": _set("encryption", "cipher", "aes"),
    "short-salt": _set("encryption", "salt", base64.b64encode(bytes(8)).decode()),
    "extra-field": _set("encryption", "comment", "x"),
    "wrong-format": _set("", "format", "antiwar-registry-key/v2"),
    "both-seed-and-encryption": _set("", "seed", base64.b64encode(SEED).decode()),
}


@pytest.mark.spec("3.4-d", "3.4-e", "3.4-f")
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_encrypted_file_is_bad_key(tmp_path: Path, tamper: str) -> None:
    path = tmp_path / "member.key"
    _write_encrypted(path)
    _rewrite(path, TAMPERS[tamper])
    with pytest.raises(BadKey) as caught:
        read_key_file(path, PASSPHRASE)
    _assert_no_seed(str(caught.value))


@pytest.mark.spec("3.4-d")
def test_plain_file_with_foreign_public_key_is_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "member.key"
    write_key_file(path, KEY)
    _rewrite(path, _set("", "public_key", base64.b64encode(SigningKey.generate().public_key).decode()))
    with pytest.raises(BadKey) as caught:
        read_key_file(path)
    _assert_no_seed(str(caught.value))


@pytest.mark.spec("3.4-c", "3.4-f")
@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00" * 10,
        b"garbage",
        b"[]",
        b"null",
        b"\xff\xfe{}",
        b"{" * 100000,
        b'{"format": "antiwar-registry-key/v1"}',
        b'{"format": "antiwar-registry-key/v1", "format": "antiwar-registry-key/v1", "public_key": "", "seed": ""}',
        b" " * (MAX_KEY_FILE_SIZE + 1),
    ],
)
def test_garbage_file_is_bad_key(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "member.key"
    path.write_bytes(content)
    for read in (read_key_file, read_public_key, key_file_is_encrypted):
        with pytest.raises(BadKey):
            read(path)


@pytest.mark.spec("3.4-c")
def test_truncated_files_are_bad_key(tmp_path: Path) -> None:
    plain, encrypted = tmp_path / "plain.key", tmp_path / "encrypted.key"
    write_key_file(plain, KEY)
    _write_encrypted(encrypted)
    for path in (plain, encrypted):
        data = path.read_bytes()
        for cut in range(len(data) - 3):  # up to the last field's closing characters
            path.write_bytes(data[:cut])
            with pytest.raises(BadKey) as caught:
                read_key_file(path, PASSPHRASE)
            _assert_no_seed(str(caught.value))


@pytest.mark.spec("3.4-c")
@pytest.mark.parametrize(
    "seed_value",
    [
        base64.b64encode(SEED[:31]).decode(),
        base64.b64encode(SEED + b"\x00").decode(),
        base64.b64encode(SEED).decode().rstrip("="),
        base64.b64encode(SEED).decode()[:-2] + "A=",  # non-canonical final character
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),
        SEED.hex(),
        32,
        None,
    ],
)
def test_malformed_seed_field_is_bad_key_without_echo(tmp_path: Path, seed_value: Any) -> None:
    path = tmp_path / "member.key"
    write_key_file(path, KEY)
    _rewrite(path, _set("", "seed", seed_value))
    with pytest.raises(BadKey) as caught:
        read_key_file(path)
    _assert_no_seed(str(caught.value))
    _assert_no_seed(repr(caught.value))


@pytest.mark.spec("3.2-a", "3.4-c")
def test_small_order_public_key_in_file_is_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "member.key"
    write_key_file(path, KEY)
    _rewrite(path, _set("", "public_key", base64.b64encode(bytes([1]) + bytes(31)).decode()))
    for read in (read_key_file, read_public_key):
        with pytest.raises(BadKey):
            read(path)


def test_missing_file_and_directory_are_bad_key(tmp_path: Path) -> None:
    with pytest.raises(BadKey):
        read_key_file(tmp_path / "absent.key")
    with pytest.raises(BadKey):
        read_public_key(tmp_path)


def test_empty_passphrase_and_out_of_range_limits_are_refused_on_write(tmp_path: Path) -> None:
    with pytest.raises(BadKey):
        write_key_file(tmp_path / "a.key", KEY, b"", **FAST)
    with pytest.raises(BadKey):
        write_key_file(tmp_path / "b.key", KEY, PASSPHRASE, opslimit=0, memlimit=8192)
    with pytest.raises(BadKey):
        write_key_file(tmp_path / "c.key", KEY, PASSPHRASE, opslimit=1, memlimit=2**40)
    assert list(tmp_path.iterdir()) == []


def test_write_into_missing_directory_fails_without_leftovers(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_key_file(tmp_path / "absent" / "member.key", KEY)
    assert list(tmp_path.iterdir()) == []


# The literal example of protocol §3.4 (INTERACTIVE limits, fixed salt and nonce).
SPEC_EXAMPLE_ENCRYPTED = """{
  "format": "antiwar-registry-key/v1",
  "public_key": "C7w0aldmfDgBIL2cf9flHSxf3+o3zS9b9AWyxr9vLXg=",
  "encryption": {
    "kdf": "argon2id13",
    "opslimit": 2,
    "memlimit": 67108864,
    "salt": "AAECAwQFBgcICQoLDA0ODw==",
    "cipher": "xsalsa20poly1305",
    "nonce": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
    "ciphertext": "7htXTCmkLeb42iDjmuUml0GBymw8MYwadFeMetG0rxaWUHNhikw7uqUE5jhcXnnm"
  }
}
"""


@pytest.mark.spec("3.4-c", "3.4-e")
def test_spec_example_encrypted_file_decrypts_to_its_seed(tmp_path: Path) -> None:
    path = tmp_path / "example.key"
    path.write_text(SPEC_EXAMPLE_ENCRYPTED)
    assert read_public_key(path) == KEY.public_key
    assert read_key_file(path, b"correct horse battery staple").seed == SEED
    with pytest.raises(BadKey):
        read_key_file(path, b"correct horse battery stapler")
