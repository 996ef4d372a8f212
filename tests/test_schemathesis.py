"""schemathesis against the service's own OpenAPI document: at least 1,000 generated cases,
no server error, every response as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_generated_requests_find_no_server_error_and_no_undocumented_response(
    gunicorn_service,
) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run",
         f"{gunicorn_service.url}/openapi.json", "--checks", "all", "--max-examples", "600",
         "--workers", "2", "--seed", "1", "--no-color"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    generated = int(re.search(r"(\d+) generated", result.stdout).group(1))
    assert generated >= 1000, summary
