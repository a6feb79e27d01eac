"""Identity commitments and selective disclosure (protocol §4.3).

A member commits to five attributes of its travel document (as its machine-readable zone spells
them) without putting them in the log: each attribute becomes one salted **disclosure** in the style
of RFC 9901 (SD-JWT), `base64url([salt, name, value])`, whose digest is SHA-256 of that text; three
**decoy** digests are added; the 32-byte **commitment** is SHA-256 of a domain-separation prefix and
the eight digests in ascending order. The commitment goes into the member's `declare` statement. The
member later shows any subset of the disclosures with the digests of the others (an
`IdentityDisclosure`), and anyone can check it against the commitment.

Pure: salts arrive as arguments (the command line draws them from the operating system), nothing is
read or written here. The salts are the secret that hides the attributes: a file holding them
identifies the member and never leaves the member's device except in a disclosure the member chose.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from crypto import canonical
from crypto.errors import MalformedEncoding

from .errors import ErrorCode, Rejected, Rejection

__all__ = [
    "ATTRIBUTES",
    "COMMITMENT_PREFIX",
    "DECOY_COUNT",
    "DIGEST_COUNT",
    "SALT_SIZE",
    "Disclosure",
    "Identity",
    "IdentityDisclosure",
    "check_identity_disclosure",
    "commitment_of",
    "disclose",
    "disclosure_digest",
    "format_disclosure",
    "format_identity",
    "format_identity_disclosure",
    "make_identity",
    "normalize_attribute",
    "parse_disclosure",
    "parse_identity",
    "parse_identity_disclosure",
    "verify_identity_disclosure",
]

ATTRIBUTES: Final = ("family_name", "given_names", "birth_date", "document_number", "issuing_state")
"""protocol §4.3-a: the committed attributes, in this order in an identity file."""
DECOY_COUNT: Final = 3
DIGEST_COUNT: Final = len(ATTRIBUTES) + DECOY_COUNT
SALT_SIZE: Final = 16
COMMITMENT_PREFIX: Final = b"antiwar-registry/v1\nidentity-commitment\n"
IDENTITY_FORMAT: Final = "antiwar-registry-identity/v1"
DISCLOSURE_FORMAT: Final = "antiwar-registry-disclosure/v1"
MAX_FILE_SIZE: Final = 8192
_MAX_NAME: Final = 64

# ICAO Doc 9303 Part 3 transliteration of Cyrillic, as Russian passports print it in the MRZ.
_CYRILLIC: Final[Mapping[str, str]] = {
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Ґ": "G", "Д": "D", "Ђ": "D", "Ѓ": "G", "Е": "E", "Ё": "E",
    "Є": "IE", "Ж": "ZH", "З": "Z", "Ѕ": "DZ", "И": "I", "І": "I", "Ї": "I", "Й": "I", "Ј": "J", "К": "K",
    "Л": "L", "Љ": "LJ", "М": "M", "Н": "N", "Њ": "NJ", "О": "O", "П": "P", "Р": "R", "С": "S", "Т": "T",
    "Ћ": "C", "Ќ": "K", "У": "U", "Ў": "U", "Ф": "F", "Х": "KH", "Ц": "TS", "Ч": "CH", "Џ": "DZ",
    "Ш": "SH", "Щ": "SHCH", "Ъ": "IE", "Ы": "Y", "Ь": "", "Э": "E", "Ю": "IU", "Я": "IA",
}  # fmt: skip
# Latin letters that do not decompose into a base letter and marks.
_LATIN_SPECIAL: Final[Mapping[str, str]] = {
    "ß": "SS", "ẞ": "SS", "Æ": "AE", "Œ": "OE", "Ø": "OE", "Þ": "TH", "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H",
    "ı": "I",
}  # fmt: skip
_SEPARATORS: Final = frozenset(" -<,.\t")
_DROPPED: Final = frozenset("'’ʼ`")
_NAME_RE: Final = re.compile(r"[A-Z]+( [A-Z]+)*")
_DOCUMENT_RE: Final = re.compile(r"[A-Z0-9]{1,20}")
_STATE_RE: Final = re.compile(r"[A-Z]{1,3}")
_DATE_RE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DOTTED_DATE_RE: Final = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def _malformed(message: str, section: str = "4.3-a") -> Rejected:
    return Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, message, section))


# --- normalisation ---------------------------------------------------------------------------------


def _transliterate(text: str) -> str:
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text).upper():
        if ch in _CYRILLIC:
            out.append(_CYRILLIC[ch])
        elif ch in _LATIN_SPECIAL:
            out.append(_LATIN_SPECIAL[ch])
        elif ch in _SEPARATORS:
            out.append(" ")
        elif ch in _DROPPED:
            continue
        else:
            # A Latin letter with diacritics becomes its base letter: NFKD, then drop the marks.
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base.upper())
    return " ".join("".join(out).split())


def _normalize_date(value: str) -> str:
    text = value.strip()
    if match := _DATE_RE.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DOTTED_DATE_RE.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
    else:
        raise _malformed("birth_date must be YYYY-MM-DD (or DD.MM.YYYY)")
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        raise _malformed("birth_date is not a calendar date") from None
    if not 1900 <= date.year <= 2100:
        raise _malformed("birth_date must lie between 1900 and 2100")
    return date.isoformat()


def normalize_attribute(name: str, value: str) -> str:
    """The MRZ-style normal form of an attribute value (protocol §4.3-a).

    Names (`family_name`, `given_names`): transliterated from Cyrillic by the ICAO 9303 table, Latin
    diacritics removed, upper case; spaces, hyphens, `<`, commas and periods separate parts (written
    as one space), apostrophes are dropped; the result is `[A-Z]+( [A-Z]+)*`, at most 64 characters
    (`given_names` may be empty). `birth_date`: `YYYY-MM-DD`. `document_number`: upper case letters and
    digits without separators, 1 to 20. `issuing_state`: the ICAO code, 1 to 3 letters (`RUS`, `D`).

    Raises:
        Rejected: `malformed_encoding` when the value cannot be normalised or `name` is unknown.
    """
    if not isinstance(value, str):
        raise _malformed(f"{name} must be a string")
    if name in ("family_name", "given_names"):
        result = _transliterate(value)
        if result == "" and name == "given_names":
            return result
        if len(result) > _MAX_NAME or _NAME_RE.fullmatch(result) is None:
            raise _malformed(f"{name} must be 1 to {_MAX_NAME} Latin letters as in the passport's MRZ")
        return result
    if name == "birth_date":
        return _normalize_date(value)
    if name == "document_number":
        result = "".join(c for c in value.upper() if c not in _SEPARATORS)
        if _DOCUMENT_RE.fullmatch(result) is None:
            raise _malformed("document_number must be 1 to 20 letters and digits")
        return result
    if name == "issuing_state":
        result = "".join(c for c in value.upper() if c not in _SEPARATORS)
        if _STATE_RE.fullmatch(result) is None:
            raise _malformed("issuing_state must be the 1 to 3 letter ICAO code (e.g. RUS)")
        return result
    raise _malformed(f"unknown attribute {name!r}; expected one of {', '.join(ATTRIBUTES)}")


# --- disclosures -----------------------------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str, what: str) -> bytes:
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise _malformed(f"{what} is not unpadded base64url", "4.3-b")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _malformed(f"{what} is not unpadded base64url", "4.3-b") from None
    if _b64url(raw) != text:
        raise _malformed(f"{what} is not canonical base64url", "4.3-b")
    return raw


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One salted attribute (protocol §4.3-b): a 16-byte salt, the attribute name, its normal form."""

    salt: bytes
    name: str
    value: str


