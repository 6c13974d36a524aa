"""No import cycle among nbjudge's modules.

A cycle forces someone to hide an import inside a function (so that it runs
after both modules exist) and makes the import order matter; the graph here
counts those hidden imports too, so a cycle cannot be dodged that way. An
edge goes to every module an import runs: ``from nbjudge.llm.cache import X``
runs ``nbjudge.llm.cache`` and, from outside ``nbjudge.llm``, the package's
``__init__`` first (from inside, the package is already being imported);
``from nbjudge.llm import cache`` runs the module ``nbjudge.llm.cache``, while
``from nbjudge.llm import LLMConfig`` runs only the package."""

import ast
import graphlib
from pathlib import Path

from tools.import_graph import PACKAGE, module_file

SRC = PACKAGE.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def needed_modules(path: Path) -> set[str]:
    """The nbjudge modules the imports of ``path`` need, inside functions too."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    needed: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            needed.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                needed.add(submodule if module_file(submodule) is not None else base)
    # Importing a.b.c runs a and a.b first, unless the importer is inside them.
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
    needed |= {".".join(m.split(".")[:i]) for m in needed for i in range(1, m.count(".") + 1)}
    return {m for m in needed - ancestors if m != name and module_file(m) is not None}


def import_graph() -> dict[str, set[str]]:
    """Each nbjudge module and the nbjudge modules it needs."""
    return {module_name(path): needed_modules(path) for path in sorted(PACKAGE.rglob("*.py"))}


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def test_no_module_imports_itself_through_others():
    cycle = cycle_in(import_graph())
    assert cycle is None, (
        f"import cycle: {' -> '.join(cycle or [])}. Move what these modules share into one "
        "that imports none of them (as nbjudge.llm.config holds the llm settings)")


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    graph = import_graph()
    assert "nbjudge.llm.backends" in graph["nbjudge.__main__"]   # inside a function
    assert "nbjudge.llm.config" in graph["nbjudge.llm.backends"]
    assert "nbjudge.llm" not in graph["nbjudge.llm.backends"]   # its own package
    assert "nbjudge.llm" in graph["nbjudge.judges.batch"]       # runs llm/__init__.py first


def test_a_cycle_is_found():
    assert set(cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) or []) == {"a", "b", "c"}
    assert cycle_in({"a": {"b"}, "b": set()}) is None
