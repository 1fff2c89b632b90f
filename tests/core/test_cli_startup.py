"""A misconfigured command stops at start-up with one clear line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHOPFLOOR_DEFAULT_DETECTOR": "crystal-ball"}, "unknown detector 'crystal-ball'"),
        ({"SHOPFLOOR_SMTP_SECURITY": "maybe"}, "SHOPFLOOR_SMTP_SECURITY"),
    ],
)
def test_bad_settings_end_the_worker_with_a_message(tmp_path, env, message):
    environment = {**os.environ, "SHOPFLOOR_DATA_DIR": str(tmp_path), **env}
    done = subprocess.run(
        [sys.executable, "-m", "shopfloor", "worker"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
