"""Where the repository is: a leaf that every layer may import (it imports nothing of nbjudge)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["project_root"]


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The repository folder, also from inside a queued experiment's temporary copy."""
    path = Path(start or Path.cwd()).resolve()
    parts = path.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return path
