"""Parameters that change how a run goes, not what it computes.

``execute.workers`` sets how many notebooks run at once; the executed notebooks,
the judgments and every statistic are the same for any value. The stages that
summarise the whole experiment (``report``, ``track``) therefore neither show nor
log these keys, and ``dvc.yaml`` lists every other parameter for them
(``make deps`` writes the list from :func:`result_param_keys`), so that changing
one of them re-renders no report and logs no new MLflow run.

Only sections whose keys are the same under every Hydra option are split: a key
listed in ``dvc.yaml`` that the composed ``params.yaml`` lacks stops ``dvc repro``,
and the ``llm`` group's options differ in their keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RUN_ONLY", "result_param_keys", "result_params"]

RUN_ONLY: tuple[str, ...] = (
    "execute.workers",     # notebooks executed at once
    "execute.engine",      # where they run (this machine or a Dask cluster)
    "execute.address",     # the Dask scheduler
    "execute.cache_dir",   # where finished runs are kept for a resumed stage
    "judge.cache_dir",     # where answers are kept for a resumed stage
)


def _run_only_children(section: str) -> set[str]:
    return {key.partition(".")[2] for key in RUN_ONLY if key.partition(".")[0] == section}


def result_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without the :data:`RUN_ONLY` keys (plain containers in, plain out)."""
    kept: dict[str, Any] = {}
    for section, value in params.items():
        dropped = _run_only_children(section)
        if dropped and isinstance(value, Mapping):
            value = {key: item for key, item in value.items() if key not in dropped}
        kept[section] = value
    return kept


def result_param_keys(params: Mapping[str, Any]) -> list[str]:
    """The dotted keys ``dvc.yaml`` lists for a stage that reads :func:`result_params`:
    whole sections, and the other keys of a section that holds a run-only key."""
    keys: list[str] = []
    for section, value in params.items():
        dropped = _run_only_children(section)
        if dropped and isinstance(value, Mapping):
            keys.extend(f"{section}.{key}" for key in value if key not in dropped)
        else:
            keys.append(section)
    return keys
