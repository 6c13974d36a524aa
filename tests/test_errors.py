"""One exception tree: every public exception class of nbjudge is in it, where its
docstring draws it."""

import ast
import importlib
import re
from pathlib import Path

import nbjudge.errors
from nbjudge.errors import NbjudgeError

PACKAGE = Path(nbjudge.errors.__file__).parent


def _drawn_parents() -> dict[str, str]:
    """Each class of the tree drawn in nbjudge.errors' docstring, and its parent there."""
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in (nbjudge.errors.__doc__ or "").splitlines():
        match = re.match(r"^\s*([│ ]*)[├└]── (\w+)", line)
        if line.strip() == "NbjudgeError":
            stack = ["NbjudgeError"]
        elif match:
            depth = len(match.group(1)) // 4 + 1
            stack = [*stack[:depth], match.group(2)]
            parents[match.group(2)] = stack[depth - 1]
    return parents


def _public_exception_classes() -> dict[str, type]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox_site" in path.parts:  # runs inside the sandbox, without nbjudge
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.ClassDef) and not node.name.startswith("_")
                    and re.search(r"(Error|Exception)$", node.name)):
                module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
                found[node.name] = getattr(importlib.import_module(module), node.name)
    return found


def test_every_public_exception_is_in_the_drawn_tree_under_its_parent():
    drawn = _drawn_parents()
    classes = _public_exception_classes()
    assert len(classes) >= 22
    for name, cls in classes.items():
        assert issubclass(cls, NbjudgeError), f"{name} is not an NbjudgeError"
        if cls is NbjudgeError:
            continue
        assert name in drawn, f"{name} is missing from the tree in nbjudge.errors"
        assert cls.__bases__[0].__name__ == drawn[name], (
            f"{name} derives from {cls.__bases__[0].__name__}, the tree says {drawn[name]}")
    branches = {"ConfigError", "InputError", "BackendError", "BudgetError"}
    assert set(drawn) - set(classes) <= branches, "the tree draws a class nbjudge lacks"


def test_no_nbjudge_error_is_also_a_builtin_error():
    """Callers catch the tree, never ValueError or RuntimeError."""
    for name, cls in _public_exception_classes().items():
        assert not issubclass(cls, (ValueError, RuntimeError, OSError)), name
