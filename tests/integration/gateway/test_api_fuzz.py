"""schemathesis fuzzes the served OpenAPI document against a real gateway.

The gateway runs in this test's event loop on a real port, with a provider on the real
broker; schemathesis runs as its own process (its CLI), generates valid and invalid
requests from ``/v1/openapi.json`` and checks every answer: no 5xx, status codes,
content types, headers and bodies as the document declares them. A failure prints
schemathesis's report, which names the operation and the reproducing request.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tests.integration.gateway.support import start_gateway

# The checks that judge our answers. Left out: ``positive_data_acceptance`` (a valid body
# for an unknown service is still a 404: the catalogue, not the schema, decides), the
# checks that need resources linked across operations (stateful phase), and
# ``ignored_auth`` (its probe needs the security scheme to be the only way in; the
# public routes are public on purpose).
_CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
    ]
)
_TIMEOUT_S = 240.0


async def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_document(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    async with start_gateway(
        kafka_bootstrap,
        tmp_path,
        unique_name,
        # Short deadlines keep a fuzzed `Prefer: wait` from holding a worker for long.
        exchanges={"max_wait_s": 2.0, "expiry_interval_s": 0.2},
        rate_limit={"rate_per_s": 10_000.0, "burst": 10_000},
    ) as gw:
        schemathesis = Path(sys.executable).with_name("schemathesis")
        process = await asyncio.create_subprocess_exec(
            str(schemathesis),
            "run",
            f"{gw.base_url}/v1/openapi.json",
            "--checks",
            _CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261123",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            "--no-color",
            "-H",
            f"Authorization: Bearer {gw.api_key}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
        )
        try:
            async with asyncio.timeout(_TIMEOUT_S):
                output, _ = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        report = output.decode("utf-8", errors="replace")
        assert process.returncode == 0, report
        # It really ran: the summary counts the operations it tested.
        assert "Operations:" in report or "operations" in report.lower(), report
        # The batch routes are in the document, so they are fuzzed like the rest.
        assert "/v1/batches/{id}/results" in report, report
        # It reached the core: the document's per-service examples passed consent, the
        # data/subject check and the schema, and were sent to the provider.
        served = {envelope.service for envelope in gw.provider.requests}
        assert served == {gw.cat.residence, gw.cat.income}, report
