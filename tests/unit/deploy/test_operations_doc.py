"""``docs/operations.md`` carries the current generated configuration reference and metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.cli import main
from interop.config_reference import generated_blocks, update
from interop.settings import SettingsError

DOC = Path(__file__).resolve().parents[3] / "docs" / "operations.md"


def test_the_committed_operations_page_is_current() -> None:
    """Regenerating changes nothing; else run `interop config reference --write`."""
    text = DOC.read_text(encoding="utf-8")
    assert update(text) == text, "run: interop config reference --write docs/operations.md"


def test_the_reference_names_every_section_and_hides_secrets() -> None:
    """Security settings, nested gateway keys, topics config and metrics are all listed;
    a secret's default is never printed."""
    blocks = generated_blocks()
    reference = blocks["config-reference"]
    for key in (
        "`INTEROP__KAFKA__SASL_PASSWORD`",
        "`INTEROP__GATEWAY__HTTP__PORT`",
        "`INTEROP__CONNECTOR__AUDIT_DIGEST_KEY`",
        "`audit.retention_ms`",
    ):
        assert key in reference
    store_row = next(r for r in reference.splitlines() if r.startswith("| `gateway.store_url`"))
    assert "sqlite" not in store_row
    assert "(secret)" in store_row
    assert "`interop_gateway_http_requests_total` | counter" in blocks["metrics"]


def test_check_fails_on_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--check`` exits 1 when a generated block differs, and ``--write`` repairs it."""
    stale = tmp_path / "operations.md"
    stale.write_text(
        DOC.read_text(encoding="utf-8").replace("`INTEROP__GATEWAY__HTTP__PORT`", "`OLD`")
    )
    assert main(["config", "reference", "--check", str(stale)]) == 1
    assert "is stale" in capsys.readouterr().err
    assert main(["config", "reference", "--write", str(stale)]) == 0
    assert main(["config", "reference", "--check", str(stale)]) == 0


def test_a_page_without_the_markers_is_refused() -> None:
    """Writing into a page that lost its markers is an error, not a silent no-op."""
    with pytest.raises(SettingsError, match="no <!-- BEGIN GENERATED config-reference"):
        update("# a page without markers\n")
