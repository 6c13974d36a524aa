"""Each package's public surface is exactly its __all__, and every name resolves."""

import importlib

import pytest

PACKAGES = [
    "nbjudge.alignment",
    "nbjudge.benchmark",
    "nbjudge.writer",
    "nbjudge.judges",
    "nbjudge.notebooks",
    "nbjudge.report",
    "nbjudge.rubrics",
    "nbjudge.schemas",
    "nbjudge.stats",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_resolve(name):
    module = importlib.import_module(name)
    assert len(set(module.__all__)) == len(module.__all__)
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.{public}"


def test_library_never_imports_stages():
    import pathlib

    for path in pathlib.Path("src/nbjudge").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "from stages" not in text and "import stages" not in text, path


def test_benchmark_and_stats_do_not_import_judging_code():
    import ast
    import pathlib

    for package in ("benchmark", "stats", "report"):
        for path in pathlib.Path(f"src/nbjudge/{package}").rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                        for alias in node.names]
            imported += [node.module or "" for node in ast.walk(tree)
                         if isinstance(node, ast.ImportFrom)]
            for module in imported:
                for forbidden in ("nbjudge.judges", "nbjudge.alignment", "litellm", "dspy",
                                  "mlflow"):
                    assert not module.startswith(forbidden), (path, module)
