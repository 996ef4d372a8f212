"""The documentation's commands are true: every `bash` block of the README and of docs/ says
whether it runs here, and those that do are run, in a fresh copy of the repository after the
README's `make repro`, in the order a reader meets them (docs/testing.md).

Markers, on the line before a block: `<!-- runs -->` (run here), `<!-- long: … -->` (where it
runs instead; docs/testing.md names it) and `<!-- example: … -->` (what it needs that a test
machine does not have). A `# {...}` line in a block that runs is the JSON a command of it prints.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.loopback import VENV_BIN
from tests.conftest import copy_repository
from workspace.layout import REPO_ROOT

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
# The order the README's "Where next" leads a reader through the runnable ones.
RUN_ORDER = ["README.md", "pipeline.md", "registry.md", "service.md", "live-comparison.md"]
MARKER = re.compile(r"<!-- (runs|long|example)(?:: (.+?))? -->")
BLOCK_SECONDS = 600


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    kind: str | None  # runs, long, example; None when unmarked
    note: str
    code: str

    def __str__(self) -> str:
        return f"{self.document.relative_to(REPO_ROOT)}:{self.line}"


def bash_blocks(document: Path) -> list[Block]:
    """The document's ```bash blocks, with the marker on the line before each."""
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != "```bash":
            continue
        end = next(i for i in range(number + 1, len(lines)) if lines[i].strip() == "```")
        marker = MARKER.fullmatch(lines[number - 1].strip()) if number else None
        kind, note = (marker.group(1), marker.group(2) or "") if marker else (None, "")
        blocks.append(Block(document, number + 1, kind, note, "\n".join(lines[number + 1 : end])))
    return blocks


ALL_BLOCKS = [block for document in DOCUMENTS for block in bash_blocks(document)]


def test_every_command_block_says_whether_it_runs_here() -> None:
    assert len(ALL_BLOCKS) > 10
    unmarked = [str(block) for block in ALL_BLOCKS if block.kind is None]
    assert not unmarked, f"bash blocks without <!-- runs|long|example --> before them: {unmarked}"
    assert all(block.note for block in ALL_BLOCKS if block.kind in ("long", "example"))


def test_the_long_blocks_are_named_in_docs_testing() -> None:
    testing = (REPO_ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    for block in ALL_BLOCKS:
        if block.kind == "long":
            name = "README" if block.document.name == "README.md" else block.document.stem
            assert re.search(rf"^ *\| {name}\b", testing, re.MULTILINE), str(block)


def test_the_runnable_blocks_are_in_the_documents_run_in_order() -> None:
    files = {block.document.name for block in ALL_BLOCKS if block.kind == "runs"}
    assert files <= set(RUN_ORDER), files - set(RUN_ORDER)


def run_block(block: Block, repo: Path, env: dict[str, str], log: Path) -> tuple[int, str, str]:
    """The block under bash -euo pipefail in its own session; whatever it left running in the
    background (a server) is stopped afterwards. Its exit status, stdout and stderr."""
    out, err = log.with_suffix(".out"), log.with_suffix(".err")
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=repo,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            status = process.wait(timeout=BLOCK_SECONDS)
        finally:
            stop_session(process.pid)
    return status, out.read_text(), err.read_text()


def stop_session(group: int, seconds: float = 30) -> None:
    """TERM to every process of the block's session, KILL to what outlives `seconds`."""
    for sig, wait in ((signal.SIGTERM, seconds), (signal.SIGKILL, 10)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def printed_json(stdout: str) -> list[dict]:
    """The JSON objects a block printed, each on its own line (curl's may lack the newline)."""
    objects = []
    for line in stdout.replace("}{", "}\n{").splitlines():
        if line.startswith("{"):
            objects.append(json.loads(line))
    return objects


@pytest.mark.slow
def test_the_runnable_blocks_run_on_a_fresh_copy_after_make_repro(tmp_path: Path) -> None:
    repo = copy_repository(tmp_path / "repo")
    # `make` uses this environment's venv (installed from the same lock) instead of building one
    # in the copy: older lock files than its .installed stamp, and its directory named.
    for name in ("requirements/dev.txt", "setup.cfg"):
        os.utime(repo / name, (1e9, 1e9))
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "DVC_"))
    }
    env |= {"PATH": f"{VENV_BIN}{os.pathsep}{env['PATH']}", "MAKEFLAGS": f"VENV={VENV_BIN.parent}"}
    logs = tmp_path / "logs"
    logs.mkdir()
    repro = subprocess.run(["make", "repro"], cwd=repo, env=env, capture_output=True, text=True)
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    order = {name: index for index, name in enumerate(RUN_ORDER)}
    runnable = [block for block in ALL_BLOCKS if block.kind == "runs"]
    runnable.sort(key=lambda block: (order[block.document.name], block.line))
    assert runnable[0].document.name == "README.md"
    for index, block in enumerate(runnable):
        status, stdout, stderr = run_block(block, repo, env, logs / f"{index}")
        assert status == 0, f"{block} exited {status}:\n{stdout[-2000:]}\n{stderr[-3000:]}"
        expected = [
            json.loads(line[2:]) for line in block.code.splitlines() if line.startswith("# {")
        ]
        printed = printed_json(stdout)
        for answer in expected:
            assert answer in printed, f"{block}: printed {printed}, documented {answer}"
