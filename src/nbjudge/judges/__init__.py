"""Rubric -> MLflow judge -> judgment.

- :mod:`~nbjudge.judges.dimension`: one ``make_judge`` judge per rubric
  dimension, and the check of every score it returns;
- :mod:`~nbjudge.judges.requests`: notebooks as the judges read them, one
  request per notebook and dimension, answers as judgment records;
- :mod:`~nbjudge.judges.batch`: judging a set of notebooks, for the stages;
- :mod:`~nbjudge.judges.tracing`: MLflow traces with human and judge assessments.

Requests reach a model through :mod:`nbjudge.llm`.
"""

from nbjudge.judges.batch import judge_views, load_judging_inputs
from nbjudge.judges.dimension import (
    InvalidScoreError,
    call_judge,
    make_dimension_judge,
    notebook_outputs,
    parse_score,
)
from nbjudge.judges.requests import (
    DimensionJudge,
    JudgeRequest,
    NotebookView,
    build_requests,
    load_views,
    run_requests,
)

__all__ = [
    "DimensionJudge",
    "InvalidScoreError",
    "JudgeRequest",
    "NotebookView",
    "build_requests",
    "call_judge",
    "judge_views",
    "load_judging_inputs",
    "load_views",
    "make_dimension_judge",
    "notebook_outputs",
    "parse_score",
    "run_requests",
]
