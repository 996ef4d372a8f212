"""Scan the lock files for known vulnerabilities (pip-audit) and gate on fixable ones.

    python -m tools.audit [requirements/dev.txt requirements/service.txt]

Runs `pip-audit` on each lock exactly as pinned (`--no-deps --disable-pip`: no resolution, so
what is audited is what installs), prints every finding, and exits
- 1 when a finding has a fixed version (upgrade it: `make lock`),
- 2 when a package could not be audited (the vulnerability service was unreachable, or it does
  not know the package): an audit that did not run is not a pass,
- 0 otherwise; findings with no fix yet are reported, not gated.
Needs the network (PyPI's vulnerability data): CI's `audit` job runs it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LOCKS = (Path("requirements/dev.txt"), Path("requirements/service.txt"))


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    vulnerability: str
    fixed_in: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    not_audited: list[str]  # "name version: why"

    @property
    def exit_status(self) -> int:
        if any(finding.fixed_in for finding in self.findings):
            return 1
        return 2 if self.not_audited else 0


def parse(pip_audit_json: dict) -> Report:
    """pip-audit's `--format json` output as findings and packages it could not audit."""
    findings, not_audited = [], []
    for dependency in pip_audit_json["dependencies"]:
        if "skip_reason" in dependency:
            not_audited.append(f"{dependency['name']}: {dependency['skip_reason']}")
            continue
        for vulnerability in dependency.get("vulns", []):
            findings.append(
                Finding(
                    dependency["name"],
                    dependency["version"],
                    vulnerability["id"],
                    tuple(vulnerability.get("fix_versions", [])),
                )
            )
    return Report(findings, not_audited)


def audit(lock: Path) -> Report:
    executable = shutil.which("pip-audit")
    if executable is None:
        raise SystemExit("error: pip-audit is not installed (it is in the dev extra)")
    command = [executable, "--format", "json", "--progress-spinner", "off"]
    command += ["--no-deps", "--disable-pip", "--require-hashes", "-r", str(lock)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return parse(json.loads(result.stdout))
    except (json.JSONDecodeError, KeyError):
        raise SystemExit(f"error: pip-audit failed on {lock}: {result.stderr.strip()}") from None


def describe(lock: Path, report: Report) -> list[str]:
    lines = []
    for finding in report.findings:
        fix = ", ".join(finding.fixed_in) or "no fix yet"
        lines.append(
            f"{lock}: {finding.package} {finding.version}: {finding.vulnerability} ({fix})"
        )
    lines += [f"{lock}: not audited: {reason}" for reason in report.not_audited]
    return lines or [f"{lock}: no known vulnerabilities"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locks", nargs="*", type=Path, default=list(LOCKS))
    args = parser.parse_args(argv)
    status = 0
    for lock in args.locks:
        report = audit(lock)
        print("\n".join(describe(lock, report)))
        status = max(status, report.exit_status)
    return status


if __name__ == "__main__":
    sys.exit(main())
