"""The CycloneDX bill of materials of a locked requirements file, checked complete.

    python -m tools.sbom requirements/service.txt --out sbom.json

The release workflow runs it on the image's lock (requirements/service.txt: exactly what the
image installs, with hashes) and keeps the SBOM with the release record (tools.promote --sbom).
cyclonedx-py writes it; this then requires every package the lock pins to be a component at
the pinned version, and exits 1 naming any that is missing or differs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from workspace.commands import CommandError, run_command

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def normalized(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: Path) -> dict[str, str]:
    return {normalized(name): version for name, version in PIN.findall(requirements.read_text())}


def write_sbom(requirements: Path, out: Path) -> dict[str, str]:
    """Write the SBOM of `requirements` to `out`; its components' versions by name."""
    result = subprocess.run(
        [sys.executable, "-m", "cyclonedx_py", "requirements", str(requirements),
         "--output-format", "JSON", "--output-file", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise CommandError(f"cyclonedx-py failed on {requirements}: {result.stderr.strip()}")
    bom = json.loads(out.read_text())
    return {normalized(item["name"]): item.get("version", "") for item in bom["components"]}


def check_complete(locked: dict[str, str], components: dict[str, str]) -> None:
    wrong = [
        f"{name}=={version} (SBOM: {components.get(name) or 'absent'})"
        for name, version in sorted(locked.items())
        if components.get(name) != version
    ]
    if wrong:
        raise CommandError(f"the SBOM does not list the locked {', '.join(wrong)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", type=Path, help="a locked requirements file")
    parser.add_argument("--out", type=Path, default=Path("sbom.json"))
    args = parser.parse_args(argv)
    locked = pinned(args.requirements)
    check_complete(locked, write_sbom(args.requirements, args.out))
    print(f"{args.out}: CycloneDX SBOM, all {len(locked)} packages of {args.requirements}")


if __name__ == "__main__":
    run_command(main)
