"""SHA-512 crypt without Python's crypt module, against glibc's own results."""

from __future__ import annotations

import pytest

from tests.unit.loader import library

crypt = library("prereqos_crypt")

# Drepper's reference vector, then hashes glibc's crypt(3) computed for awkward
# passwords (recorded on Debian 12 with Python 3.11's crypt module:
# crypt.crypt(password, "$6$0123456789abcdef$")).
VECTORS = [
    (
        "Hello world!",
        "saltstring",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    ),
    (
        "",
        "0123456789abcdef",
        "$6$0123456789abcdef$F2ysjt5Ng5qVz2/gDtbz.ycdictosXpZ7Xsgu8PlbAws/.ekNFWz9XrSKXBI0tVYfdxX.nsVfGs7qe4jMrOWH0",
    ),
    (
        "a",
        "0123456789abcdef",
        "$6$0123456789abcdef$qn2kMgR/Cs9pZI2hZfok3cbi0oHyRjH7NUyfGhPKp6EBvlZWbL3JMmASYlyEBxhP4jB3zti0119AKDkHdAVHI0",
    ),
    (
        " '\"\\$`#;!&|<>(){}*?~%@^ ü€",
        "0123456789abcdef",
        "$6$0123456789abcdef$sd8.qHJet/paFw88AUsZ/Z4k.HEGsUZmT95OqXhvJgD346bTCK9KOl3/rcR5IckMj9T7r3DQzKAgMEpj9rA230",
    ),
    (
        "x" * 200,
        "0123456789abcdef",
        "$6$0123456789abcdef$Rru0YcJdWAfylTzYkMBaHfdgEjT2jeUewuTfATTJEn/Inu1Ma3JNgneCwDVl2NaWmkgDKZzdSV8VisQ10exaF.",
    ),
    (
        "pässwörd-ẞ-😀",
        "0123456789abcdef",
        "$6$0123456789abcdef$zid1o.cY4L.UtuP3SJIifZMVSZiJfjsLtbWiNrjJjsaiJM6uSx1qcRiUK5zFY4m87rc4HEInSTFELhYelagpv0",
    ),
]


@pytest.mark.parametrize(("password", "salt", "expected"), VECTORS)
def test_same_hash_as_glibc(password: str, salt: str, expected: str) -> None:
    assert crypt.sha512_crypt(password, salt) == expected


def test_salt_is_checked() -> None:
    with pytest.raises(ValueError, match="salt"):
        crypt.sha512_crypt("pw", "bad salt!")
    assert crypt.sha512_crypt("pw", "a" * 20).startswith("$6$" + "a" * 16 + "$")