def format_disclosure(disclosure: Disclosure) -> str:
    """`base64url(canonical JSON [base64url(salt), name, value])`, unpadded (protocol §4.3-b).

    Raises:
        Rejected: `malformed_encoding` for a salt that is not 16 bytes or a value not in normal form.
    """
    if len(disclosure.salt) != SALT_SIZE:
        raise _malformed(f"a disclosure salt is {SALT_SIZE} bytes", "4.3-b")
    if normalize_attribute(disclosure.name, disclosure.value) != disclosure.value:
        raise _malformed(f"{disclosure.name} is not in normal form", "4.3-a")
    return _b64url(canonical.encode([_b64url(disclosure.salt), disclosure.name, disclosure.value]))


def parse_disclosure(text: str) -> Disclosure:
    """Parse a disclosure strictly; `format_disclosure` gives back `text` (protocol §4.3-b).

    Raises:
        Rejected: `malformed_encoding` for bad base64url, non-canonical JSON, a wrong shape, a salt
            that is not 16 bytes, an unknown attribute or a value not in normal form.
    """
    if not isinstance(text, str) or len(text) > 1024:
        raise _malformed("a disclosure is a base64url string of at most 1024 characters", "4.3-b")
    raw = _unb64url(text, "disclosure")
    try:
        value = canonical.decode_canonical(raw, max_size=1024)
    except MalformedEncoding as exc:
        raise _malformed(f"a disclosure holds canonical JSON: {exc.message}", "4.3-b") from None
    if not isinstance(value, list) or len(value) != 3 or not all(isinstance(v, str) for v in value):
        raise _malformed("a disclosure is a JSON array [salt, name, value] of strings", "4.3-b")
    salt_text, name, attr = value
    salt = _unb64url(str(salt_text), "disclosure salt")
    if len(salt) != SALT_SIZE:
        raise _malformed(f"a disclosure salt is {SALT_SIZE} bytes", "4.3-b")
    name, attr = str(name), str(attr)
    if name not in ATTRIBUTES:
        raise _malformed(f"unknown attribute {name!r}", "4.3-a")
    if normalize_attribute(name, attr) != attr:
        raise _malformed(f"{name} is not in normal form", "4.3-a")
    return Disclosure(salt, name, attr)


