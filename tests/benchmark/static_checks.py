"""Static checks of a generated notebook's code: what would stop its run, read
without running it.

Two kinds of fault make a procedural notebook stop with an error:

- a metric the task cannot take (a classification metric on a regression or
  forecasting target, ``roc_auc_score`` on a 2-D probability array, the removed
  ``mean_squared_error(..., squared=False)``);
- a column that is not there: a literal column read from a table that never had
  it or before the cell that creates it, or a model asked to predict on a table
  without the feature columns it was trained on.

The column check follows the tables through the code the templates write
(``pd.read_csv``, ``concat``, ``dropna``, ``assign``, ``df["new"] = ...``,
feature lists written as literals or as ``[c for c in df.columns if c not in
[...]]``); a frame it cannot follow (after ``get_dummies``, say) is left
unchecked rather than guessed. Only the crash templates (``crash=True`` in the
blueprint) may trip these checks.
"""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import nbformat

from nbjudge.schemas import Case

__all__ = ["code_of", "column_problems", "metric_problems", "training_name"]

CLASSIFICATION_METRICS = frozenset({
    "accuracy_score", "average_precision_score", "balanced_accuracy_score",
    "classification_report", "confusion_matrix", "f1_score", "log_loss",
    "precision_recall_curve", "precision_score", "recall_score", "roc_auc_score",
    "roc_curve", "ConfusionMatrixDisplay",
})

# Methods that return the same columns as the frame they are called on.
_SAME_COLUMNS = frozenset({
    "copy", "dropna", "fillna", "ffill", "bfill", "interpolate", "sort_values",
    "sort_index", "head", "tail", "sample", "query", "astype", "groupby", "reset_index",
})


def code_of(notebook: nbformat.NotebookNode) -> list[ast.Module]:
    """The code cells, parsed, with IPython magics and shell lines blanked."""
    modules = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        lines = ["" if line.lstrip().startswith(("%", "!")) else line
                 for line in cell.source.split("\n")]
        modules.append(ast.parse("\n".join(lines)))
    return modules


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def metric_problems(case: Case, notebook: nbformat.NotebookNode) -> list[str]:
    """Metric calls that cannot run on this case's target."""
    problems = []
    classification = case.task_type in ("binary", "binary_imbalanced", "multiclass")
    for module in code_of(notebook):
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node)
            keywords = {k.arg for k in node.keywords}
            if not classification and name in CLASSIFICATION_METRICS:
                problems.append(f"classification metric {name} on a {case.task_type} target")
            if name == "mean_squared_error" and "squared" in keywords:
                problems.append("mean_squared_error(..., squared=...) no longer exists")
            if name == "roc_auc_score" and len(node.args) >= 2:
                score = node.args[1]
                unsliced = isinstance(score, ast.Call) and _called(score) == "predict_proba"
                if unsliced and (case.task_type != "multiclass" or "multi_class" not in keywords):
                    problems.append("roc_auc_score on the whole predict_proba array")
    return problems


