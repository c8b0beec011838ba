"""SHA-512 crypt (``$6$``), the password hash HAProxy's userlist checks with crypt(3).

Written out here because Python 3.13 (Debian 13) has no ``crypt`` module and
Salt then needs passlib: the formula hashes with the standard library alone.
The algorithm is Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512"
(the one glibc implements), with the default 5000 rounds.
"""

from __future__ import annotations

import hashlib

ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ROUNDS = 5000
MAX_SALT = 16
# The order in which the 64 digest bytes are packed into the 86 output characters.
_BYTE_TRIPLES = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
)  # fmt: skip


def _repeat(digest: bytes, length: int) -> bytes:
    """``digest`` repeated and cut to ``length`` bytes (the P and S sequences)."""
    return (digest * (length // len(digest) + 1))[:length]


def _to64(value: int, count: int) -> str:
    chars = []
    for _ in range(count):
        chars.append(ITOA64[value & 0x3F])
        value >>= 6
    return "".join(chars)


def sha512_crypt(password: str, salt: str) -> str:
    """``$6$<salt>$<hash>`` of ``password`` (UTF-8), as glibc's crypt(3) computes it.

    ``salt``: up to 16 characters of ``[./0-9A-Za-z]`` (longer ones are cut, as crypt does).
    """
    salt = salt[:MAX_SALT]
    if not salt or any(c not in ITOA64 for c in salt):
        raise ValueError("the salt must be 1-16 characters of [./0-9A-Za-z]")
    key, salt_bytes = password.encode(), salt.encode()

    alternate = hashlib.sha512(key + salt_bytes + key).digest()
    first = hashlib.sha512(key + salt_bytes + _repeat(alternate, len(key)))
    length = len(key)
    while length:
        first.update(alternate if length & 1 else key)
        length >>= 1
    digest = first.digest()

    p_bytes = _repeat(hashlib.sha512(key * len(key)).digest(), len(key))
    s_bytes = _repeat(hashlib.sha512(salt_bytes * (16 + digest[0])).digest(), len(salt_bytes))

    for round_number in range(ROUNDS):
        step = hashlib.sha512(p_bytes if round_number & 1 else digest)
        if round_number % 3:
            step.update(s_bytes)
        if round_number % 7:
            step.update(p_bytes)
        step.update(digest if round_number & 1 else p_bytes)
        digest = step.digest()

    encoded = "".join(_to64((digest[a] << 16) | (digest[b] << 8) | digest[c], 4) for a, b, c in _BYTE_TRIPLES)
    return f"$6${salt}${encoded}{_to64(digest[63], 2)}"
