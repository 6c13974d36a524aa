"""The public surface of nbjudge.report, the boundary it keeps, and its packaged templates."""

import ast
import importlib
from importlib import resources
from pathlib import Path

import nbjudge.report

PACKAGE = Path(nbjudge.report.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))


def test_package_reexports_every_public_name():
    exported = set()
    for name in MODULES:
        module = importlib.import_module(f"nbjudge.report.{name}")
        assert module.__all__, f"{name} has an empty __all__"
        exported.update(module.__all__)
    assert sorted(nbjudge.report.__all__) == sorted(exported)
    for name in nbjudge.report.__all__:
        assert getattr(nbjudge.report, name) is not None


def imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_imports_no_judge_llm_client_or_mlflow():
    forbidden = ("mlflow", "dspy", "litellm", "openai", "anthropic", "stages")
    for path in PACKAGE.glob("*.py"):
        for module in imported_modules(path):
            root = module.split(".")[0]
            assert root not in forbidden, f"{path.name} imports {module}"
            if root == "nbjudge":
                assert module == "nbjudge.schemas", f"{path.name} imports {module}"


def test_templates_ship_inside_the_package():
    templates = resources.files("nbjudge.report") / "templates"
    assert (templates / "report.html").is_file()
    assert (templates / "report.css").is_file()
