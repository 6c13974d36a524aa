"""The exceptions nbjudge raises on purpose: one root, a branch per kind of problem.

Every class below says what is wrong and how to fix it in its message. A stage
(``python -m stages.<name>``) prints such an error as one line, ``<stage>: error:
<message>``, and exits 1; any other exception is a bug and keeps its traceback.
Catch the root or a branch, never a builtin::

    NbjudgeError
    ├── ConfigError ..................... params.yaml, conf/ or an override is wrong
    │   └── BackendConfigError .......... the `llm` settings or the keys they need
    ├── InputError ...................... a file or value given to nbjudge is unusable
    │   ├── RecordError ................. a record file (JSONL/JSON) is malformed
    │   │   ├── LabelFileError .......... an expert label file (JSONL or CSV)
    │   │   └── GradeError .............. grades read back from MLflow
    │   ├── NotebookImportError ......... a folder of notebooks to import
    │   ├── SuiteError .................. a suite of test cases
    │   ├── RubricError ................. a rubric file
    │   └── RegisteredJudgeError ........ a registered judge no longer matches its record
    ├── BackendError .................... talking to a model went wrong
    │   ├── BackendFatalError ........... refused in a way no retry fixes
    │   ├── BackendUnavailableError ..... kept failing after every retry
    │   ├── PromptTooLongError .......... the prompt does not fit the context window
    │   ├── ProviderHTTPError ........... a provider's HTTP error (status, headers)
    │   ├── InvalidScoreError ........... a judge answered no valid score
    │   ├── UnusableAnswerError ......... a writer's answer cannot become a notebook
    │   └── LocalServerError ............ the local llama.cpp server
    │       ├── ServerNotBuiltError ..... its binary was never built
    │       └── ModelNotInstalledError .. its model package is missing
    ├── BudgetError ..................... a spending cap (llm.max_requests, llm.max_cost)
    │   ├── PlanExceedsBudgetError ...... the plan goes over a cap; nothing was sent
    │   └── BudgetExceededError ......... a cap was reached mid-run; answers are cached
    ├── SandboxError .................... notebooks cannot be sandboxed on this machine
    ├── ExecutionClusterError ........... the Dask cluster running notebooks has no worker
    ├── LeakageError .................... a fold's judge saw held-out notebooks
    └── PdfError ........................ no PDF (no Chromium, or it failed)

Each leaf is defined in the module that raises it (``nbjudge.schemas.RecordError``,
``nbjudge.llm.calls.BackendFatalError``, ...) and importable from there; this module
holds the root and the branches and imports nothing, so that every module (the
dependency-free ``schemas`` included) can derive from them.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BudgetError",
    "ConfigError",
    "InputError",
    "NbjudgeError",
]


class NbjudgeError(Exception):
    """Root of every error nbjudge raises on purpose; the message names the problem and
    the fix."""


class ConfigError(NbjudgeError):
    """The parameters are missing or malformed; the message says how to fix them."""


class InputError(NbjudgeError):
    """What nbjudge was given (a record file, notebooks, label files, a suite, a rubric, a
    command-line value) cannot be used; the message names it and what is wrong."""


class BackendError(NbjudgeError):
    """A model could not be reached or gave an answer that cannot be used."""


class BudgetError(NbjudgeError):
    """A spending cap (``llm.max_requests``, ``llm.max_cost``) stops the run."""
