"""dvc.yaml cannot drift from the code: each stage lists the modules it runs (a
package's folder where it runs at least half of the package), and every path its
command names is declared.

A stage whose code dependency is missing from dvc.yaml is reported up to date
by `dvc repro` after that code changed, which a reproducibility tool must
never do; a dependency it does not run makes it rerun for nothing. `make deps`
(tools/dvc_deps.py) writes these lists; the files a stage opens at run time are
checked by tests/test_pipeline.py.
"""

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from nbjudge.run_params import RUN_ONLY
from tools import dvc_deps
from tools.dvc_deps import FOLDER_SHARE, declared_code, is_code
from tools.import_graph import PACKAGE, ROOT, closure, code_dependencies

DVC_YAML = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
PIPELINE = yaml.safe_load(DVC_YAML)["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
SOURCE = PACKAGE.parent.relative_to(ROOT).as_posix()  # "src"
WRITTEN = dvc_deps.render(DVC_YAML, PARAMS)  # what `make deps` would write


def _paths(entries) -> list[str]:
    """Paths of a deps/outs list (an entry may be a mapping of path to options)."""
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


@pytest.mark.parametrize("name", sorted(PIPELINE))
def test_code_dependencies_cover_the_modules_the_stage_runs(name):
    """Every module the stage runs is declared, itself or inside a declared package folder;
    a declared module is run, and a declared folder has at least FOLDER_SHARE of its modules
    run (less would rerun the stage for code it never runs)."""
    stage = PIPELINE[name]
    entry = ROOT / "stages" / f"{name}.py"
    listed = _paths(stage["deps"])
    assert f"stages/{name}.py" in listed, f"{name}: its own entry point is not a dependency"
    declared = sorted(p for p in listed if is_code(p))
    run = {m.relative_to(ROOT).as_posix() for m in closure(entry)}
    missing = sorted(m for m in run
                     if not any(m == d or m.startswith(f"{d}/") for d in declared))
    assert not missing, f"dvc.yaml stage {name!r}: missing {missing}; run `make deps`"
    for path in declared:
        if path.endswith(".py"):
            assert path in run, f"dvc.yaml stage {name!r}: {path} is not run by the stage"
            continue
        modules = [m.relative_to(ROOT).as_posix() for m in (ROOT / path).rglob("*.py")]
        share = sum(m in run for m in modules) / len(modules)
        assert share >= FOLDER_SHARE, (
            f"dvc.yaml stage {name!r}: runs {share:.0%} of {path}; run `make deps`")
    assert declared == declared_code(entry), f"{name}: run `make deps`"


# `dvc exp show` lists one column per distinct dependency path of the pipeline (and one per
# metric and param): the code's share of them is kept small by declaring package folders.
MAX_CODE_COLUMNS = 40


def _dependency_columns() -> set[str]:
    return {path for stage in PIPELINE.values() for path in _paths(stage["deps"])}


def test_exp_show_has_few_code_dependency_columns():
    code = sorted(p for p in _dependency_columns() if p.startswith(f"{SOURCE}/"))
    assert len(code) <= MAX_CODE_COLUMNS, (
        f"{len(code)} code dependency columns in `dvc exp show` (at most {MAX_CODE_COLUMNS}): "
        "declare package folders (tools/dvc_deps.py FOLDER_SHARE)")


@pytest.mark.slow
def test_exp_show_columns_are_these(tmp_path: Path):
    """In a clone, `dvc exp show` has exactly the dependency columns counted above."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    shown = subprocess.run([str(ROOT / ".venv/bin/dvc"), "exp", "show", "--csv"], cwd=clone,
                           capture_output=True, text=True, check=True).stdout
    header = shown.splitlines()[0].split(",")
    code = {h for h in header if h.startswith(f"{SOURCE}/")}
    assert code == {p for p in _dependency_columns() if p.startswith(f"{SOURCE}/")}


def test_dvc_yaml_is_what_make_deps_writes():
    """Order and comments too: `make deps` on a checkout must leave `git status` clean."""
    stale = dvc_deps.stale_stages(DVC_YAML, WRITTEN)
    assert WRITTEN == DVC_YAML, f"dvc.yaml is stale in {stale or 'its layout'}: run `make deps`"


def test_rendering_keeps_data_deps_and_their_comments():
    stages = yaml.safe_load(WRITTEN)["stages"]
    for name, stage in PIPELINE.items():
        data = [d for d in _paths(stage["deps"]) if not is_code(d)]
        assert [d for d in _paths(stages[name]["deps"]) if not is_code(d)] == data
    assert "# labels=mlflow: the grades' digest" in WRITTEN


@pytest.mark.parametrize("name", dvc_deps.RESULT_PARAM_STAGES)
def test_report_and_track_depend_on_every_param_but_the_run_only_ones(name):
    """Changing execute.workers must not re-render the report or log a new MLflow run;
    any other parameter must."""
    listed = set(PIPELINE[name]["params"])
    assert not listed & set(RUN_ONLY)
    for section, value in PARAMS.items():
        children = {f"{section}.{key}" for key in value} if isinstance(value, dict) else set()
        assert section in listed or children - set(RUN_ONLY) <= listed, section


@pytest.mark.parametrize("name", sorted(PIPELINE))
def test_every_path_in_the_command_is_declared(name):
    stage = PIPELINE[name]
    declared = set(_paths(stage.get("deps"))) | set(_paths(stage.get("outs")))
    declared |= set(_paths(stage.get("metrics")))
    words = shlex.split(stage["cmd"])
    named = [w for w in words if re.match(r"^(data|reports)/", w)]
    assert named, f"{name}: the command names no path; paths belong in `cmd`"
    undeclared = [p for p in named
                  if not any(p == d or p.startswith(f"{d}/") for d in declared)]
    assert not undeclared, f"dvc.yaml stage {name!r}: {undeclared} not in deps or outs"


def test_the_graph_walk_sees_lazy_and_relative_imports():
    """The walk must follow imports inside functions (the writer is imported only
    with generate=llm) and relative ones (a package's __init__)."""
    generate = code_dependencies(ROOT / "stages" / "generate.py")
    assert f"{SOURCE}/nbjudge/writer" in generate
    report = code_dependencies(ROOT / "stages" / "report.py")
    assert f"{SOURCE}/nbjudge/report" in report
    # The typed parameters validate the llm section (llm/config.py, a leaf): nothing
    # else of the LLM layer runs.
    settings = {f"{SOURCE}/nbjudge/llm/__init__.py", f"{SOURCE}/nbjudge/llm/config.py"}
    assert not any("judges" in p or "llm" in p for p in set(report) - settings)
