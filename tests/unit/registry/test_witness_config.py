"""registry/witness/config.py: the operator's witnesses.json and quorum, and the trust policy it
prints (protocol §6.3-a, §6.3-e)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from crypto.notekey import format_vkey
from registry.errors import RegistryError
from registry.trust import format_trust_policy, parse_trust_policy
from registry.witness.config import (
    MAX_WITNESSES,
    WITNESSES_FILE,
    ConfiguredWitness,
    WitnessConfig,
    add_witness,
    format_witness_config,
    load_witness_config,
    parse_witness_config,
    remove_witness,
    save_witness_config,
    set_quorum,
    trust_policy,
)
from tests.witnessing import LOG_VKEY, witness_name, witness_vkey

EMPTY = WitnessConfig(0, ())


def three(quorum: int = 2) -> WitnessConfig:
    config = EMPTY
    for n in (1, 2, 3):
        config = add_witness(config, witness_vkey(n), f"http://127.0.0.1:{8100 + n}")
    return set_quorum(config, quorum)


@pytest.mark.spec("6.3-a")
def test_add_set_quorum_and_remove() -> None:
    config = three()
    assert [w.name for w in config.witnesses] == [witness_name(n) for n in (1, 2, 3)]
    assert config.quorum == 2
    smaller = remove_witness(config, witness_name(2))
    assert [w.name for w in smaller.witnesses] == [witness_name(1), witness_name(3)]
    with pytest.raises(RegistryError) as info:
        remove_witness(smaller, witness_vkey(3))  # quorum 2 > 1 left: lower the quorum first
    assert info.value.code == "bad_key"
    assert [w.name for w in remove_witness(set_quorum(smaller, 1), witness_vkey(3)).witnesses] == [witness_name(1)]
    with pytest.raises(RegistryError) as info:
        remove_witness(config, "nobody.example")
    assert info.value.code == "not_found"


@pytest.mark.spec("6.3-a")
def test_quorum_must_be_between_zero_and_the_number_of_witnesses() -> None:
    for bad in (-1, 4):
        with pytest.raises(RegistryError) as info:
            set_quorum(three(), bad)
        assert info.value.code == "bad_key"
    assert set_quorum(three(), 0).quorum == 0
    assert set_quorum(three(), 3).quorum == 3


@pytest.mark.spec("6.3-a")
def test_witnesses_are_distinct_cosigner_keys_with_http_urls() -> None:
    config = three()
    with pytest.raises(RegistryError) as info:
        add_witness(config, witness_vkey(1), "http://elsewhere")
    assert info.value.code == "bad_key"
    with pytest.raises(RegistryError) as info:
        add_witness(EMPTY, LOG_VKEY, "http://127.0.0.1:1")
    assert info.value.code == "bad_key"
    for url in ("ftp://x", "127.0.0.1:8000", "http://a b", "http://x\n"):
        with pytest.raises(RegistryError) as info:
            ConfiguredWitness(witness_vkey(1), url)
        assert info.value.code == "malformed_encoding"
    with pytest.raises(RegistryError):
        ConfiguredWitness("not a vkey", "http://x")


@pytest.mark.spec("6.3-a")
def test_at_most_32_witnesses() -> None:
    from crypto.cosignature import cosigner_vkey
    from crypto.keys import SigningKey

    items = tuple(
        ConfiguredWitness(cosigner_vkey(f"w{i}.example", SigningKey.from_seed(bytes([i + 1]) * 32).public_key),
                          f"http://w{i}.example")
        for i in range(MAX_WITNESSES + 1)
    )
    assert len(WitnessConfig(1, items[:MAX_WITNESSES]).witnesses) == MAX_WITNESSES
    with pytest.raises(RegistryError):
        WitnessConfig(1, items)


@pytest.mark.spec("6.3-a")
def test_file_round_trips_and_is_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    assert load_witness_config(tmp_path) == EMPTY
    save_witness_config(tmp_path, three())
    path = tmp_path / WITNESSES_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_witness_config(tmp_path) == three()
    data = path.read_bytes()
    assert format_witness_config(parse_witness_config(data)) == data
    save_witness_config(tmp_path, set_quorum(three(), 3))
    assert load_witness_config(tmp_path).quorum == 3
    assert [p.name for p in tmp_path.iterdir()] == [WITNESSES_FILE]  # no temporary file left


@pytest.mark.spec("6.3-a")
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"format": "antiwar-registry-witnesses/v1", "quorum": 0}',
        b'{"format": "other", "quorum": 0, "witnesses": []}',
        b'{"format": "antiwar-registry-witnesses/v1", "quorum": true, "witnesses": []}',
        b'{"format": "antiwar-registry-witnesses/v1", "quorum": 1, "witnesses": []}',
        b'{"format": "antiwar-registry-witnesses/v1", "quorum": 0, "witnesses": [{"url": "http://x"}]}',
        b'{"format": "antiwar-registry-witnesses/v1", "quorum": 0, "witnesses": [], "extra": 1}',
    ],
)
def test_broken_files_are_refused(data: bytes) -> None:
    with pytest.raises(RegistryError):
        parse_witness_config(data)


@pytest.mark.spec("6.3-e")
def test_trust_policy_names_the_log_every_witness_and_the_quorum() -> None:
    policy = trust_policy(three(), LOG_VKEY)
    assert policy.origin == "registry.example/log" and policy.quorum == 2
    assert [format_vkey(w) for w in policy.witnesses] == [witness_vkey(n) for n in (1, 2, 3)]
    text = format_trust_policy(policy)
    assert parse_trust_policy(text) == policy
    assert text.splitlines()[-3:-1] == [
        f"group witnesses 2 {witness_name(1)} {witness_name(2)} {witness_name(3)}", "quorum witnesses"]
    assert trust_policy(EMPTY, LOG_VKEY).quorum == 0
    with pytest.raises(RegistryError) as info:
        trust_policy(EMPTY, witness_vkey(1))
    assert info.value.code == "bad_key"
