"""The environment is an input too: exact, hashed locks that `make install` and the image
install from, that still satisfy setup.cfg's ranges, and a vulnerability gate on them."""

from __future__ import annotations

import ast
import configparser
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import repo_files
from tools.audit import Finding, parse
from workspace.layout import REPO_ROOT

DEV_LOCK = REPO_ROOT / "requirements" / "dev.txt"
SERVICE_LOCK = REPO_ROOT / "requirements" / "service.txt"
MLFLOW_LOCK = REPO_ROOT / "requirements" / "mlflow.txt"  # the tracking server's image
BACKUP_LOCK = REPO_ROOT / "requirements" / "backup.txt"  # the backup image


def lock_pins(path: Path) -> dict[str, tuple[str, int]]:
    """A pip-compile lock as name -> (version, number of hashes)."""
    pins = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement, *hashes = line.split("--hash=sha256:")
            name, _, pinned = requirement.strip().partition("==")
            pins[canonicalize_name(name)] = (pinned, len(hashes))
    return pins


def setup_cfg_requirements() -> dict[str, list[Requirement]]:
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    groups = {"install_requires": config["options"]["install_requires"]}
    groups |= dict(config["options.extras_require"])
    return {
        group: [Requirement(line) for line in text.strip().splitlines() if line.strip()]
        for group, text in groups.items()
    }


@pytest.mark.parametrize(
    "lock",
    [DEV_LOCK, SERVICE_LOCK, MLFLOW_LOCK, BACKUP_LOCK],
    ids=["dev", "service", "mlflow", "backup"],
)
def test_every_locked_package_is_pinned_exactly_with_hashes(lock: Path) -> None:
    pins = lock_pins(lock)
    assert len(pins) >= 5
    loose = {name: pin for name, pin in pins.items() if not pin[0] or pin[1] == 0}
    assert not loose, f"{lock.name}: pins without an exact version or a hash: {loose}"


def test_the_locks_satisfy_setup_cfg_and_the_service_lock_is_the_dev_locks_subset() -> None:
    """Editing setup.cfg without `make lock` shows here; tests run what the image ships."""
    dev, service = lock_pins(DEV_LOCK), lock_pins(SERVICE_LOCK)
    for group, requirements in setup_cfg_requirements().items():
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in dev, f"{group}: {requirement} is not in {DEV_LOCK.name}: make lock"
            assert requirement.specifier.contains(dev[name][0]), (group, requirement, dev[name])
    versions = {name: pin[0] for name, pin in dev.items()}.items()
    assert {name: pin[0] for name, pin in service.items()}.items() <= versions
    assert not service.keys() & {"mlflow", "dvc", "pandas", "pyarrow", "pytest"}
    # The tracking server's image runs the MLflow the pipeline and the tests use.
    assert {name: pin[0] for name, pin in lock_pins(MLFLOW_LOCK).items()}.items() <= versions
    # The backup image copies the bucket with the boto3 the restore drill tests.
    assert {name: pin[0] for name, pin in lock_pins(BACKUP_LOCK).items()}.items() <= versions


def test_make_install_installed_exactly_the_dev_lock() -> None:
    mismatched = {}
    for name, (pinned, _) in lock_pins(DEV_LOCK).items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            mismatched[name] = (pinned, installed)
    assert not mismatched, f"installed versions differ from {DEV_LOCK.name}: {mismatched}"


def pip_audit_output(*dependencies: dict) -> dict:
    return {"dependencies": list(dependencies), "fixes": []}


def test_the_audit_fails_on_a_finding_that_has_a_fixed_version() -> None:
    report = parse(
        pip_audit_output(
            {"name": "flask", "version": "3.1.3", "vulns": []},
            {
                "name": "jinja2",
                "version": "3.1.4",
                "vulns": [{"id": "GHSA-q2x7-8rv6-6q7h", "fix_versions": ["3.1.5"]}],
            },
        )
    )
    assert report.findings == [Finding("jinja2", "3.1.4", "GHSA-q2x7-8rv6-6q7h", ("3.1.5",))]
    assert report.exit_status == 1


def test_the_audit_reports_but_does_not_gate_findings_without_a_fix() -> None:
    unfixed = {"id": "PYSEC-0000-1", "fix_versions": []}
    report = parse(pip_audit_output({"name": "x", "version": "1.0", "vulns": [unfixed]}))
    assert len(report.findings) == 1 and report.exit_status == 0


def test_the_audit_fails_when_a_package_could_not_be_audited() -> None:
    skipped = {"name": "requests", "skip_reason": "Dependency not found on PyPI"}
    report = parse(pip_audit_output(skipped))
    assert report.exit_status == 2 and report.not_audited == [
        "requests: Dependency not found on PyPI"
    ]


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported by the project's Python files (not the standard library's,
    nor the project's own packages) -> the files importing them."""
    local = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")}
    imported: dict[str, set[str]] = {}
    for name in repo_files():
        if not name.endswith(".py"):
            continue
        tree = ast.parse((REPO_ROOT / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    imported.setdefault(top, set()).add(name)
    return imported


def test_every_third_party_import_is_declared_in_setup_cfg() -> None:
    """A package that arrives only as another's dependency can vanish with that one's update."""
    declared = {
        canonicalize_name(requirement.name)
        for requirements in setup_cfg_requirements().values()
        for requirement in requirements
    }
    distributions = packages_distributions()
    undeclared = {
        module: sorted(files)
        for module, files in third_party_imports().items()
        if not {canonicalize_name(d) for d in distributions.get(module, [module])} & declared
    }
    assert not undeclared, f"imported but not declared in setup.cfg: {undeclared}"


def test_system_packages_installs_without_recommendations_but_what_is_needed_of_them(
    tmp_path: Path,
) -> None:
    """On a bare machine (no program on PATH), .ci/system-packages asks apt for the suite's
    packages without their recommendations (Chromium's bring printing and desktop services),
    naming the few recommended ones the suite needs."""
    for program in ("id", "env"):
        (tmp_path / program).symlink_to(shutil.which(program))
    (tmp_path / "apt-get").write_text('#!/bin/bash\necho "apt-get $*"\n')
    (tmp_path / "apt-get").chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(REPO_ROOT / ".ci" / "system-packages")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    install = next(line for line in result.stdout.splitlines() if " install " in line).split()
    assert "--no-install-recommends" in install
    for package in ("podman", "chromium", "debootstrap", "netavark", "slirp4netns",
                    "debian-archive-keyring", "prometheus-alertmanager", "wrk"):  # fmt: skip
        assert package in install, package
