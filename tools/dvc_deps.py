"""Write the dependency lists of ``dvc.yaml`` that follow from the code: ``make deps``.

For every stage, the code ``deps`` are the nbjudge modules ``stages/<name>.py`` runs
(:func:`declared_code`), after the stage's own entry point: a subpackage's folder
where the stage runs at least :data:`FOLDER_SHARE` of its modules, the modules
themselves otherwise. A folder is one column of ``dvc exp show`` where its modules
were one each (89 code columns became 32 when this was introduced); the price is that
the stage also reruns when a module of that package it does not run changes. The
other ``deps`` (data, rubrics, prompts) and their comments stay as written.
The ``params`` of the stages listed in :data:`RESULT_PARAM_STAGES` are every
parameter but the run-only ones (:mod:`nbjudge.run_params`). The rest of the
file is left byte for byte as it is.

    python -m tools.dvc_deps            rewrite dvc.yaml
    python -m tools.dvc_deps --check    exit 1, naming the stale stages, if it would change
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq

from nbjudge.run_params import result_param_keys
from tools.import_graph import PACKAGE, ROOT, closure

__all__ = ["FOLDER_SHARE", "RESULT_PARAM_STAGES", "declared_code", "is_code", "render",
           "stale_stages"]

DVC_YAML = ROOT / "dvc.yaml"
PARAMS_YAML = ROOT / "params.yaml"
# Stages that show or log the whole configuration rather than read a few sections.
RESULT_PARAM_STAGES = ("report", "track")
SOURCE = PACKAGE.parent.relative_to(ROOT).as_posix()  # "src"
# A subpackage whose modules a stage runs at least this share of is declared as its folder.
FOLDER_SHARE = 0.5


def _yaml() -> YAML:
    round_trip = YAML()
    round_trip.indent(mapping=2, sequence=4, offset=2)
    round_trip.width = 4096  # never re-wrap a line the file wraps by hand
    round_trip.preserve_quotes = True
    return round_trip


def is_code(path: str, root: Path = ROOT) -> bool:
    """A module, or a folder that is a Python package, under src/."""
    if not path.startswith(f"{SOURCE}/"):
        return False
    return path.endswith(".py") or (root / path / "__init__.py").exists()


def declared_code(entry: Path) -> list[str]:
    """The code dependencies dvc.yaml declares for the stage ``entry`` runs: the folder of
    each subpackage of which it runs at least :data:`FOLDER_SHARE` of the modules
    (subpackages included), the modules it runs elsewhere; repository-relative, sorted.
    Every module the stage runs is inside one of them (tests/test_dvc_graph.py)."""
    files = closure(Path(entry))
    listed: list[str] = []

    def visit(folder: Path, top: bool) -> None:
        modules = sorted(folder.rglob("*.py"))
        run = [m for m in modules if m in files]
        if not run:
            return
        if not top and len(run) >= FOLDER_SHARE * len(modules):
            listed.append(folder.relative_to(ROOT).as_posix())
            return
        listed.extend(m.relative_to(ROOT).as_posix() for m in sorted(folder.glob("*.py"))
                      if m in files)
        for sub in sorted(p for p in folder.iterdir() if (p / "__init__.py").exists()):
            visit(sub, top=False)

    visit(PACKAGE, top=True)
    return sorted(listed)


def _path(entry: Any) -> str:
    """A deps entry is a path, or a mapping of one path to its options."""
    return str(next(iter(entry))) if isinstance(entry, Mapping) else str(entry)


def _code_deps(name: str, deps: CommentedSeq) -> CommentedSeq:
    entry = f"stages/{name}.py"
    kept = [(i, item) for i, item in enumerate(deps)
            if _path(item) != entry and not is_code(_path(item))]
    code = declared_code(ROOT / entry)
    comments = {_path(item): deps.ca.items[i]
                for i, item in enumerate(deps) if i in deps.ca.items}
    written = CommentedSeq([entry, *code, *(item for _, item in kept)])
    for i, item in enumerate(written):
        if _path(item) in comments:
            written.ca.items[i] = comments[_path(item)]
    return written


def render(dvc_yaml: str, params: Mapping[str, Any]) -> str:
    """``dvc_yaml`` with its generated lists rewritten from the code and ``params``."""
    round_trip = _yaml()
    pipeline = round_trip.load(dvc_yaml)
    for name, stage in pipeline["stages"].items():
        if not (ROOT / "stages" / f"{name}.py").exists():
            raise SystemExit(f"dvc.yaml stage {name!r} has no stages/{name}.py: a stage's "
                             "command is `python -m stages.<its name>`")
        stage["deps"] = _code_deps(name, stage["deps"])
        if name in RESULT_PARAM_STAGES:
            stage["params"] = CommentedSeq(result_param_keys(params))
    out = io.StringIO()
    round_trip.dump(pipeline, out)
    return out.getvalue()


def stale_stages(current: str, written: str) -> list[str]:
    """Stages whose deps or params differ between two versions of dvc.yaml."""
    before = yaml.safe_load(current)["stages"]
    after = yaml.safe_load(written)["stages"]
    return sorted(name for name in after
                  if {k: before.get(name, {}).get(k) for k in ("deps", "params")}
                  != {k: after[name].get(k) for k in ("deps", "params")})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if dvc.yaml is stale")
    args = parser.parse_args(argv)
    if not PARAMS_YAML.exists():
        sys.exit(f"{PARAMS_YAML.name} not found: run `make params` first")
    current = DVC_YAML.read_text(encoding="utf-8")
    written = render(current, yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8")))
    if written == current:
        print("dvc.yaml: dependencies up to date")
        return 0
    stale = stale_stages(current, written) or ["(layout only)"]
    if args.check:
        print(f"dvc.yaml is stale in {', '.join(stale)}: run `make deps`", file=sys.stderr)
        return 1
    DVC_YAML.write_text(written, encoding="utf-8")
    print(f"dvc.yaml: rewrote the dependencies of {', '.join(stale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
