"""The nbjudge modules a stage runs: the import closure of ``stages/<name>.py``.

Every ``import`` counts, those inside functions too (they run when the stage
does), and importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py``
first. DVC must rerun a stage when any of these files changes, so
``dvc.yaml`` lists exactly them: whole package folders where the stage runs
every module of the package, single files otherwise.

    python -m tools.import_graph          prints each stage's code dependencies
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "nbjudge"


def module_file(name: str) -> Path | None:
    """The file of module ``name`` under src/, or None when it is not nbjudge's."""
    if name != "nbjudge" and not name.startswith("nbjudge."):
        return None
    base = SRC.joinpath(*name.split("."))
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _module_name(path: Path) -> str:
    root = SRC if path.is_relative_to(SRC) else ROOT
    relative = path.relative_to(root).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


@functools.cache  # each stage's walk parses the same shared modules again
def _imported_names(path: Path) -> frozenset[str]:
    """Absolute module names ``path`` imports (``from x import y`` may import x.y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else \
        _module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def closure(entry: Path) -> set[Path]:
    """Every nbjudge file that running ``entry`` may execute."""
    seen: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        path = todo.pop()
        for name in _imported_names(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                found = module_file(".".join(parts[:i]))
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


def code_dependencies(entry: Path) -> list[str]:
    """``closure(entry)`` as dvc.yaml lists it: a package folder when every module of it
    (subpackages included) runs, its files otherwise; repository-relative, sorted."""
    files = closure(Path(entry))
    listed: list[str] = []

    def visit(folder: Path) -> None:
        modules = sorted(folder.rglob("*.py"))
        if modules and all(m in files for m in modules):
            listed.append(folder.relative_to(ROOT).as_posix())
            return
        for module in sorted(folder.glob("*.py")):
            if module in files:
                listed.append(module.relative_to(ROOT).as_posix())
        for sub in sorted(p for p in folder.iterdir() if (p / "__init__.py").exists()):
            visit(sub)

    visit(PACKAGE)
    return sorted(listed)


if __name__ == "__main__":
    for stage in sorted((ROOT / "stages").glob("[!_]*.py")):
        print(f"{stage.stem}:")
        for dependency in code_dependencies(stage):
            print(f"  - {dependency}")
    sys.exit(0)
