"""The procedural notebook generator: runnable notebooks with known defects."""

from nbjudge.benchmark.generator.notebook import (
    REGISTRY,
    LevelDistribution,
    WrittenNotebook,
    generate_notebooks,
    write_notebook,
)

__all__ = ["REGISTRY", "LevelDistribution", "WrittenNotebook", "generate_notebooks", "write_notebook"]
