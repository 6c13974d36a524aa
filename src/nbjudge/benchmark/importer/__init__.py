"""Import of the user's own notebooks (``generate=import``).

A folder of ``.ipynb`` files (an agent's notebooks) becomes the same records
the procedural generator writes, so the rest of the pipeline runs unchanged:

- notebook index entries: each top-level notebook is copied byte for byte
  to ``data/notebooks/generated/<notebook_id>.ipynb`` and recorded with the
  sha256 of the file and ``origin: import``; ``notebook_id`` is the file
  name, lower-cased, with every run of characters outside ``[a-z0-9_-]``
  replaced by ``_`` (``_2``, ``_3``, ... make clashes unique);
- case records, one per task, each with its notebooks;
- no blueprint entries: imported notebooks have no known true levels, so the
  blueprint is empty and their labels come from ``labels=file``.

What each notebook was asked, per notebook, first found wins:

1. notebook metadata ``nbjudge`` (``{"prompt": ..., "task_type": ...}``;
   keys other than :data:`CASE_KEYS` are left to other tools);
2. ``cases.yaml`` in the folder, mapping a notebook file name to any of the
   keys of :data:`CASE_KEYS`;
3. ``prompts.csv`` in the folder: ``file,prompt[,task_type]``, a row per notebook;
4. ``cases.yaml``'s ``"*"`` entry, defaults for every notebook;
5. for the prompt, the first markdown cell that reads like a task
   (:func:`~nbjudge.benchmark.importer.prompts.skip_reason` states the rule);
   with ``generate.prompt: infer``, the judge model's one-sentence statement
   of the task; else :data:`PLACEHOLDER`, with a warning per notebook. For the
   rest, what the data shows (below), then the code
   (:mod:`~nbjudge.benchmark.importer.code_task`).

Notebooks with the same ``case_id`` form one case; without one, notebooks
with the same prompt do (a notebook whose task is unknown or inferred is a case
of its own), and the case takes the id of its first notebook. The case record
says where its prompt comes from (``prompt_source``) and what shows its task
type (``task_type_evidence``).

Every other file in the folder (recursively; hidden files, notebooks and
``cases.yaml`` excepted) is the data the notebooks read. It is copied with
its relative path to ``data/cases/datasets/<case_id>/``, the folder whose
contents the execute stage puts in the notebook's working folder, so a
notebook that reads ``titanic_train.csv`` finds it there. A case's ``data``
key lists its files when the folder holds data of several cases.

Tables (``.csv``, ``.tsv``, ``.parquet``) get a role from their file name
unless ``tables`` names them: ``train``/``history`` -> train, ``test`` ->
test, ``future`` -> future (a lone table is train). Unless ``cases.yaml``
says otherwise, the target is the one column the train table has and the
test or future table lacks (else ``unknown``); the task type follows from
the target (numeric with many values: regression; two classes: binary,
imbalanced below 20% minority; up to 20 classes: multiclass; a date column
plus a future table: forecasting), else from the prompt's words.
``properties`` are read from the train table: rows, columns, columns with
missing values, missing rate, non-numeric columns, class balance and, for
forecasting, the date column and its frequency; ``properties`` in
``cases.yaml`` override any of them. The missingness mechanism cannot be
read from data: it is ``MCAR`` when values are missing (``none`` otherwise)
unless ``properties.missing_mechanism`` says so. A case with no table (an
agent's notebooks, executed elsewhere on data that is not here) needs
nothing: its properties are unknown, and its task type comes from the
prompt's words, else from the estimators and metrics its code uses, else
``unknown``. Only the notebooks are required.
"""

from .building import (
    DATASETS_DIR,
    NOTEBOOKS_DIR,
    ImportCheck,
    ImportedNotebooks,
    StatedTask,
    TaskStater,
    check_folder,
    copy_case_data,
    copy_notebooks,
    import_notebooks,
    read_notebook_folder,
)
from .code_task import CodeEvidence, code_evidence
from .prompts import PLACEHOLDER, PROMPTS_FILE, skip_reason, task_cell
from .reading import CASE_KEYS, CASES_FILE, NotebookImportError, notebook_ids

__all__ = [
    "CASES_FILE",
    "CASE_KEYS",
    "DATASETS_DIR",
    "NOTEBOOKS_DIR",
    "PLACEHOLDER",
    "PROMPTS_FILE",
    "CodeEvidence",
    "ImportCheck",
    "ImportedNotebooks",
    "NotebookImportError",
    "StatedTask",
    "TaskStater",
    "check_folder",
    "code_evidence",
    "copy_case_data",
    "copy_notebooks",
    "import_notebooks",
    "notebook_ids",
    "read_notebook_folder",
    "skip_reason",
    "task_cell",
]
