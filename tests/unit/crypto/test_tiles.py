"""Unit tests for crypto.tiles: C2SP tlog-tiles paths, hash tiles, entry bundles, roots from tiles."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import tiles
from crypto.errors import BadProof, CryptoError, MalformedEncoding, TooLarge
from crypto.merkle import EMPTY_ROOT, MerkleTree, hash_leaves, leaf_hash, root_from_leaf_hashes
from crypto.nodestore import MemoryNodeStore
from crypto.tiles import (
    format_entry_bundle,
    format_hash_tile,
    hash_tile,
    parse_entry_bundle,
    parse_hash_tile,
    parse_tile_path,
    root_from_tiles,
    tile_entries_path,
    tile_path,
    tiles_for_size,
    verify_entry_bundle,
    verify_tiles,
)

BIG = 70_001


@cache
def _entries() -> tuple[bytes, ...]:
    return tuple(i.to_bytes(3, "big") * (1 + i % 3) for i in range(BIG))


@cache
def _tree() -> MerkleTree:
    tree = MerkleTree(MemoryNodeStore())
    tree.extend(hash_leaves(_entries()))
    return tree


def _all_tiles(size: int) -> dict[tuple[int, int], bytes]:
    return {(level, index): hash_tile(_tree(), level, index, size) for level, index, _ in tiles_for_size(size)}


def test_all_names_are_pinned() -> None:
    assert sorted(tiles.__all__) == sorted(
        [
            "MAX_ENTRY_SIZE",
            "MAX_TILE_LEVEL",
            "TILE_HEIGHT",
            "TILE_WIDTH",
            "TileCoord",
            "TilePath",
            "format_entry_bundle",
            "format_hash_tile",
            "hash_tile",
            "parse_entry_bundle",
            "parse_hash_tile",
            "parse_tile_path",
            "root_from_tiles",
            "tile_entries_path",
            "tile_path",
            "tiles_for_size",
            "verify_entry_bundle",
            "verify_tiles",
        ]
    )


# --- §5.3 paths -------------------------------------------------------------------------------------


@pytest.mark.spec("5.3-a")
@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 1234067, 256, "tile/0/x001/x234/067"),
        (0, 0, 256, "tile/0/000"),
        (0, 999, 256, "tile/0/999"),
        (0, 1000, 256, "tile/0/x001/000"),
        (1, 273, 17, "tile/1/273.p/17"),
        (2, 0, 1, "tile/2/000.p/1"),
        (63, 5, 255, "tile/63/005.p/255"),
        (0, 2**64 - 1, 256, "tile/0/x018/x446/x744/x073/x709/x551/615"),
    ],
)
def test_tile_path_encoding_round_trips(level: int, index: int, width: int, path: str) -> None:
    assert tile_path(level, index, width) == path
    assert parse_tile_path(path) == (level, index, width, False)


@pytest.mark.spec("5.3-a")
def test_entry_bundle_paths() -> None:
    assert tile_entries_path(1234067) == "tile/entries/x001/x234/067"
    assert tile_entries_path(273, 112) == "tile/entries/273.p/112"
    assert parse_tile_path("tile/entries/273.p/112") == (0, 273, 112, True)
    assert parse_tile_path("tile/entries/x001/x234/067") == (0, 1234067, 256, True)


@pytest.mark.spec("5.3-b")
@pytest.mark.parametrize(
    "path",
    [
        "tile/00/000",  # leading zero in L
        "tile/01/000",
        "tile/64/000",  # L above 63
        "tile/-1/000",
        "tile/0/67",  # N group not three digits
        "tile/0/0067",
        "tile/0/x000/067",  # redundant leading group
        "tile/0/001/067",  # missing x
        "tile/0/x001/x067",  # x on the last group
        "tile/0/X001/067",
        "tile/0/x01/067",
        "tile/0/067.p/0",  # W outside 1..255
        "tile/0/067.p/256",
        "tile/0/067.p/08",  # leading zero in W
        "tile/0/067.p/",
        "tile/0/067.p",
        "tile/0/067/.p/8",
        "tile/0/x018/x446/x744/x073/x709/x551/616",  # N >= 2**64
        "tile/0/x001/x002/x003/x004/x005/x006/x007/x008/009",  # too long
        "tile/0/٠٦٧",  # non-ASCII digits
        "tile/0/067/",
        "tile/0",
        "tiles/0/000",
        "/tile/0/000",
        "tile/entries",
        "tile/entries/067.p/256",
        "tile/ 0/000",
        "",
    ],
)
def test_parse_tile_path_rejects_non_canonical(path: str) -> None:
    with pytest.raises(MalformedEncoding) as info:
        parse_tile_path(path)
    assert info.value.code == "malformed_encoding"


@pytest.mark.spec("5.3-b")
@pytest.mark.parametrize(("level", "index", "width"), [(64, 0, 256), (-1, 0, 256), (0, -1, 256), (0, 2**64, 256),
                                                       (0, 0, 0), (0, 0, 257)])
def test_tile_path_refuses_unencodable_coordinates(level: int, index: int, width: int) -> None:
    with pytest.raises(MalformedEncoding):
        tile_path(level, index, width)


# --- §5.3 hash tiles --------------------------------------------------------------------------------


@pytest.mark.spec("5.3-d")
def test_tiles_for_size_70000_matches_the_spec_example() -> None:
    listed = tiles_for_size(70_000)
    level0 = [t for t in listed if t[0] == 0]
    assert [t for t in level0 if t[2] == 256] == [(0, n, 256) for n in range(273)]
    assert [t for t in level0 if t[2] != 256] == [(0, 273, 112)]
    assert [t for t in listed if t[0] == 1] == [(1, 0, 256), (1, 1, 17)]
    assert [t for t in listed if t[0] == 2] == [(2, 0, 1)]
    assert len(listed) == 273 + 1 + 1 + 1 + 1


@pytest.mark.spec("5.3-d")
def test_tiles_for_small_sizes() -> None:
    assert tiles_for_size(0) == []
    assert tiles_for_size(1) == [(0, 0, 1)]
    assert tiles_for_size(256) == [(0, 0, 256), (1, 0, 1)]
    assert tiles_for_size(257) == [(0, 0, 256), (0, 1, 1), (1, 0, 1)]
    with pytest.raises(BadProof):
        tiles_for_size(-1)


@pytest.mark.spec("5.3-c")
def test_hash_tile_contents_are_subtree_hashes() -> None:
    tree = _tree()
    level0 = hash_tile(tree, 0, 1, 70_000)
    assert parse_hash_tile(level0, 256) == hash_leaves(_entries()[256:512])
    partial = hash_tile(tree, 0, 273, 70_000)
    assert len(partial) == 112 * 32
    assert parse_hash_tile(partial, 112) == hash_leaves(_entries()[273 * 256 : 70_000])
    # Level 1, hash i = MTH of the i-th full level-0 tile.
    level1 = parse_hash_tile(hash_tile(tree, 1, 0, 70_000), 256)
    assert level1[5] == root_from_leaf_hashes(hash_leaves(_entries()[5 * 256 : 6 * 256]))
    level2 = parse_hash_tile(hash_tile(tree.store, 2, 0, 70_000), 1)
    assert level2 == [tree.root(65_536)]
    assert format_hash_tile(level1) == hash_tile(tree, 1, 0, 70_000)
    # A partial tile at a level is never hashed into the one above: size 70,000 has no level-1 hash of
    # tile 0/273 (its level-1 partial tile is 17 wide, covering full level-0 tiles 256..272 only).
    assert len(hash_tile(tree, 1, 1, 70_000)) == 17 * 32


@pytest.mark.spec("5.3-c")
def test_hash_tile_refuses_tiles_that_do_not_exist() -> None:
    tree = _tree()
    for level, index, size in [(0, 274, 70_000), (1, 2, 70_000), (2, 0, 65_535), (0, 0, 0), (3, 0, 70_000)]:
        with pytest.raises(BadProof):
            hash_tile(tree, level, index, size)
    with pytest.raises(BadProof):
        hash_tile(tree, 0, 0, BIG + 1)
    with pytest.raises(MalformedEncoding):
        hash_tile(tree, 64, 0, 70_000)


@pytest.mark.spec("5.3-c")
def test_parse_hash_tile_requires_exact_length() -> None:
    data = bytes(range(32)) * 3
    assert parse_hash_tile(data, 3) == [bytes(range(32))] * 3
    for bad, width in [(data, 2), (data[:-1], 3), (data + b"\0", 3), (b"", 1), (data, 0), (data, 257)]:
        with pytest.raises(MalformedEncoding):
            parse_hash_tile(bad, width)
    for hashes in ([], [b"short"], [bytes(32)] * 257):
        with pytest.raises(MalformedEncoding):
            format_hash_tile(hashes)


@pytest.mark.spec("5.3-h")
@pytest.mark.parametrize("size", [0, 1, 2, 255, 256, 257, 511, 512, 4097, 65_535, 65_536, 65_537, 70_000, BIG])
def test_root_from_tiles_equals_tree_root(size: int) -> None:
    all_tiles = _all_tiles(size)
    assert root_from_tiles(size, all_tiles) == _tree().root(size)
    verify_tiles(size, _tree().root(size), all_tiles)


@pytest.mark.spec("5.3-h")
def test_root_from_tiles_reads_only_partial_tiles_and_accepts_full_stand_in() -> None:
    size = 70_000
    partial_only = {(level, index): hash_tile(_tree(), level, index, size) for level, index, width
                    in tiles_for_size(size) if width < 256}
    assert len(partial_only) == 3
    assert root_from_tiles(size, partial_only) == _tree().root(size)
    # The log grew and the partial level-0 tile was replaced by the full one: its first 112 hashes are
    # the partial tile, and the rest (here filler) belong to later tree sizes.
    grown = {**partial_only, (0, 273): partial_only[(0, 273)] + bytes(32 * (256 - 112))}
    assert root_from_tiles(size, grown) == _tree().root(size)
    assert root_from_tiles(0, {}) == EMPTY_ROOT
    with pytest.raises(BadProof):
        root_from_tiles(size, {})


@pytest.mark.spec("5.3-h")
def test_verify_tiles_rejects_tampering() -> None:
    size = 70_000
    root = _tree().root(size)
    honest = _all_tiles(size)

    def tampered(key: tuple[int, int], position: int) -> dict[tuple[int, int], bytes]:
        out = dict(honest)
        data = bytearray(out[key])
        data[position] ^= 1
        out[key] = bytes(data)
        return out

    cases = [
        tampered((0, 5), 100),  # a full tile no longer matches its parent
        tampered((0, 273), 0),  # the partial tile changes the root
        tampered((1, 0), 3000),  # a level-1 full tile no longer matches level 2
        {**honest, (0, 274): bytes(32)},  # a tile that does not exist at this size
        {k: v for k, v in honest.items() if k != (1, 0)},  # a full tile's parent is missing
    ]
    for tiles_given in cases:
        with pytest.raises(BadProof):
            verify_tiles(size, root, tiles_given)
    with pytest.raises(BadProof):
        verify_tiles(size, _tree().root(size - 1), honest)
    with pytest.raises(MalformedEncoding):
        verify_tiles(size, root, {**honest, (0, 7): bytes(31)})


# --- §5.3 entry bundles -----------------------------------------------------------------------------


@pytest.mark.spec("5.3-e", "5.3-f")
def test_entry_bundle_round_trip() -> None:
    entries = [b"", b"a", bytes(300), bytes(65_535)]
    data = format_entry_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:5] == b"\x00\x01a" and data[5:7] == b"\x01\x2c"
    assert parse_entry_bundle(data) == entries
    assert parse_entry_bundle(data, 4) == entries
    assert format_entry_bundle(parse_entry_bundle(data)) == data
    full = [bytes([i]) for i in range(256)]
    assert parse_entry_bundle(format_entry_bundle(full), 256) == full


@pytest.mark.spec("5.3-e")
def test_entry_bundle_refuses_entries_over_65535_bytes() -> None:
    with pytest.raises(TooLarge) as info:
        format_entry_bundle([b"ok", bytes(65_536)])
    assert info.value.code == "too_large"
    for count in (0, 257):
        with pytest.raises(MalformedEncoding):
            format_entry_bundle([b"x"] * count)


@pytest.mark.spec("5.3-f")
@pytest.mark.parametrize(
    ("data", "expected_count"),
    [
        (b"", None),  # no entries
        (b"\x00", None),  # truncated length
        (b"\x00\x02a", None),  # truncated entry
        (b"\x00\x01a\x00", None),  # trailing byte
        (b"\x00\x01a\x00\x00", 1),  # trailing bytes that read as an extra empty entry
        (b"\x00\x01a\x00\x01b", 1),  # count mismatch
        (b"\x00\x01a", 2),
        (b"\x00\x01a", 0),
        (b"\x00\x00" * 257, None),  # over 256 entries
    ],
)
def test_entry_bundle_parser_is_strict(data: bytes, expected_count: int | None) -> None:
    with pytest.raises(MalformedEncoding) as info:
        parse_entry_bundle(data, expected_count)
    assert info.value.code == "malformed_encoding"


@pytest.mark.spec("5.3-f")
def test_entry_bundle_parser_refuses_oversized_input() -> None:
    with pytest.raises(TooLarge):
        parse_entry_bundle(bytes(256 * 65_537 + 1))


@pytest.mark.spec("5.3-g")
def test_entry_bundle_matches_level0_tile() -> None:
    size = 70_000
    bundle = list(_entries()[273 * 256 : size])
    tile = hash_tile(_tree(), 0, 273, size)
    verify_entry_bundle(parse_entry_bundle(format_entry_bundle(bundle), 112), tile)
    with pytest.raises(BadProof):
        verify_entry_bundle([*bundle[:-1], b"forged"], tile)
    with pytest.raises(BadProof):
        verify_entry_bundle(bundle[:-1], tile)
    with pytest.raises(MalformedEncoding):
        verify_entry_bundle(bundle, tile[:-1])
    assert leaf_hash(bundle[0]) == tile[:32]


# --- random input -----------------------------------------------------------------------------------


@pytest.mark.spec("5.3-b", "5.3-f")
@settings(max_examples=300)
@given(st.binary(max_size=600), st.integers(-2, 300))
def test_parsers_raise_only_crypto_errors_on_random_bytes(data: bytes, number: int) -> None:
    for call in (
        lambda: parse_entry_bundle(data),
        lambda: parse_entry_bundle(data, number),
        lambda: parse_hash_tile(data, number),
        lambda: parse_tile_path(data.decode("latin-1")),
        lambda: parse_tile_path("tile/" + data.decode("latin-1")),
        lambda: verify_entry_bundle([data], data),
        lambda: root_from_tiles(number, {(0, 0): data, (1, 0): data}),
        lambda: verify_tiles(number, data, {(0, 0): data}),
    ):
        try:
            call()
        except CryptoError:
            pass


@pytest.mark.spec("5.3-a", "5.3-b")
@settings(max_examples=300)
@given(st.integers(0, 63), st.integers(0, 2**64 - 1), st.integers(1, 256), st.booleans())
def test_tile_paths_round_trip(level: int, index: int, width: int, entries: bool) -> None:
    path = tile_entries_path(index, width) if entries else tile_path(level, index, width)
    parsed = parse_tile_path(path)
    assert parsed == (0 if entries else level, index, width, entries)
    assert (tile_entries_path(index, width) if entries else tile_path(*parsed[:3])) == path


@settings(max_examples=200)
@given(st.text(alphabet="tilex/0123456789.pentrs", max_size=40))
def test_parsed_paths_format_back_byte_for_byte(path: str) -> None:
    try:
        level, index, width, entries = parse_tile_path(path)
    except MalformedEncoding:
        return
    assert (tile_entries_path(index, width) if entries else tile_path(level, index, width)) == path
