"""Gunicorn's default worker count follows the container's CPU limit, not the node's cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.loopback import GunicornService
from service.cpu_limit import cgroup_cpu_quota, workers_for_cpu_limit


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max + "\n")
    return root


def cgroup_v1(root: Path, quota_us: int, period_us: int = 100_000) -> Path:
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(f"{period_us}\n")
    return root


@pytest.mark.parametrize(
    ("cpu_max", "cpus"),
    [("200000 100000", 2.0), ("150000 100000", 1.5), ("50000 100000", 0.5), ("max 100000", None)],
)
def test_cgroup_v2_quota_is_read_from_cpu_max(tmp_path: Path, cpu_max: str, cpus) -> None:
    assert cgroup_cpu_quota(cgroup_v2(tmp_path, cpu_max)) == cpus


@pytest.mark.parametrize(
    ("quota_us", "period_us", "cpus"),
    [(400_000, 100_000, 4.0), (25_000, 50_000, 0.5), (-1, 100_000, None)],
)
def test_cgroup_v1_quota_is_read_from_the_cpu_controller(
    tmp_path: Path, quota_us: int, period_us: int, cpus
) -> None:
    assert cgroup_cpu_quota(cgroup_v1(tmp_path, quota_us, period_us)) == cpus


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None


@pytest.mark.parametrize(
    ("cpu_max", "usable", "workers"),
    [
        ("200000 100000", 16, 2),  # a 2-CPU limit on a 16-core node: 2, not 16
        ("150000 100000", 16, 1),  # rounded down: a half CPU would be a throttled worker
        ("50000 100000", 16, 1),  # under one CPU still serves
        ("800000 100000", 2, 2),  # a quota above the cores the process may run on
        ("max 100000", 3, 3),  # no limit: the usable CPUs
    ],
)
def test_workers_follow_the_quota_within_the_usable_cpus(
    tmp_path: Path, cpu_max: str, usable: int, workers: int
) -> None:
    assert workers_for_cpu_limit(cgroup_v2(tmp_path, cpu_max), usable) == workers


def test_without_cgroup_files_workers_are_the_usable_cpus(tmp_path: Path) -> None:
    assert workers_for_cpu_limit(tmp_path, 4) == 4
    assert workers_for_cpu_limit(cgroup_v1(tmp_path, 300_000), 8) == 3


@pytest.mark.slow
def test_gunicorn_without_web_concurrency_starts_one_worker_per_usable_cpu(
    tmp_path: Path, model_card_path: Path
) -> None:
    """Pinned to one CPU (as a container's cpuset would), the real config starts 1 worker
    however many cores the machine has; this machine has no CPU quota (checked)."""
    assert cgroup_cpu_quota(Path("/sys/fs/cgroup")) is None
    service = GunicornService(tmp_path, model_card_path, workers=1)
    del service.env["WEB_CONCURRENCY"]
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(affinity)})  # Gunicorn inherits it
    try:
        service.start()
    finally:
        os.sched_setaffinity(0, affinity)
    try:
        # Gunicorn forks every worker at once; the first has loaded the model by now.
        children = Path(f"/proc/{service.process.pid}/task/{service.process.pid}/children")
        assert len(children.read_text().split()) == 1
    finally:
        service.stop()