def disclosure_digest(text: str) -> bytes:
    """The digest of a disclosure: SHA-256 of its base64url text, as ASCII (RFC 9901 §4.2.3)."""
    return hashlib.sha256(text.encode("ascii")).digest()


def commitment_of(digests: Sequence[bytes]) -> bytes:
    """The identity commitment: SHA-256(COMMITMENT_PREFIX || the 8 digests in ascending order) (§4.3-c).

    Raises:
        Rejected: `malformed_encoding` unless there are exactly 8 distinct 32-byte digests.
    """
    if len(digests) != DIGEST_COUNT or len(set(digests)) != DIGEST_COUNT or any(len(d) != 32 for d in digests):
        raise _malformed(f"an identity commitment covers exactly {DIGEST_COUNT} distinct digests", "4.3-c")
    return hashlib.sha256(COMMITMENT_PREFIX + b"".join(sorted(digests))).digest()


# --- the identity file (on the member's device) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    """Everything a member keeps to prove its commitment: the five disclosures (in ATTRIBUTES order),
    the three decoy digests, and the commitment."""

    disclosures: tuple[Disclosure, ...]
    decoys: tuple[bytes, ...]
    commitment: bytes

    def value(self, name: str) -> str:
        for d in self.disclosures:
            if d.name == name:
                return d.value
        raise _malformed(f"unknown attribute {name!r}")


def make_identity(attributes: Mapping[str, str], salts: Sequence[bytes], decoy_salts: Sequence[bytes]) -> Identity:
    """Commit to the five attributes (protocol §4.3-c). The caller draws the salts at random.

    Args:
        attributes: a value for each name of ATTRIBUTES, normalised here.
        salts: five fresh random 16-byte salts, one per attribute in ATTRIBUTES order.
        decoy_salts: three fresh random 16-byte values; decoy digest i is SHA-256(decoy_salts[i]).

    Raises:
        Rejected: `malformed_encoding` for a missing, unknown or unnormalisable attribute or a bad salt.
    """
    if set(attributes) != set(ATTRIBUTES):
        raise _malformed(f"an identity has exactly the attributes {', '.join(ATTRIBUTES)}")
    if len(salts) != len(ATTRIBUTES) or len(decoy_salts) != DECOY_COUNT:
        raise _malformed("an identity needs one salt per attribute and one per decoy", "4.3-b")
    if any(len(s) != SALT_SIZE for s in (*salts, *decoy_salts)):
        raise _malformed(f"salts are {SALT_SIZE} bytes", "4.3-b")
    disclosures = tuple(
        Disclosure(salt, name, normalize_attribute(name, attributes[name]))
        for salt, name in zip(salts, ATTRIBUTES, strict=True)
    )
    decoys = tuple(hashlib.sha256(s).digest() for s in decoy_salts)
    digests = [disclosure_digest(format_disclosure(d)) for d in disclosures] + list(decoys)
    return Identity(disclosures, decoys, commitment_of(digests))


def format_identity(identity: Identity) -> bytes:
    """The identity file: canonical JSON `{"commitment", "decoys", "disclosures", "format"}` (§4.3-d)."""
    return canonical.encode(
        {
            "commitment": identity.commitment.hex(),
            "decoys": [d.hex() for d in identity.decoys],
            "disclosures": [format_disclosure(d) for d in identity.disclosures],
            "format": IDENTITY_FORMAT,
        }
    )


def _hex_list(value: object, what: str, section: str) -> list[bytes]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _HEX64.fullmatch(v) for v in value):
        raise _malformed(f"{what} is a list of 64-digit lowercase hex digests", section)
    return [bytes.fromhex(str(v)) for v in value]


def _object(data: bytes, fields: set[str], fmt: str, section: str) -> Mapping[str, object]:
    if len(data) > MAX_FILE_SIZE:
        raise Rejected(Rejection(ErrorCode.TOO_LARGE, f"the file is over {MAX_FILE_SIZE} bytes", section))
    try:
        obj = canonical.decode_canonical(data, max_size=MAX_FILE_SIZE)
    except MalformedEncoding as exc:
        raise _malformed(f"the file is not canonical JSON: {exc.message}", section) from None
    if not isinstance(obj, dict) or set(obj) != fields or obj.get("format") != fmt:
        raise _malformed(f"the file is not an {fmt} object with the fields {', '.join(sorted(fields))}", section)
    commitment = obj["commitment"]
    if not isinstance(commitment, str) or _HEX64.fullmatch(commitment) is None:
        raise _malformed("commitment is 64 lowercase hex digits", section)
    return obj


def parse_identity(data: bytes) -> Identity:
    """Parse an identity file strictly and recompute its commitment (protocol §4.3-d).

    Raises:
        Rejected: `too_large`, `malformed_encoding`; `attribute_mismatch` when the disclosures and
            decoys do not give the stated commitment.
    """
    obj = _object(data, {"commitment", "decoys", "disclosures", "format"}, IDENTITY_FORMAT, "4.3-d")
    texts = obj["disclosures"]
    if not isinstance(texts, list) or len(texts) != len(ATTRIBUTES):
        raise _malformed("an identity file holds five disclosures", "4.3-d")
    disclosures = tuple(parse_disclosure(str(t)) for t in texts)
    if tuple(d.name for d in disclosures) != ATTRIBUTES:
        raise _malformed(f"an identity file lists the attributes in the order {', '.join(ATTRIBUTES)}", "4.3-d")
    decoys = tuple(_hex_list(obj["decoys"], "decoys", "4.3-d"))
    if len(decoys) != DECOY_COUNT:
        raise _malformed(f"an identity file holds {DECOY_COUNT} decoy digests", "4.3-d")
    commitment = bytes.fromhex(str(obj["commitment"]))
    digests = [disclosure_digest(str(t)) for t in texts] + list(decoys)
    if commitment_of(digests) != commitment:
        raise Rejected(
            Rejection(ErrorCode.ATTRIBUTE_MISMATCH, "the identity file does not match its commitment", "4.3-c")
        )
    identity = Identity(disclosures, decoys, commitment)
    if format_identity(identity) != data:
        raise _malformed("the identity file is not in canonical form", "4.3-d")
    return identity


# --- what a member shows ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentityDisclosure:
    """Some attributes, shown (protocol §4.3-e): their disclosures, the digests of everything else (the
    other attributes and the decoys, in ascending order), and the commitment they must give."""

    commitment: bytes
    disclosures: tuple[Disclosure, ...]
    undisclosed: tuple[bytes, ...]

    @property
    def attributes(self) -> Mapping[str, str]:
        return {d.name: d.value for d in self.disclosures}


def disclose(identity: Identity, names: Sequence[str]) -> IdentityDisclosure:
    """Show the attributes `names` of `identity` and nothing else (protocol §4.3-e).

    Raises:
        Rejected: `malformed_encoding` for an unknown or repeated attribute name.
    """
    wanted = list(names)
    if len(set(wanted)) != len(wanted) or any(n not in ATTRIBUTES for n in wanted):
        raise _malformed(f"attributes must be distinct names among {', '.join(ATTRIBUTES)}", "4.3-e")
    shown = tuple(d for d in identity.disclosures if d.name in wanted)
    hidden = [disclosure_digest(format_disclosure(d)) for d in identity.disclosures if d.name not in wanted]
    return IdentityDisclosure(identity.commitment, shown, tuple(sorted([*hidden, *identity.decoys])))


def format_identity_disclosure(disclosure: IdentityDisclosure) -> bytes:
    """The disclosure file: canonical JSON `{"commitment", "disclosures", "format", "undisclosed"}`."""
    return canonical.encode(
        {
            "commitment": disclosure.commitment.hex(),
            "disclosures": [format_disclosure(d) for d in disclosure.disclosures],
            "format": DISCLOSURE_FORMAT,
            "undisclosed": [d.hex() for d in disclosure.undisclosed],
        }
    )


def parse_identity_disclosure(data: bytes) -> IdentityDisclosure:
    """Parse a disclosure file strictly (protocol §4.3-e). It is not checked against its commitment.

    Raises:
        Rejected: `too_large`, `malformed_encoding` (including disclosures not in ATTRIBUTES order, a
            repeated attribute, or undisclosed digests not in ascending order).
    """
    obj = _object(data, {"commitment", "disclosures", "format", "undisclosed"}, DISCLOSURE_FORMAT, "4.3-e")
    texts = obj["disclosures"]
    if not isinstance(texts, list) or len(texts) > len(ATTRIBUTES):
        raise _malformed("a disclosure file holds at most five disclosures", "4.3-e")
    disclosures = tuple(parse_disclosure(str(t)) for t in texts)
    order = [ATTRIBUTES.index(d.name) for d in disclosures]
    if order != sorted(set(order)):
        raise _malformed("disclosures are listed once each, in the order of the attributes", "4.3-e")
    undisclosed = tuple(_hex_list(obj["undisclosed"], "undisclosed", "4.3-e"))
    if list(undisclosed) != sorted(set(undisclosed)):
        raise _malformed("undisclosed digests are listed once each, in ascending order", "4.3-e")
    result = IdentityDisclosure(bytes.fromhex(str(obj["commitment"])), disclosures, undisclosed)
    if format_identity_disclosure(result) != data:
        raise _malformed("the disclosure file is not in canonical form", "4.3-e")
    return result


def check_identity_disclosure(disclosure: IdentityDisclosure, commitment: bytes) -> Rejection | None:
    """Whether `disclosure` opens `commitment` (protocol §4.3-f). Never raises for a mismatch."""
    digests = [disclosure_digest(format_disclosure(d)) for d in disclosure.disclosures]
    digests += disclosure.undisclosed
    if len(digests) != DIGEST_COUNT or len(set(digests)) != DIGEST_COUNT:
        return Rejection(
            ErrorCode.ATTRIBUTE_MISMATCH,
            f"a disclosure must account for {DIGEST_COUNT} distinct digests, it has {len(set(digests))}",
            "4.3-f",
        )
    if disclosure.commitment != commitment:
        return Rejection(ErrorCode.ATTRIBUTE_MISMATCH, "the disclosure is for another identity commitment", "4.3-f")
    if commitment_of(digests) != commitment:
        return Rejection(
            ErrorCode.ATTRIBUTE_MISMATCH, "the disclosed attributes do not match the identity commitment", "4.3-f"
        )
    return None


def verify_identity_disclosure(disclosure: IdentityDisclosure, commitment: bytes) -> Mapping[str, str]:
    """Check `disclosure` against `commitment` and return the disclosed attributes (protocol §4.3-f).

    Raises:
        Rejected: `attribute_mismatch` when an attribute, the digests or the commitment differ.
    """
    if (rejection := check_identity_disclosure(disclosure, commitment)) is not None:
        raise Rejected(rejection)
    return disclosure.attributes
