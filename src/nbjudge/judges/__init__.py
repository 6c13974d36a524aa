"""Judges of ML notebooks: rubric judges built with MLflow, their LLM backends, the runner.

- :mod:`~nbjudge.judges.dimension`: one ``make_judge`` judge per rubric dimension;
- :mod:`~nbjudge.judges.backends`: the ``llm`` group (local server or a provider);
- :mod:`~nbjudge.judges.runner` and :mod:`~nbjudge.judges.cache`: concurrent,
  retried, cached judging;
- :mod:`~nbjudge.judges.pipeline` and :mod:`~nbjudge.judges.batch`: notebooks to
  requests, for the stages;
- :mod:`~nbjudge.judges.tracing`: MLflow traces, human and judge assessments;
- :mod:`~nbjudge.judges.server`: the local llama-server.
"""

from nbjudge.judges.backends import (
    Backend,
    BackendConfigError,
    LLMConfig,
    check_credentials,
    judge_model_uri,
    open_backend,
)
from nbjudge.judges.batch import judge_views
from nbjudge.judges.cache import AnswerCache, request_key
from nbjudge.judges.dimension import (
    InvalidScoreError,
    call_judge,
    judge_instructions,
    make_dimension_judge,
    notebook_outputs,
    parse_score,
)
from nbjudge.judges.pipeline import DimensionJudge, NotebookView, build_requests, load_views
from nbjudge.judges.runner import (
    Answer,
    BackendFatalError,
    BackendUnavailableError,
    JudgeRequest,
    Request,
    RetryPolicy,
    RunSummary,
    run_calls,
    run_requests,
)
from nbjudge.judges.server import (
    DEFAULT_MODEL_NAME,
    LocalServer,
    LocalServerError,
    ModelNotInstalledError,
    ServerNotBuiltError,
    ServerOptions,
    build_command,
    find_free_port,
    find_model,
    find_server_binary,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "Answer",
    "AnswerCache",
    "Backend",
    "BackendConfigError",
    "BackendFatalError",
    "BackendUnavailableError",
    "DimensionJudge",
    "InvalidScoreError",
    "JudgeRequest",
    "LLMConfig",
    "LocalServer",
    "LocalServerError",
    "ModelNotInstalledError",
    "NotebookView",
    "Request",
    "RetryPolicy",
    "RunSummary",
    "ServerNotBuiltError",
    "ServerOptions",
    "build_command",
    "build_requests",
    "call_judge",
    "check_credentials",
    "find_free_port",
    "find_model",
    "find_server_binary",
    "judge_instructions",
    "judge_model_uri",
    "judge_views",
    "load_views",
    "make_dimension_judge",
    "notebook_outputs",
    "open_backend",
    "parse_score",
    "request_key",
    "run_calls",
    "run_requests",
]
