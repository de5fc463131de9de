"""Golden Merkle vectors ported from transparency-dev/merkle (Apache License 2.0).

Sources, all from github.com/transparency-dev/merkle:

* ``testonly/constants.go``: the eight RFC 6962 test leaves (``LeafInputs``), every
  perfect subtree hash over them (``NodeHashes``) and the roots of sizes 0..8
  (``RootHashes``). The same leaves and roots appear in the certificate-transparency
  test data.
* ``rfc6962/rfc6962_test.go``: the leaf and node hash vectors (``TestRFC6962Hasher``).
* ``proof/verify_test.go``: the inclusion and consistency proofs (``inclusionProofs``,
  ``consistencyProofs``), the probes that must be refused (``corruptInclusionProof``,
  ``corruptConsistencyProof``) and the edge cases of ``TestVerifyInclusion``,
  ``TestVerifyInclusionSingleEntry`` and ``TestVerifyConsistency``.
* ``testonly/reference_test.go``: ``TestRefInclusionProof`` and ``TestRefConsistencyProof``.

Where the Go verifier accepts something DESIGN.md refuses, the difference is named at
the test.
"""

from __future__ import annotations

import pytest

from bus.audit.errors import MerkleError
from bus.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)


def h(hex_digest: str) -> bytes:
    """Bytes of a hex string."""
    return bytes.fromhex(hex_digest)


LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAVES = [leaf_hash(entry) for entry in LEAF_INPUTS]

# NodeHashes(): [level][index].
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# RootHashes(): index = tree size.
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# verify_test.go inclusionProofs, as (0-based index, size, proof); Go stores 1-based leaves.
# TestRefInclusionProof adds (0, 2), (1, 2), (2, 3), (1, 5), (0, 8), (5, 8).
INCLUSION = [
    (0, 1, []),
    (0, 8, [NODE_HASHES[0][1], NODE_HASHES[1][1], NODE_HASHES[2][1]]),
    (5, 8, [NODE_HASHES[0][4], NODE_HASHES[1][3], NODE_HASHES[2][0]]),
    (2, 3, [NODE_HASHES[1][0]]),
    (1, 5, [NODE_HASHES[0][0], NODE_HASHES[1][1], NODE_HASHES[0][4]]),
    (0, 2, [NODE_HASHES[0][1]]),
    (1, 2, [NODE_HASHES[0][0]]),
]
# verify_test.go consistencyProofs (and TestRefConsistencyProof): (old, new, proof).
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def test_inclusion_table_matches_go_hex() -> None:
    """The node-table spelling of the (0, 8) and (5, 8) proofs is Go's hex, verbatim."""
    assert INCLUSION[1][2] == [
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ]
    assert INCLUSION[2][2] == [
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]


def test_hasher_vectors() -> None:
    """TestRFC6962Hasher: empty root, empty leaf, a leaf and a node hash are bit-exact."""
    assert h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == EMPTY_ROOT
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    """TestRFC6962HasherCollisions: a node is no leaf of its children's concatenation."""
    a, b = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert a != b
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) != node_hash(b, a)


def test_leaf_hashes_are_the_level_zero_node_hashes() -> None:
    """NodeHashes()[0] are the leaf hashes of LeafInputs()."""
    assert NODE_HASHES[0] == LEAVES


@pytest.mark.parametrize("size", range(9))
def test_roots_of_every_prefix(size: int) -> None:
    """RootHashes(): the root of each prefix of the eight test leaves, empty tree included."""
    assert root(LEAVES[:size]) == ROOTS[size]


