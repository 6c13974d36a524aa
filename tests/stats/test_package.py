"""The public surface of nbjudge.stats and the boundary it keeps."""

from pathlib import Path

from package_checks import assert_imports_only_schemas, assert_reexports, public_modules

import nbjudge.stats

PACKAGE = Path(nbjudge.stats.__file__).parent


def test_package_reexports_every_public_name():
    assert_reexports("nbjudge.stats", public_modules(PACKAGE))


def test_imports_nothing_but_schemas_from_nbjudge_and_no_mlflow_or_llm_client():
    assert_imports_only_schemas(PACKAGE)
