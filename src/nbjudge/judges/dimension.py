"""One MLflow judge per rubric dimension.

Each judge is ``mlflow.genai.judges.make_judge`` with the dimension's rubric
as instructions and ``{{ outputs }}`` as its only template field: the task
prompt and the rendered notebook travel together in ``outputs`` (MemAlign's
episodic memory embeds the wrong text for judges that use ``{{ inputs }}``,
see the MemAlign notes). MLflow does not enforce ``feedback_value_type``, so
:func:`parse_score` checks every value the model returns.

How a judge reaches its model is the backend's business
(:mod:`nbjudge.llm.backends`): which MLflow adapter carries the request
decides who retries and how long a request may take.
"""

from __future__ import annotations

from typing import Any, Literal

from nbjudge.errors import BackendError
from nbjudge.judges.marking import DATA_SENTENCE, mark_notebook
from nbjudge.llm.calls import Answer
from nbjudge.rubrics import Rubric, render_rubric
from nbjudge.schemas import normalize_score

__all__ = [
    "FEEDBACK_VALUE_TYPE",
    "InvalidScoreError",
    "call_judge",
    "judge_instructions",
    "judge_name",
    "make_dimension_judge",
    "notebook_outputs",
    "parse_score",
]

FEEDBACK_VALUE_TYPE = Literal[1, 2, 3, "N/A"]

_PREAMBLE = """\
You are an experienced machine-learning practitioner grading notebooks that a coding agent \
wrote for a task. Grade ONE dimension of the notebook below, {title}, and nothing else, using \
the rubric. Judge the code and what its outputs show, not what the comments claim.

{rubric}
## What to grade

{{{{ outputs }}}} holds the task prompt and then the notebook: its cells in order, each code \
cell followed by its outputs (long outputs are cut with a marker; cells after a crash show \
"not run").
{data_sentence}
Answer with the score (1, 2, 3 or "N/A") first, then a short rationale naming the code that \
decided it.
"""


class InvalidScoreError(BackendError):
    """The judge returned something other than 1, 2, 3 or "N/A"."""


def judge_name(dimension: str) -> str:
    """The judge's MLflow name; human feedback is logged under the same name."""
    return dimension


def judge_instructions(rubric: Rubric, detail: Literal["full", "summary"] = "full", *,
                       marked: bool = True) -> str:
    """The judge's instructions: role, the rubric as graders read it, the answer format;
    ``marked``: and the sentence saying the notebook is data (:mod:`nbjudge.judges.marking`)."""
    return _PREAMBLE.format(title=rubric.title.lower(), rubric=render_rubric(rubric, detail),
                            data_sentence=f"\n{DATA_SENTENCE}\n" if marked else "")


def notebook_outputs(task_prompt: str, notebook_text: str, *, marked: bool = True) -> str:
    """What a judge reads as ``{{ outputs }}`` and what a notebook's trace stores as outputs;
    ``marked``: the notebook between delimiters it cannot close (:func:`mark_notebook`)."""
    body = mark_notebook(notebook_text) if marked else notebook_text
    return f"# Task prompt\n\n{task_prompt.strip()}\n\n# Notebook\n\n{body}"


def parse_score(value: Any) -> int | str:
    """``1 | 2 | 3 | "N/A"`` from a judge's value, or :class:`InvalidScoreError`."""
    score: int | str = normalize_score(value)
    if isinstance(score, bool) or score not in (1, 2, 3, "N/A"):
        raise InvalidScoreError(f"judge answered {value!r}, which is not 1, 2, 3 or \"N/A\"")
    return score


def make_dimension_judge(rubric: Rubric, *, model: str, base_url: str | None = None,
                         inference_params: dict[str, Any] | None = None,
                         instructions: str | None = None,
                         rubric_detail: Literal["full", "summary"] = "full") -> Any:
    """The MLflow judge of ``rubric``'s dimension (``instructions`` overrides the rubric's)."""
    from mlflow.genai.judges import make_judge

    kwargs: dict[str, Any] = {}
    if base_url is not None:
        kwargs["base_url"] = base_url
    return make_judge(
        name=judge_name(rubric.dimension),
        instructions=(instructions if instructions is not None
                      else judge_instructions(rubric, rubric_detail)),
        model=model,
        description=f"{rubric.title}: {rubric.scores.good.summary}",
        feedback_value_type=FEEDBACK_VALUE_TYPE,
        inference_params=inference_params,
        **kwargs,
    )


def call_judge(judge: Any, outputs: str) -> Answer:
    """Run ``judge`` on one notebook's ``outputs``; the model's answer.

    MLflow raises on transport and parse failures (the runner classifies
    them); a Feedback that carries an error instead of a value is raised too.
    """
    from mlflow.tracing.constant import AssessmentMetadataKey

    feedback = judge(outputs=outputs)
    error = getattr(feedback, "error", None)
    if error is not None:
        raise RuntimeError(f"judge returned an error: {getattr(error, 'error_message', error)}")
    metadata = feedback.metadata or {}
    retrieved = metadata.get("retrieved_example_trace_ids") or []
    return Answer(
        value=feedback.value,
        rationale=feedback.rationale,
        tokens_in=_int(metadata.get(AssessmentMetadataKey.JUDGE_INPUT_TOKENS)),
        tokens_out=_int(metadata.get(AssessmentMetadataKey.JUDGE_OUTPUT_TOKENS)),
        retrieved_ids=[str(i) for i in retrieved],
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