@pytest.mark.parametrize("level", range(4))
def test_perfect_subtree_hashes(level: int) -> None:
    """NodeHashes(): every perfect subtree of the 8-leaf tree hashes as published."""
    width = 1 << level
    got = [root(LEAVES[i * width : (i + 1) * width]) for i in range(8 // width)]
    assert got == NODE_HASHES[level]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    """inclusionProofs: generated proofs are the published ones, and they verify."""
    assert inclusion_proof(LEAVES[:size], index) == proof
    assert verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


def _corrupt_inclusion(index: int, size: int, proof: list[bytes]) -> list[tuple[object, ...]]:
    """corruptInclusionProof: (description, leaf, index, size, proof, root) to refuse."""
    leaf, good_root = LEAVES[index], ROOTS[size]
    probes: list[tuple[object, ...]] = [
        ("index - 1", leaf, index - 1, size, proof, good_root),
        ("index + 1", leaf, index + 1, size, proof, good_root),
        ("index ^ 2", leaf, index ^ 2, size, proof, good_root),
        ("size * 2", leaf, index, size * 2, proof, good_root),
        ("size // 2", leaf, index, size // 2, proof, good_root),
        ("wrong leaf", b"WrongLeaf", index, size, proof, good_root),
        ("empty root", leaf, index, size, proof, EMPTY_ROOT),
        ("random root", leaf, index, size, proof, SOME_HASH),
        ("trailing garbage", leaf, index, size, [*proof, b""], good_root),
        ("trailing root", leaf, index, size, [*proof, good_root], good_root),
        ("preceding garbage", leaf, index, size, [b"", *proof], good_root),
        ("preceding root", leaf, index, size, [good_root, *proof], good_root),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((f"modified proof[{i}] bit 3", leaf, index, size, wrong, good_root))
    if proof:
        probes.append(("removed component", leaf, index, size, proof[:-1], good_root))
    if len(proof) > 1:
        inserted = [proof[0], SOME_HASH, *proof[1:]]
        probes.append(("inserted component", leaf, index, size, inserted, good_root))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_corrupted_inclusion_proofs_are_refused(index: int, size: int, proof: list[bytes]) -> None:
    """verifierCheck: every corruption of a good inclusion proof is refused."""
    accepted = [
        probe[0]
        for probe in _corrupt_inclusion(index, size, proof)
        if verify_inclusion(*probe[1:])  # type: ignore[arg-type]
    ]
    assert accepted == []


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_edge_probes(index: int, size: int) -> None:
    """TestVerifyInclusion probes: empty root or leaf, or an index outside the tree, fail."""
    assert not verify_inclusion(SOME_HASH, index, size, [], b"")
    assert not verify_inclusion(b"", index, size, [], EMPTY_ROOT)
    assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


def test_inclusion_single_entry() -> None:
    """TestVerifyInclusionSingleEntry: root == leaf verifies; empty (short) hashes do not."""
    single = leaf_hash(b"data")
    assert verify_inclusion(single, 0, 1, [], single)
    assert not verify_inclusion(b"", 0, 1, [], single)
    assert not verify_inclusion(single, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], b"")


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    """consistencyProofs: generated proofs are the published ones, and they verify."""
    assert consistency_proof(LEAVES[:new], old) == proof
    assert verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_are_refused(old: int, new: int, proof: list[bytes]) -> None:
    """corruptConsistencyProof: every corruption of a good consistency proof is refused."""
    r1, r2 = ROOTS[old], ROOTS[new]
    probes: list[tuple[object, ...]] = [
        ("size1 - 1", old - 1, new, r1, r2, proof),
        ("size1 + 1", old + 1, new, r1, r2, proof),
        ("size1 ^ 2", old ^ 2, new, r1, r2, proof),
        ("size2 * 2", old, new * 2, r1, r2, proof),
        ("size2 // 2", old, new // 2, r1, r2, proof),
        ("wrong root1", old, new, b"WrongRoot", r2, proof),
        ("wrong root2", old, new, r1, b"WrongRoot", proof),
        ("swapped roots", old, new, r2, r1, proof),
        ("empty proof", old, new, r1, r2, []),
        ("trailing garbage", old, new, r1, r2, [*proof, b""]),
        ("trailing root1", old, new, r1, r2, [*proof, r1]),
        ("trailing root2", old, new, r1, r2, [*proof, r2]),
        ("preceding garbage", old, new, r1, r2, [b"", *proof]),
        ("preceding root1", old, new, r1, r2, [r1, *proof]),
        ("preceding root2", old, new, r1, r2, [r2, *proof]),
        ("preceding proof[0]", old, new, r1, r2, [proof[0], *proof]),
        ("truncated proof", old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((f"modified proof[{i}] bit 4", old, new, r1, r2, wrong))
    accepted = [p[0] for p in probes if verify_consistency(*p[1:])]  # type: ignore[arg-type]
    assert accepted == []


ROOT1, ROOT2 = b"don't care 1", b"don't care 2"


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "verdict"),
    [
        # TestVerifyConsistency, with 32-byte stand-ins where Go's "don't care" roots would
        # fail our 32-byte rule for a reason other than the one the case is about.
        (1, 1, SOME_HASH, EMPTY_ROOT, [], False),
        (1, 1, SOME_HASH, SOME_HASH, [], True),
        (1, 0, SOME_HASH, EMPTY_ROOT, [], False),
        (2, 1, SOME_HASH, EMPTY_ROOT, [], False),
        (1, 2, SOME_HASH, EMPTY_ROOT, [], False),
        (1, 1, EMPTY_ROOT, SOME_HASH, [], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 0, EMPTY_ROOT, SOME_HASH, [], False),
        # Go accepts these; DESIGN.md refuses every proof from size 0, and every
        # non-32-byte root, however "equal".
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], False),
        (0, 1, ROOT1, ROOT2, [], False),
        (0, 0, ROOT1, ROOT1, [], False),
        (1, 1, ROOT2, ROOT2, [], False),
    ],
)
def test_consistency_edge_cases(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], verdict: bool
) -> None:
    """TestVerifyConsistency's table, with the strictness DESIGN.md adds."""
    assert verify_consistency(old, new, old_root, new_root, proof) is verdict


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (3, 0), (8, 7), (-1, 3)])
def test_inclusion_proof_of_a_leaf_outside_the_tree_raises(index: int, size: int) -> None:
    """TestInclusion's error cases: generation raises a MerkleError, never a bare error."""
    with pytest.raises(MerkleError):
        inclusion_proof(LEAVES[:size], index)


@pytest.mark.parametrize(("old", "new"), [(5, 0), (9, 8), (0, 3), (0, 0), (-1, 3)])
def test_consistency_proof_for_impossible_sizes_raises(old: int, new: int) -> None:
    """TestConsistency's error cases, and the refused proof from size 0."""
    leaves = [leaf_hash(bytes([i])) for i in range(new)]
    with pytest.raises(MerkleError):
        consistency_proof(leaves, old)
