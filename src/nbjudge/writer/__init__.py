"""Notebooks written by a model from the task prompt (``generate=llm``).

- :mod:`~nbjudge.writer.prompt`: the writer's prompt template (``prompts/``)
  filled with the case's task and tables;
- :mod:`~nbjudge.writer.parse`: a model's answer -> cells -> a valid notebook
  (pure functions);
- :mod:`~nbjudge.writer.write`: requests through the judging runner's cache
  and retries, notebooks, index entries with provenance, failure records.
"""

from .parse import UnusableAnswerError, build_notebook, parse_answer
from .prompt import load_template
from .write import GenerationResult, WriterSettings, write_notebooks, writer_config

__all__ = [
    "GenerationResult",
    "UnusableAnswerError",
    "WriterSettings",
    "build_notebook",
    "load_template",
    "parse_answer",
    "write_notebooks",
    "writer_config",
]
