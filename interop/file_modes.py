"""Files the project writes hold secrets or personal data: owner-only, always.

Gateway and connector configs hold keys (``audit_digest_key``, signing keys, SCRAM
passwords); ``gateway.db`` holds results and consents; the reply store holds what
registries answered; Kafka's and PostgreSQL's data directories hold requests. So the
``interop`` command runs with umask ``077`` (files 0600, directories 0700, inherited by the
broker and database it starts), and ``tighten`` brings an existing state directory (made by
an older version) to the same modes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["PRIVATE_UMASK", "private_umask", "tighten"]

PRIVATE_UMASK: Final = 0o077


def private_umask() -> None:
    """Make every file and directory this process (and its children) creates owner-only."""
    os.umask(PRIVATE_UMASK)


def tighten(root: Path) -> None:
    """``root`` and everything under it: files 0600 (0700 if executable), dirs 0700."""
    if not root.exists():
        return
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if path.is_dir():
            os.chmod(path, 0o700)
        else:
            os.chmod(path, 0o700 if mode & 0o100 else 0o600)
