"""mypy runs strict over the whole package with no module on an ignore list
(pyproject.toml); what it may not check is silenced line by line, each line naming
the error it silences and why, so the exceptions stay few and readable."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nbjudge"
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[a-z, -]+\])?(?P<rest>.*)$")


def unexplained(text: str) -> list[str]:
    """The lines of ``text`` whose ``# type: ignore`` names no error code or gives no
    reason in a comment after it."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = IGNORE.search(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        if not match["codes"] or not re.match(r"\s*#\s*\S", match["rest"]):
            found.append(f"{number}: {line.strip()}")
    return found


def test_every_type_ignore_names_its_error_and_says_why():
    problems = [f"{path.relative_to(PACKAGE.parent)}:{problem}"
                for path in sorted(PACKAGE.rglob("*.py"))
                for problem in unexplained(path.read_text(encoding="utf-8"))]
    assert not problems, ("a `# type: ignore` without its error code or a reason (write "
                          "`# type: ignore[code]  # why`):\n" + "\n".join(problems))


def test_an_ignore_without_a_code_or_a_reason_is_found():
    assert unexplained("x = f()  # type: ignore\n") == ["1: x = f()  # type: ignore"]
    assert unexplained("x = f()  # type: ignore[arg-type]\n")
    assert not unexplained("x = f()  # type: ignore[arg-type]  # a YAML scalar\n")
    assert not unexplained("# A ``# type: ignore[...]`` comment is for mypy\n")
