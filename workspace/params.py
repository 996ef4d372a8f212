"""params.yaml: one section per stage (or tool), read as a frozen params type whose fields are
the section's keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from workspace.commands import CommandError
from workspace.layout import PARAMS_FILE

Params = TypeVar("Params")


def load_params(section: str, params_file: Path = PARAMS_FILE) -> dict[str, Any]:
    """One section of params.yaml."""
    with Path(params_file).open(encoding="utf-8") as handle:
        params = yaml.safe_load(handle) or {}
    if section not in params:
        raise CommandError(f"{params_file}: missing section '{section}'")
    return params[section]


def stage_params(
    params_type: type[Params], section: str, params_file: Path = PARAMS_FILE
) -> Params:
    """A section of params.yaml as its frozen params type. A missing or misspelled key is a
    one-line CommandError naming it, not a TypeError traceback."""
    values = load_params(section, params_file)
    declared = dataclasses.fields(params_type)
    required = [f.name for f in declared if f.default is dataclasses.MISSING]
    where = f"{Path(params_file).name} {section}"
    check_keys(values, [f.name for f in declared], required, where)
    return params_type(**values)


def check_keys(
    values: Mapping[str, Any], declared: Sequence[str], required: Iterable[str], where: str
) -> None:
    """A CommandError naming every unknown and missing key of a params mapping."""
    unknown = sorted(set(values) - set(declared))
    missing = sorted(set(required) - set(values))
    if unknown or missing:
        problems = [f"unknown key '{key}'" for key in unknown]
        problems += [f"missing key '{key}'" for key in missing]
        raise CommandError(f"{where}: {'; '.join(problems)} (expected: {', '.join(declared)})")
