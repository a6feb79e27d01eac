"""The C2SP tlog-tiles layout (tag v0.1.0): tile paths, hash tiles, entry bundles, and roots from tiles.

Implements protocol §5.3. A hash tile at level L and index N holds up to 256 consecutive perfect-subtree
nodes of height 8*L (in `crypto.merkle` terms, nodes (8*L, N*256 + i)); an entry bundle holds the entries
behind a level-0 tile, each prefixed with its length as a big-endian uint16.

Errors: a path, tile or bundle that breaks the encoding raises `MalformedEncoding` (malformed_encoding), an
entry over 65,535 bytes raises `TooLarge` (too_large), and a tile that does not exist at the given tree
size, or tiles that do not hash to the expected root, raise `BadProof` (bad_proof).

Deliberately not here: HTTP, caching, compression, pruning, fetching.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from crypto.errors import BadProof, MalformedEncoding, TooLarge
from crypto.merkle import (
    HASH_SIZE,
    MerkleTree,
    hash_leaves,
    perfect_subtrees,
    root_from_leaf_hashes,
    root_from_subtrees,
)
from crypto.nodestore import NodeStore

__all__ = [
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

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 256
MAX_TILE_LEVEL: Final = 63
MAX_ENTRY_SIZE: Final = 65535
# Tree sizes are uint64 (tlog-checkpoint), so no tile index reaches 2**64.
_INDEX_LIMIT: Final = 1 << 64
_MAX_BUNDLE_BYTES: Final = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)

_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_GROUP = re.compile(r"[0-9]{3}")


TileCoord = tuple[int, int, int]
"""(level, index, width) of a tile that exists for some tree size; width 256 is a full tile."""

TilePath = tuple[int, int, int, bool]
"""(level, index, width, is_entries) of a parsed path; an entry bundle has level 0."""


def _check_coords(level: int, index: int, width: int) -> None:
    if not 0 <= level <= MAX_TILE_LEVEL:
        raise MalformedEncoding(f"tile level must be 0 to {MAX_TILE_LEVEL}, got {level}")
    if not 0 <= index < _INDEX_LIMIT:
        raise MalformedEncoding("tile index must be a non-negative integer below 2**64")
    if not 1 <= width <= TILE_WIDTH:
        raise MalformedEncoding(f"tile width must be 1 to {TILE_WIDTH}, got {width}")


def _format_index(index: int) -> str:
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Return the hash tile path `tile/<L>/<N>[.p/<W>]` (protocol §5.3-a), e.g. tile/0/x001/x234/067.

    Raises:
        MalformedEncoding: requires 0 <= level <= 63, 0 <= index < 2**64, 1 <= width <= 256.
    """
    _check_coords(level, index, width)
    return f"tile/{level}/{_format_index(index)}{_suffix(width)}"


