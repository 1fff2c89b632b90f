"""Schemathesis against the served app's OpenAPI document, signed in as an admin: no input it
can make up may produce a server error (5xx)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.process import ServeProcess

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 30


def test_no_generated_request_makes_a_server_error(tmp_path: Path) -> None:
    # Generated connector definitions name brokers and servers anywhere: they are stored and
    # checked, but this server runs no connector, so nothing reaches past this machine.
    server = ServeProcess(
        tmp_path / "data",
        {"SHOPFLOOR_AUTH_RATE_LIMIT": "100000/minute", "SHOPFLOOR_RUN_CONNECTORS": "false"},
    )
    server.start()
    try:
        token = server.admin_headers()["Authorization"]
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{server.base_url}/api/v1/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--phases",
                "examples,coverage,fuzzing",
                "--header",
                f"Authorization: {token}",
                "--seed",
                "20261129",
                "--request-timeout",
                "30",
                # Signing oneself out or changing one's own password mid-run would leave the
                # rest of the run unauthenticated, testing nothing but the 401.
                "--exclude-path-regex",
                "^/api/v1/auth/(logout|password)$",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,  # its cache of crashes goes there, not into the checkout
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-6000:]
        print(output[-3000:])
        # Schemathesis sums up how many test cases it generated; a run of none proves nothing.
        cases = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) generated", output)]
        assert cases and sum(cases) >= 500, output[-3000:]
        assert "Server error" not in output
    finally:
        server.stop()
