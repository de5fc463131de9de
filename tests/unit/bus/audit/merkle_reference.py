"""A naive RFC 9162 Merkle tree, straight from the recursive definitions of section 2.1.

The oracle the real implementations are tested against: no bit tricks, no loops that need
an argument to be right. It shares nothing with ``bus.audit.merkle`` but SHA-256, so a bug
in the module cannot hide in both. ``Reference`` memoises subtree hashes per range only so
that exhaustive sweeps over hundreds of tree sizes stay fast; the recursion is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache


def ref_leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def ref_node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1), by counting up."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Reference:
    """MTH, PATH and PROOF of RFC 9162 over fixed leaf hashes ``D``."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.d = tuple(leaf_hashes)
        self.mth = cache(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) (2.1.1)."""
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.d[lo]
        k = _k(n)
        return ref_node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def root(self, size: int) -> bytes:
        """Root of the tree of the first ``size`` leaves."""
        return self.mth(0, size)

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi]) (2.1.3.1): the inclusion proof of leaf lo+m."""
        n = hi - lo
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """Inclusion proof of ``index`` in the tree of ``size``."""
        return self.path(index, 0, size)

    def subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[lo:hi], b) (2.1.4.1)."""
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = _k(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]

    def consistency(self, old: int, new: int) -> list[bytes]:
        """PROOF(old, D[0:new]) = SUBPROOF(old, D[0:new], true)."""
        return self.subproof(old, 0, new, True)


def ref_verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2, step by step as the RFC words it."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = ref_node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = ref_node_hash(r, p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def ref_verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2 for 0 < first < second, step by step as the RFC words it."""
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = ref_node_hash(c, fr)
            sr = ref_node_hash(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            sr = ref_node_hash(sr, c)
        fn //= 2
        sn //= 2
    return fr == first_hash and sr == second_hash and sn == 0
