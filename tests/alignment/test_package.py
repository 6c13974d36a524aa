"""The public surface of nbjudge.alignment and the boundaries it keeps."""

from pathlib import Path

from package_checks import LLM_AND_TRACKING, assert_reexports, imported_modules

import nbjudge.alignment

PACKAGE = Path(nbjudge.alignment.__file__).parent
# The pure modules are re-exported; memalign, crossval and final drive MLflow and
# are imported by name, so `import nbjudge.alignment` stays light.
MODULES = ["audit", "folds", "leakage"]
MLFLOW_MODULES = {"memalign.py", "crossval.py", "final.py"}


def test_package_reexports_every_public_name():
    assert_reexports("nbjudge.alignment", MODULES)


def test_no_mlflow_llm_client_or_blueprint_at_module_level():
    for path in PACKAGE.glob("*.py"):
        if path.name in MLFLOW_MODULES:
            continue
        for module in imported_modules(path, top_level_only=True):
            assert module.split(".")[0] not in LLM_AND_TRACKING, f"{path.name} imports {module}"
            assert not module.startswith("nbjudge.benchmark"), f"{path.name} imports {module}"
        assert "Blueprint" not in path.read_text(encoding="utf-8"), path.name