def tile_entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Return the entry bundle path `tile/entries/<N>[.p/<W>]` (protocol §5.3-a).

    Raises:
        MalformedEncoding: requires 0 <= index < 2**64 and 1 <= width <= 256.
    """
    _check_coords(0, index, width)
    return f"tile/entries/{_format_index(index)}{_suffix(width)}"


def parse_tile_path(path: str) -> TilePath:
    """Parse a hash tile or entry bundle path strictly; the inverse of `tile_path` / `tile_entries_path`.

    Raises:
        MalformedEncoding: anything but the canonical form (protocol §5.3-b): L outside 0..63 or with a
            leading zero, an N group that is not three ASCII digits, a missing or extra `x`, a redundant
            leading `x000` group, N >= 2**64, W outside 1..255 or with a leading zero.
    """
    if not isinstance(path, str) or len(path) > 64:
        raise MalformedEncoding("tile path is not a string of at most 64 characters")
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise MalformedEncoding("tile path must start with tile/<L>/ or tile/entries/")
    is_entries = parts[1] == "entries"
    if is_entries:
        level = 0
    elif _LEVEL.fullmatch(parts[1]) and int(parts[1]) <= MAX_TILE_LEVEL:
        level = int(parts[1])
    else:
        raise MalformedEncoding(f"tile level must be a decimal 0 to {MAX_TILE_LEVEL} without leading zeros")
    groups = parts[2:]
    width = TILE_WIDTH
    if len(groups) >= 2 and groups[-2].endswith(".p"):
        if not _WIDTH.fullmatch(groups[-1]) or int(groups[-1]) >= TILE_WIDTH:
            raise MalformedEncoding("partial tile width must be a decimal 1 to 255 without leading zeros")
        width = int(groups[-1])
        groups = [*groups[:-2], groups[-2][:-2]]
    for group in groups[:-1]:
        if not (group.startswith("x") and _GROUP.fullmatch(group[1:])):
            raise MalformedEncoding("every tile index group but the last must be x and three digits")
    if not _GROUP.fullmatch(groups[-1]):
        raise MalformedEncoding("the last tile index group must be three digits")
    if len(groups) > 1 and groups[0] == "x000":
        raise MalformedEncoding("tile index has a redundant leading x000 group")
    index = int("".join(g.lstrip("x") for g in groups))
    if index >= _INDEX_LIMIT:
        raise MalformedEncoding("tile index must be below 2**64")
    return (level, index, width, is_entries)


def _tile_width(level: int, index: int, tree_size: int) -> int:
    """The width of tile (level, index) in a tree of tree_size leaves; 0 when it does not exist."""
    available = (tree_size >> (TILE_HEIGHT * level)) - index * TILE_WIDTH
    return max(0, min(TILE_WIDTH, available))


def tiles_for_size(size: int) -> list[TileCoord]:
    """List every hash tile a checkpoint of `size` implies, by level then index (protocol §5.3-d).

    Level l has floor(size / 256**(l+1)) full tiles and, when floor(size / 256**l) mod 256 > 0, one
    partial tile of that width. Raises BadProof when size is negative.
    """
    if size < 0:
        raise BadProof("tree size must be non-negative")
    tiles: list[TileCoord] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        nodes = size >> (TILE_HEIGHT * level)
        full, partial = divmod(nodes, TILE_WIDTH)
        tiles.extend((level, n, TILE_WIDTH) for n in range(full))
        if partial:
            tiles.append((level, full, partial))
        level += 1
    return tiles


def format_hash_tile(hashes: Sequence[bytes]) -> bytes:
    """Concatenate 1 to 256 hashes of 32 bytes into a hash tile. Raises MalformedEncoding otherwise."""
    if not 1 <= len(hashes) <= TILE_WIDTH or any(len(h) != HASH_SIZE for h in hashes):
        raise MalformedEncoding("a hash tile is 1 to 256 hashes of 32 bytes")
    return b"".join(hashes)


def parse_hash_tile(data: bytes, width: int) -> list[bytes]:
    """Split a hash tile of `width` hashes (1..256) into its hashes.

    Raises:
        MalformedEncoding: width outside 1..256, or data not exactly width * 32 bytes (protocol §5.3-c).
    """
    if not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise MalformedEncoding(f"tile width must be 1 to {TILE_WIDTH}")
    if not isinstance(data, bytes) or len(data) != width * HASH_SIZE:
        raise MalformedEncoding(f"a tile of width {width} must be {width * HASH_SIZE} bytes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def hash_tile(source: MerkleTree | NodeStore, level: int, index: int, tree_size: int) -> bytes:
    """Return hash tile (level, index) as it stands in the tree of `tree_size` leaves (protocol §5.3-c).

    Hash i of the tile is MTH(D[(index*256 + i) * 256**level : (index*256 + i + 1) * 256**level]), i.e.
    node (8*level, index*256 + i); the tile is partial when the tree ends inside it.

    Raises:
        MalformedEncoding: level outside 0..63.
        BadProof: the tile does not exist at tree_size, or tree_size exceeds the tree's size.
    """
    if not 0 <= level <= MAX_TILE_LEVEL or index < 0 or tree_size < 0:
        raise MalformedEncoding("tile coordinates out of range")
    if isinstance(source, MerkleTree):
        if tree_size > source.size:
            raise BadProof(f"tree size {tree_size} is beyond the tree's size {source.size}")
        store = source.store
    else:
        store = source
    width = _tile_width(level, index, tree_size)
    if width == 0:
        raise BadProof(f"tile ({level}, {index}) does not exist at tree size {tree_size}")
    first = index * TILE_WIDTH
    height = TILE_HEIGHT * level
    return b"".join(store.get_nodes([(height, first + i) for i in range(width)]))


def _tile_hashes(tiles: Mapping[tuple[int, int], bytes], level: int, index: int, width: int) -> list[bytes]:
    """The first `width` hashes of tile (level, index); a full tile may stand in for a partial one."""
    data = tiles.get((level, index))
    if data is None:
        raise BadProof(f"tile ({level}, {index}) is needed but was not given")
    if isinstance(data, bytes) and len(data) == TILE_WIDTH * HASH_SIZE and width < TILE_WIDTH:
        data = data[: width * HASH_SIZE]
    return parse_hash_tile(data, width)


def root_from_tiles(size: int, tiles: Mapping[tuple[int, int], bytes]) -> bytes:
    """Recompute the root hash of a tree of `size` leaves from its partial tiles (protocol §5.3-h).

    `tiles` maps (level, index) to tile bytes. Only the partial tile at each level is read: its hashes,
    grouped as the binary digits of its width, are the perfect subtrees the root folds over. A full tile
    given where the partial one belongs stands in for it (its first W hashes are used).

    Raises:
        BadProof: a needed tile is missing, or size is negative.
        MalformedEncoding: a tile has the wrong length.
    """
    if size < 0:
        raise BadProof("tree size must be non-negative")
    subtrees: list[bytes] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        level += 1
    # Highest level first: its subtrees are the largest and leftmost.
    for lvl in range(level - 1, -1, -1):
        nodes = size >> (TILE_HEIGHT * lvl)
        index, width = divmod(nodes, TILE_WIDTH)
        if width == 0:
            continue
        hashes = _tile_hashes(tiles, lvl, index, width)
        # Within the tile, the same decomposition a tree of `width` leaves has.
        for height, n in perfect_subtrees(0, width):
            subtrees.append(root_from_leaf_hashes(hashes[n << height : (n + 1) << height]))
    return root_from_subtrees(subtrees)


def verify_tiles(size: int, root: bytes, tiles: Mapping[tuple[int, int], bytes]) -> None:
    """Verify a set of hash tiles against a checkpoint's tree size and root hash (protocol §5.3-h).

    Steps: (1) every given tile exists at `size` and has its width's length; (2) the partial tiles give
    `root`; (3) every given full tile hashes (MTH of its 256 hashes) to its entry in its parent tile, which
    must be given too, so that every hash given is bound to the root.

    Raises:
        BadProof: a tile does not exist at size, a needed tile is missing, or a hash does not match.
        MalformedEncoding: a tile or the root has the wrong length.
    """
    if len(root) != HASH_SIZE:
        raise MalformedEncoding(f"root hash must be {HASH_SIZE} bytes, got {len(root)}")
    # Step 1.
    for level, index in sorted(tiles):
        if not 0 <= level <= MAX_TILE_LEVEL or index < 0:
            raise BadProof(f"tile ({level}, {index}) does not exist")
        width = _tile_width(level, index, size)
        if width == 0:
            raise BadProof(f"tile ({level}, {index}) does not exist at tree size {size}")
        _tile_hashes(tiles, level, index, width)
    # Step 2.
    if root_from_tiles(size, tiles) != root:
        raise BadProof("tiles do not lead to the checkpoint's root hash")
    # Step 3.
    for level, index in sorted(tiles):
        if _tile_width(level, index, size) != TILE_WIDTH:
            continue
        parent_index, position = divmod(index, TILE_WIDTH)
        parent = _tile_hashes(tiles, level + 1, parent_index, _tile_width(level + 1, parent_index, size))
        if root_from_leaf_hashes(parse_hash_tile(tiles[(level, index)], TILE_WIDTH)) != parent[position]:
            raise BadProof(f"tile ({level}, {index}) does not match its parent tile")


def format_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Encode 1 to 256 entries as an entry bundle: each is a big-endian uint16 length, then its bytes.

    Raises:
        TooLarge: an entry is over 65,535 bytes (too_large; protocol §5.3-e).
        MalformedEncoding: fewer than 1 or more than 256 entries.
    """
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise MalformedEncoding(f"an entry bundle holds 1 to {TILE_WIDTH} entries, got {len(entries)}")
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise TooLarge(f"an entry is at most {MAX_ENTRY_SIZE} bytes, got {len(entry)}")
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def parse_entry_bundle(data: bytes, expected_count: int | None = None) -> list[bytes]:
    """Decode an entry bundle strictly (protocol §5.3-f); the inverse of `format_entry_bundle`.

    Args:
        data: the bundle bytes (after any HTTP content decoding).
        expected_count: the tile width the path or checkpoint implies; None accepts 1 to 256 entries.

    Raises:
        TooLarge: data longer than any bundle can be.
        MalformedEncoding: a truncated length or entry, no entries, more than 256 entries, or a count other
            than expected_count.
    """
    if not isinstance(data, bytes):
        raise MalformedEncoding("an entry bundle must be bytes")
    if len(data) > _MAX_BUNDLE_BYTES:
        raise TooLarge(f"an entry bundle is at most {_MAX_BUNDLE_BYTES} bytes")
    if expected_count is not None and not 1 <= expected_count <= TILE_WIDTH:
        raise MalformedEncoding(f"expected entry count must be 1 to {TILE_WIDTH}")
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(entries) == TILE_WIDTH:
            raise MalformedEncoding(f"an entry bundle holds at most {TILE_WIDTH} entries")
        if offset + 2 > len(data):
            raise MalformedEncoding("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise MalformedEncoding("entry bundle ends inside an entry")
        entries.append(data[offset : offset + length])
        offset += length
    if not entries:
        raise MalformedEncoding("an entry bundle holds at least one entry")
    if expected_count is not None and len(entries) != expected_count:
        raise MalformedEncoding(f"entry bundle holds {len(entries)} entries, expected {expected_count}")
    return entries


def verify_entry_bundle(entries: Sequence[bytes], level0_tile: bytes) -> None:
    """Verify that each entry's leaf hash is the matching hash of its level-0 tile (protocol §5.3-g).

    Raises:
        BadProof: the counts differ or an entry does not hash to its tile entry.
        MalformedEncoding: the tile is not a whole number of 1 to 256 hashes.
    """
    if not isinstance(level0_tile, bytes) or len(level0_tile) % HASH_SIZE:
        raise MalformedEncoding("a hash tile is a whole number of 32-byte hashes")
    hashes = parse_hash_tile(level0_tile, len(level0_tile) // HASH_SIZE)
    if len(entries) != len(hashes):
        raise BadProof(f"entry bundle holds {len(entries)} entries but its tile {len(hashes)} hashes")
    for i, (computed, expected) in enumerate(zip(hash_leaves(entries), hashes, strict=True)):
        if computed != expected:
            raise BadProof(f"entry {i} of the bundle does not hash to its tile entry")
