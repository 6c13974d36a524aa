"""Notebooks written by a model from the task prompt (``generate=llm``).

- :mod:`~nbjudge.writer.prompt`: the writer's prompt template (``prompts/``)
  filled with the case's task and tables;
- :mod:`~nbjudge.writer.parse`: a model's answer -> cells -> a valid notebook
  (pure functions);
- :mod:`~nbjudge.writer.write`: requests through the judging runner's cache
  and retries, notebooks, index entries with provenance, failure records.
"""

from nbjudge.writer.parse import (
    Cell,
    ParsedAnswer,
    UnusableAnswerError,
    build_notebook,
    parse_answer,
)
from nbjudge.writer.prompt import (
    CELLS_SCHEMA,
    PromptTemplate,
    TableSchema,
    describe_tables,
    load_template,
    messages_sha256,
    render_messages,
)
from nbjudge.writer.write import (
    GenerationRequest,
    GenerationResult,
    WriterSettings,
    build_generation_requests,
    call_writer,
    write_notebooks,
    writer_config,
)

__all__ = [
    "CELLS_SCHEMA",
    "Cell",
    "GenerationRequest",
    "GenerationResult",
    "ParsedAnswer",
    "PromptTemplate",
    "TableSchema",
    "UnusableAnswerError",
    "WriterSettings",
    "build_generation_requests",
    "build_notebook",
    "call_writer",
    "describe_tables",
    "load_template",
    "messages_sha256",
    "parse_answer",
    "render_messages",
    "write_notebooks",
    "writer_config",
]
