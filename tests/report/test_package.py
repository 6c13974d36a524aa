"""The public surface of nbjudge.report, the boundary it keeps, and its packaged templates."""

from importlib import resources
from pathlib import Path

from package_checks import assert_imports_only_schemas, assert_reexports, public_modules

import nbjudge.report

PACKAGE = Path(nbjudge.report.__file__).parent


def test_package_reexports_every_public_name():
    assert_reexports("nbjudge.report", public_modules(PACKAGE))


def test_imports_no_judge_llm_client_or_mlflow():
    assert_imports_only_schemas(PACKAGE)


def test_templates_ship_inside_the_package():
    templates = resources.files("nbjudge.report") / "templates"
    assert (templates / "report.html").is_file()
    assert (templates / "report.css").is_file()
