"""How many CPUs this process may really use: its container's CPU limit, not the node's cores.

A container sees every core of its node (`os.cpu_count()`), but Kubernetes enforces a CPU limit
as a CFS quota in its cgroup. Sync Gunicorn workers are CPU-bound, so more workers than the
quota allows only get throttled: a request that is being scored waits out the rest of the
100 ms period, which shows as tail latency.
"""

from __future__ import annotations

import math
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_quota(root: Path) -> float | None:
    """CPUs the CFS quota allows (e.g. 1.5), or None without a quota.

    cgroup v2 writes `<quota> <period>` (quota `max`: none) to cpu.max; cgroup v1 splits them
    into cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us under the cpu controller. Inside a
    container the container's own cgroup is mounted at the root.
    """
    unified = root / "cpu.max"
    if unified.is_file():
        quota, period = unified.read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    legacy = root / "cpu"
    if (legacy / "cpu.cfs_quota_us").is_file():
        quota_us = int((legacy / "cpu.cfs_quota_us").read_text())
        period_us = int((legacy / "cpu.cfs_period_us").read_text())
        return None if quota_us < 0 else quota_us / period_us
    return None


def workers_for_cpu_limit(root: Path, usable_cpus: int) -> int:
    """One sync worker per whole CPU of the quota, no more than the CPUs the process may run
    on (its affinity), and at least one. Rounded down: a half CPU would be a throttled worker."""
    quota = cgroup_cpu_quota(root)
    cpus = usable_cpus if quota is None else min(usable_cpus, math.floor(quota))
    return max(1, cpus)
