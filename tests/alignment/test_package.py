"""The boundaries nbjudge.alignment keeps."""

from pathlib import Path

import nbjudge.alignment
from testing.package_checks import LLM_AND_TRACKING, imported_modules

PACKAGE = Path(nbjudge.alignment.__file__).parent
# memalign, crossval and final drive MLflow (imported inside their functions);
# the others are pure.
MLFLOW_MODULES = {"memalign.py", "crossval.py", "final.py"}


def test_no_mlflow_llm_client_or_blueprint_at_module_level():
    for path in PACKAGE.glob("*.py"):
        if path.name in MLFLOW_MODULES:
            continue
        for module in imported_modules(path, top_level_only=True):
            assert module.split(".")[0] not in LLM_AND_TRACKING, f"{path.name} imports {module}"
            assert not module.startswith("nbjudge.benchmark"), f"{path.name} imports {module}"
        assert "Blueprint" not in path.read_text(encoding="utf-8"), path.name
