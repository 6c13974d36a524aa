"""The public surface of nbjudge.alignment and the boundaries it keeps."""

import ast
import importlib
from pathlib import Path

import nbjudge.alignment

PACKAGE = Path(nbjudge.alignment.__file__).parent
# The pure modules are re-exported; memalign, crossval and final drive MLflow and
# are imported by name, so `import nbjudge.alignment` stays light.
MODULES = ["audit", "folds", "leakage"]
MLFLOW_MODULES = {"memalign.py", "crossval.py", "final.py"}


def test_package_reexports_every_public_name():
    exported = set()
    for name in MODULES:
        module = importlib.import_module(f"nbjudge.alignment.{name}")
        assert module.__all__, f"{name} has an empty __all__"
        exported.update(module.__all__)
    assert sorted(nbjudge.alignment.__all__) == sorted(exported)
    for name in nbjudge.alignment.__all__:
        assert getattr(nbjudge.alignment, name) is not None


def module_level_imports(path):
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_no_mlflow_llm_client_or_blueprint_at_module_level():
    forbidden = ("mlflow", "dspy", "litellm", "openai", "anthropic", "stages")
    for path in PACKAGE.glob("*.py"):
        if path.name in MLFLOW_MODULES:
            continue
        for module in module_level_imports(path):
            assert module.split(".")[0] not in forbidden, f"{path.name} imports {module}"
            assert not module.startswith("nbjudge.benchmark"), f"{path.name} imports {module}"
        assert "Blueprint" not in path.read_text(encoding="utf-8"), path.name
