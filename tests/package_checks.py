"""Checks every package test shares: its public surface and the imports it allows."""

import ast
import importlib
from collections.abc import Iterable, Iterator
from pathlib import Path

LLM_AND_TRACKING = ("mlflow", "dspy", "litellm", "openai", "anthropic", "stages")


def assert_reexports(package: str, modules: Iterable[str]) -> None:
    """``package.__all__`` is exactly the union of its modules' ``__all__``."""
    top = importlib.import_module(package)
    exported: set[str] = set()
    for name in modules:
        module = importlib.import_module(f"{package}.{name}")
        assert module.__all__, f"{name} has an empty __all__"
        exported.update(module.__all__)
    assert sorted(top.__all__) == sorted(exported)
    for name in top.__all__:
        assert getattr(top, name) is not None


def public_modules(package_dir: Path) -> list[str]:
    return sorted(p.stem for p in package_dir.glob("*.py") if not p.stem.startswith("_"))


def imported_modules(path: Path, *, top_level_only: bool = False) -> Iterator[str]:
    """Absolute imports of a file (all of them, or those at module level only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def assert_imports_only_schemas(package_dir: Path) -> None:
    """No judge, LLM client or MLflow; nothing from nbjudge but the record schemas."""
    for path in package_dir.glob("*.py"):
        for module in imported_modules(path):
            root = module.split(".")[0]
            assert root not in LLM_AND_TRACKING, f"{path.name} imports {module}"
            if root == "nbjudge":
                assert module == "nbjudge.schemas", f"{path.name} imports {module}"