def _header(path: Path) -> set[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return set(next(csv.reader(handle)))


class _Columns:
    """Follows which columns each frame variable holds, cell after cell."""

    def __init__(self, data_dir: Path, train_name: str) -> None:
        self.data_dir = data_dir
        self.train_name = train_name
        self.frames: dict[str, set[str]] = {}
        self.lists: dict[str, list[str]] = {}
        self.problems: list[str] = []
        self.checked = 0  # column reads checked against a followed frame
        self.loop: dict[str, object] = {}  # a literal loop's variable, while in its body

    def key(self, node: ast.expr) -> str | None:
        """A column name written as a string or as an f-string over a literal loop."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            parts = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    parts.append(str(part.value))
                elif (isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name)
                      and part.value.id in self.loop and part.format_spec is None):
                    parts.append(str(self.loop[part.value.id]))
                else:
                    return None
            return "".join(parts)
        return None

    # -- values ---------------------------------------------------------------
    def strings(self, node: ast.expr) -> list[str] | None:
        """A list of column names written in the code, if it can be read."""
        if isinstance(node, ast.List | ast.Tuple):
            items = [e.value for e in node.elts
                     if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            return items if len(items) == len(node.elts) else None
        if isinstance(node, ast.Name):
            return self.lists.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.strings(node.left), self.strings(node.right)
            return None if left is None or right is None else left + right
        if isinstance(node, ast.Call) and _called(node) == "list" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Attribute) and arg.attr == "columns":
                columns = self.columns(arg.value)
                return None if columns is None else sorted(columns)
            return self.strings(arg)
        if isinstance(node, ast.ListComp) and len(node.generators) == 1:
            return self._comprehension(node)
        return None

    def _comprehension(self, node: ast.ListComp) -> list[str] | None:
        gen = node.generators[0]
        if not (isinstance(node.elt, ast.Name) and isinstance(gen.target, ast.Name)
                and node.elt.id == gen.target.id):
            return None
        source = gen.iter
        if isinstance(source, ast.Attribute) and source.attr == "columns":
            columns = self.columns(source.value)
            items = None if columns is None else sorted(columns)
        else:
            items = self.strings(source)
        if items is None:
            return None
        for condition in gen.ifs:
            if not (isinstance(condition, ast.Compare) and len(condition.ops) == 1):
                return None
            op, right = condition.ops[0], condition.comparators[0]
            if isinstance(op, ast.NotIn) and (excluded := self.strings(right)) is not None:
                items = [c for c in items if c not in excluded]
            elif isinstance(op, ast.NotEq) and isinstance(right, ast.Constant):
                items = [c for c in items if c != right.value]
            else:
                return None
        return items

    def columns(self, node: ast.expr) -> set[str] | None:
        """The columns of the frame ``node`` evaluates to; None when not a followed frame."""
        if isinstance(node, ast.Name):
            return self.frames.get(node.id)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        return None

    def _subscript(self, node: ast.Subscript) -> set[str] | None:
        base = node.value
        if isinstance(base, ast.Attribute) and base.attr in ("loc", "iloc"):
            return self.columns(base.value)
        columns = self.columns(base)
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            self.need(columns, [key.value], ast.unparse(node))
            return None  # a Series
        wanted = self.strings(key)
        if wanted is not None:
            self.need(columns, wanted, ast.unparse(node))
            return set(wanted)
        return columns  # a row filter keeps the columns

    def _call(self, node: ast.Call) -> set[str] | None:
        name = _called(node)
        keywords = {k.arg: k.value for k in node.keywords}
        if name == "read_csv" and node.args and isinstance(node.args[0], ast.Constant):
            path = self.data_dir / str(node.args[0].value)
            return _header(path) if path.exists() else None
        if name == "concat" and node.args and isinstance(node.args[0], ast.List):
            parts = [self.columns(e) for e in node.args[0].elts]
            known = [p for p in parts if p is not None]
            return set().union(*known) if len(known) == len(parts) else None
        if name == "get_dummies":
            if node.args and "columns" in keywords:
                self.need(self.columns(node.args[0]), self.strings(keywords["columns"]) or [],
                          ast.unparse(node))
            return None
        if not isinstance(node.func, ast.Attribute):
            return None
        columns = self.columns(node.func.value)
        if columns is None:
            return None
        if name == "dropna" and "subset" in keywords:
            self.need(columns, self.strings(keywords["subset"]) or [], ast.unparse(node))
        if name == "set_index" and node.args:
            index = self.strings(ast.List(elts=[node.args[0]])) or []
            self.need(columns, index, ast.unparse(node))
            return columns - set(index)
        if name == "drop" and "columns" in keywords:
            dropped = self.strings(keywords["columns"]) or []
            self.need(columns, dropped, ast.unparse(node))
            return columns - set(dropped)
        if name == "assign":
            return columns | {k for k in keywords if k is not None}
        if name in _SAME_COLUMNS:
            return columns
        return None

    def need(self, columns: set[str] | None, wanted: list[str], where: str) -> None:
        if columns is None:
            return
        self.checked += 1
        missing = sorted(set(wanted) - columns)
        if missing:
            self.problems.append(f"columns {missing} missing in {where}")

    # -- statements -----------------------------------------------------------
    def bind(self, target: ast.expr, value: ast.expr | None, columns: set[str] | None) -> None:
        if isinstance(target, ast.Name):
            self.frames.pop(target.id, None)
            self.lists.pop(target.id, None)
            listed = None if value is None else self.strings(value)
            if listed is not None:
                self.lists[target.id] = listed
            elif columns is not None:
                self.frames[target.id] = set(columns)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            frame = self.frames.get(target.value.id)
            single = self.key(target.slice)
            added = [single] if single is not None else self.strings(target.slice)
            if frame is not None and added is not None:
                frame.update(added)

    def assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            if isinstance(target, ast.Tuple):
                self._unpack(target, node.value)
            else:
                self.bind(target, node.value, self.columns(node.value))

    def _unpack(self, target: ast.Tuple, value: ast.expr) -> None:
        if isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts):
            for t, v in zip(target.elts, value.elts, strict=True):
                self.bind(t, v, self.columns(v))
            return
        x_columns = None
        if (isinstance(value, ast.Call) and _called(value) == "train_test_split"
                and len(target.elts) == 4 and value.args):
            x_columns = self.columns(value.args[0])
        for i, t in enumerate(target.elts):
            self.bind(t, None, x_columns if i < 2 else None)

    def visit(self, node: ast.AST) -> None:
        """Check every column read and every prediction under ``node``."""
        for child in ast.walk(node):
            if isinstance(child, ast.Subscript) and isinstance(child.ctx, ast.Load):
                self.columns(child)
            elif isinstance(child, ast.Call):
                self.columns(child)
                if _called(child) in ("predict", "predict_proba") and child.args:
                    self._predict(child)

    def _predict(self, node: ast.Call) -> None:
        given = self.columns(node.args[0])
        trained = self.frames.get(self.train_name)
        if given is not None and trained is not None:
            self.need(given, sorted(trained), ast.unparse(node) + " (the training columns)")

    def statement(self, statement: ast.stmt) -> None:
        if isinstance(statement, ast.Assign):
            self.assign(statement)
        elif (isinstance(statement, ast.For) and isinstance(statement.target, ast.Name)
              and isinstance(statement.iter, ast.Tuple | ast.List)
              and all(isinstance(e, ast.Constant) for e in statement.iter.elts)):
            for element in statement.iter.elts:
                assert isinstance(element, ast.Constant)
                self.loop[statement.target.id] = element.value
                for inner in statement.body:
                    self.statement(inner)
            self.loop.pop(statement.target.id, None)
        else:
            self.visit(statement)

    def run(self, modules: list[ast.Module]) -> list[str]:
        for module in modules:
            for statement in module.body:
                self.statement(statement)
        return list(dict.fromkeys(self.problems))


def training_name(notebook: nbformat.NotebookNode) -> str:
    """The variable holding the training features (the names vary per notebook)."""
    for module in code_of(notebook):
        for node in ast.walk(module):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in (
                    "X_train", "X_tr", "train_X"):
                return node.id
    raise AssertionError("no training split (X_train, X_tr, train_X) in the notebook")


def column_problems(notebook: nbformat.NotebookNode, data_dir: Path) -> tuple[list[str], int]:
    """Columns read where they do not exist, and how many reads were checked;
    ``data_dir`` holds the tables the notebook reads."""
    columns = _Columns(data_dir, training_name(notebook))
    problems = columns.run(code_of(notebook))
    return problems, columns.checked
