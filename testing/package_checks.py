"""Checks the package tests share: the imports each package allows."""

import ast
from collections.abc import Iterator
from pathlib import Path

LLM_AND_TRACKING = ("mlflow", "dspy", "litellm", "openai", "anthropic", "stages")


def imported_modules(path: Path, *, top_level_only: bool = False) -> Iterator[str]:
    """Absolute imports of a file (all of them, or those at module level only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def assert_imports_only_schemas(package_dir: Path, also: tuple[str, ...] = ()) -> None:
    """No judge, LLM client or MLflow; nothing from nbjudge but the record schemas
    (and the pure packages named in ``also``)."""
    allowed = ("nbjudge.schemas", *also)
    for path in package_dir.glob("*.py"):
        for module in imported_modules(path):
            root = module.split(".")[0]
            assert root not in LLM_AND_TRACKING, f"{path.name} imports {module}"
            if root == "nbjudge":
                assert module.startswith(allowed), f"{path.name} imports {module}"
