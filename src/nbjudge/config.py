"""The composed experiment parameters (``params.yaml``) as a file, and running a stage.

Validating them is :func:`nbjudge.params.load_params`; a stage's command line is
:class:`nbjudge.stage.StageCommand`. This module imports nothing of nbjudge but its
errors, paths and offline switches, so that any module may use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from nbjudge.errors import ConfigError, NbjudgeError
from nbjudge.offline import offline
from nbjudge.paths import project_root  # re-exported: stages import it from here

__all__ = [
    "ConfigError",
    "compose_params",
    "project_root",
    "read_params_mapping",
    "run_stage",
    "stage_name",
]


def read_params_mapping(path: str | os.PathLike[str] = "params.yaml") -> dict[str, Any]:
    """``params.yaml`` as plain data, unvalidated (what MLflow logs and the report
    prints verbatim); a missing or unreadable file is a :class:`ConfigError`."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} not found: run `make params` (or `dvc exp run`), which "
                          "composes it from conf/")
    try:
        params = OmegaConf.load(path)
    except Exception as exc:  # omegaconf raises several yaml/grammar errors
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    plain = OmegaConf.to_container(params, resolve=True)
    if not isinstance(plain, dict):
        raise ConfigError(f"{path} is not a mapping of sections: recompose it from conf/ "
                          "with `make params`")
    return {str(key): value for key, value in plain.items()}


def stage_name(main: Callable[..., object]) -> str:
    """The stage ``main`` belongs to: ``stats`` for ``stages.stats``, also when the module
    runs as ``__main__`` (``python -m stages.stats``), whose spec keeps the real name."""
    module = sys.modules.get(main.__module__)
    spec = getattr(module, "__spec__", None)
    name = spec.name if main.__module__ == "__main__" and spec is not None else main.__module__
    return name.rsplit(".", 1)[-1]


def run_stage(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> int:
    """Run a stage's ``main``: 0 when it finishes, 1 with one line for an nbjudge error.

    Only :class:`~nbjudge.errors.NbjudgeError` (whose message names the problem and
    the fix) becomes ``<stage>: error: <message>``; anything else is a bug and
    propagates with its traceback (Python exits 1). litellm and MLflow stay offline
    while it runs (:func:`nbjudge.offline.offline`).
    """
    try:
        with offline():
            main(argv)
    except NbjudgeError as error:
        print(f"{stage_name(main)}: error: {error}", file=sys.stderr)
        return 1
    return 0


def compose_params(output: str | Path = "params.yaml", overrides: list[str] | None = None,
                   config_dir: str | Path = "conf") -> None:
    """Compose ``conf/`` into ``params.yaml`` exactly as ``dvc exp run`` does."""
    from dvc.utils.hydra import compose_and_dump

    config_dir = Path(config_dir).resolve()
    if not (config_dir / "config.yaml").exists():
        raise ConfigError(f"{config_dir}/config.yaml not found: run from the repository root")
    try:
        compose_and_dump(output, str(config_dir), None, "config", str(config_dir.parent),
                         list(overrides or []))
    except Exception as exc:  # hydra raises many exception types for bad overrides
        raise ConfigError(f"cannot compose conf/ with overrides {overrides or []}: {exc}") from None


if __name__ == "__main__":
    try:
        compose_params("params.yaml", sys.argv[1:])
    except ConfigError as error:
        sys.exit(f"error: {error}")
    print("params.yaml composed from conf/" + (f" with {sys.argv[1:]}" if sys.argv[1:] else ""))
