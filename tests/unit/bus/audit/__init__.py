"""Unit tests of the audit log core: Merkle tree, proofs, signed notes, checkpoints."""
