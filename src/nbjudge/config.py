"""Reading the composed experiment parameters (``params.yaml``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = [
    "ConfigError",
    "as_plain",
    "compose_params",
    "load_params",
    "project_root",
    "run_stage",
]


class ConfigError(ValueError):
    """The parameters are missing or malformed; the message says how to fix them."""


def load_params(path: str | Path = "params.yaml", *sections: str) -> DictConfig:
    """Load ``params.yaml`` and check that ``sections`` are present."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} not found: run `make params` (or `dvc exp run`), which "
                          "composes it from conf/")
    try:
        params = OmegaConf.load(path)
    except Exception as exc:  # omegaconf raises several yaml/grammar errors
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(params, DictConfig):
        raise ConfigError(f"{path} is not a mapping of sections: recompose it from conf/ "
                          "with `make params`")
    missing = [s for s in sections if s not in params]
    if missing:
        raise ConfigError(f"{path} has no {', '.join(missing)} section: recompose it from "
                          "conf/ with `make params`")
    return params


def run_stage(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> int:
    """Run a stage's ``main``; a known problem exits 1 with its message, no traceback.

    Every nbjudge error about bad input (records, configuration, suites,
    notebooks, label files) is a ``ValueError`` whose message names the
    problem and the fix, and every exception class nbjudge defines (a server
    that did not start, a backend that keeps failing, no Chromium for the
    PDF) says the same; anything else is a bug and keeps its traceback.
    """
    stage = main.__module__.rsplit(".", 1)[-1]
    try:
        main(argv)
    except (ValueError, FileNotFoundError) as error:
        print(f"{stage}: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if not type(error).__module__.startswith("nbjudge."):
            raise
        print(f"{stage}: error: {error}", file=sys.stderr)
        return 1
    return 0


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The repository folder, also from inside a queued experiment's temporary copy."""
    path = Path(start or Path.cwd()).resolve()
    parts = path.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return path


def as_plain(node: Any) -> Any:
    """A DictConfig/ListConfig as plain Python containers."""
    if isinstance(node, DictConfig) or OmegaConf.is_list(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


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
