"""The arms of a comparison: ``compare.arms`` in ``params.yaml`` (``conf/compare/``).

Each arm is one source of notebooks for the same test cases, several per case:

- ``import``: a folder of one agent build's notebooks (``path``), read as ``generate=import``
  reads one; each notebook is matched to a case by ``mapping`` (a YAML file of notebook file
  name -> case id), else by the case id the folder's ``cases.yaml`` or the notebook's
  metadata names, else by name (the longest known case id that starts the notebook's file
  name: ``titanic_survival__3.ipynb`` is case ``titanic_survival``).
- ``llm``: a writer model and its settings (the fields of ``generate`` with ``backend: llm``:
  ``writer``, ``notebooks_per_case``, ``temperature``, ``seeds``, ...).
- ``procedural``: ``levels`` (probabilities of levels 1, 2, 3, by default and per dimension),
  ``notebooks_per_case`` and ``seed`` (default: the experiment's).

One arm is the reference (``compare.reference``, default the first); every other arm is
compared with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError

from nbjudge.errors import ConfigError
from nbjudge.params import (
    CompareParams,
    LevelParams,
    LlmGenerateParams,
    Positive,
    Section,
)

__all__ = ["ARM_BACKENDS", "Arm", "ImportArm", "LlmArm", "ProceduralArm", "parse_arms",
           "reference_arm"]

ARM_BACKENDS = ("import", "llm", "procedural")
# Arm names become notebook-id prefixes (``<arm>__<notebook>``), MLflow run names and
# metric keys: letters, digits, '_' and '-', no double underscore.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class ProceduralArm(Section):
    """An arm of procedural notebooks: runnable code at drawn levels (known truth)."""

    backend: Literal["procedural"]
    levels: LevelParams = Field(default_factory=LevelParams)
    notebooks_per_case: Positive | None = None   # None: the case's count
    seed: int | None = None                      # None: the experiment's seed


class ImportArm(Section):
    """An arm of imported notebooks (one agent build's folder)."""

    backend: Literal["import"]
    path: str
    mapping: str | None = None    # YAML: notebook file name -> case id


class LlmArm(LlmGenerateParams):
    """An arm written by a model (``generate`` with ``backend: llm``, without ``input``)."""

    backend: Literal["llm"]
    input: str = ""


ArmSettings = ProceduralArm | ImportArm | LlmArm
_MODELS: dict[str, type[ArmSettings]] = {
    "procedural": ProceduralArm, "import": ImportArm, "llm": LlmArm}


@dataclass(frozen=True)
class Arm:
    """One arm: its name, backend and validated settings."""

    name: str
    settings: ArmSettings

    @property
    def backend(self) -> str:
        return self.settings.backend

    def params(self) -> dict[str, str]:
        """The arm's settings flattened for an MLflow run (no secret: an llm arm's writer
        names the environment variable of its key, never the key)."""
        flat: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, Mapping):
                for key, item in value.items():
                    walk(f"{prefix}.{key}" if prefix else str(key), item)
            else:
                flat[prefix] = str(value)[:500]

        walk("", self.settings.model_dump(mode="json", exclude_none=True))
        flat.pop("input", None)
        return {key: value for key, value in flat.items()
                if not re.search(r"(api_?key|token|secret|password)$", key, re.I)
                or key.endswith("_env")}


def _problems(error: ValidationError, prefix: str) -> str:
    clauses = []
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            clauses.append(f"unknown key `{path}`")
        elif item["type"] == "missing":
            clauses.append(f"`{path}` is required")
        else:
            clauses.append(f"`{path}`: {message} (got {item.get('input')!r})")
    return "; ".join(clauses)


def parse_arms(compare: CompareParams | None) -> tuple[Arm, ...]:
    """The arms of ``compare`` in the order declared, each checked against its backend's
    fields; () when there are none (the comparison is off). Raises :class:`ConfigError`
    naming the arm and key."""
    if compare is None or not compare.arms:
        return ()
    arms = []
    for name, raw in compare.arms.items():
        where = f"compare.arms.{name}"
        if not _NAME.fullmatch(name) or "__" in name:
            raise ConfigError(f"{where}: an arm name may hold letters, digits, '_' and '-' "
                              "(no '__'), starting with a letter or digit; rename it")
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a mapping with `backend` "
                              f"({' | '.join(ARM_BACKENDS)}) and its settings; got {raw!r}")
        backend = raw.get("backend")
        if backend not in _MODELS:
            raise ConfigError(f"{where}.backend: expected one of {', '.join(ARM_BACKENDS)}; got "
                              f"{backend!r}")
        try:
            settings = _MODELS[backend].model_validate(dict(raw))
        except ValidationError as error:
            raise ConfigError(f"{_problems(error, where)}. Fix conf/compare/ (or the -S "
                              "override)") from None
        arms.append(Arm(name, settings))
    if len(arms) < 2:
        raise ConfigError(f"compare.arms has {len(arms)} arm ({arms[0].name}): a comparison "
                          "needs at least two, a reference and a candidate")
    reference_arm(arms, compare.reference)
    return tuple(arms)


def reference_arm(arms: tuple[Arm, ...] | list[Arm], reference: str | None) -> str:
    """The reference arm's name: ``reference``, or the first arm."""
    names = [arm.name for arm in arms]
    if reference is None:
        return names[0]
    if reference not in names:
        raise ConfigError(f"compare.reference is {reference!r}, which is not an arm; the arms "
                          f"are {', '.join(names)}")
    return reference
