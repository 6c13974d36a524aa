"""A model's answer -> cells -> a valid notebook: well-formed, fenced, truncated, garbage."""

import json

import nbformat
import pytest

from nbjudge.writer import UnusableAnswerError, build_notebook, parse_answer

CELLS = [
    {"cell_type": "markdown", "source": "# Churn model\nLoad the tables."},
    {"cell_type": "code", "source": "import pandas as pd\ntrain = pd.read_csv('churn_train.csv')"},
    {"cell_type": "markdown", "source": "Train a model."},
    {"cell_type": "code", "source": "print(train.shape)"},
]
FULL = json.dumps({"cells": CELLS})

FENCED = """Here is the notebook.

```python
import pandas as pd
train = pd.read_csv("churn_train.csv")
```

Now the model, with `sklearn`:

```bash
pip list
```

```python
print(train.shape)
```
That is all.
"""


def kinds(parsed):
    return [(c.cell_type, c.source) for c in parsed.cells]


def test_well_formed_json_keeps_every_cell_in_order():
    parsed = parse_answer(FULL)
    assert parsed.answer_format == "json" and not parsed.truncated and parsed.problem is None
    assert kinds(parsed) == [(c["cell_type"], c["source"]) for c in CELLS]


@pytest.mark.parametrize("wrap", [
    lambda t: f"```json\n{t}\n```",
    lambda t: t + "\n\nHope this helps!",
    lambda t: json.dumps(json.loads(t)["cells"]),
])
def test_json_in_a_fence_with_trailing_text_or_as_a_bare_list(wrap):
    parsed = parse_answer(wrap(FULL))
    assert parsed.answer_format == "json" and not parsed.truncated
    assert len(parsed.cells) == 4


def test_json_sources_given_as_lists_of_lines_are_joined():
    answer = json.dumps({"cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"]}]})
    assert kinds(parse_answer(answer)) == [("code", "a = 1\nb = 2")]


def test_fenced_blocks_become_code_cells_and_the_text_between_markdown():
    parsed = parse_answer(FENCED)
    assert parsed.answer_format == "fenced" and not parsed.truncated
    assert [c.cell_type for c in parsed.cells] == [
        "markdown", "code", "markdown", "code", "markdown"]
    assert parsed.cells[1].source.startswith("import pandas as pd")
    assert "```bash\npip list\n```" in parsed.cells[2].source  # other languages stay text
    assert parsed.cells[3].source == "print(train.shape)"


def test_truncated_json_keeps_the_complete_cells_and_says_so():
    cut = FULL[: FULL.index("Train a model.") + 5]
    parsed = parse_answer(cut)
    assert parsed.truncated
    assert len(parsed.cells) == 2
    assert "ends inside cell 3" in parsed.problem and "kept the 2 complete" in parsed.problem


def test_truncated_fence_drops_the_open_block():
    cut = FENCED[: FENCED.index("print(train.shape)") + 6]
    parsed = parse_answer(cut)
    assert parsed.truncated and parsed.answer_format == "fenced"
    assert [c.cell_type for c in parsed.cells] == ["markdown", "code", "markdown"]
    assert "ends inside the code block" in parsed.problem


def test_json_missing_only_its_closing_brace_is_not_truncated():
    parsed = parse_answer(FULL[:-1])
    assert not parsed.truncated and len(parsed.cells) == 4


@pytest.mark.parametrize("answer, reason", [
    ("", "empty"),
    ("   \n", "empty"),
    ("I'm sorry, I can't help with that.", "no complete code cell"),
    ('{"result": 2, "rationale": "looks fine"}', "expected"),
    ('{"cells": [{"cell_type": "code", "source": "import pan', "cut off"),
    ('{"cells": [{"cell_type": "markdown", "source": "just words"}]}', "no complete code cell"),
    ("```python\nimport pandas as pd\n", "cut off"),
    ("\x00\x01garbage{{{", "no complete code cell"),
    ('{"cells": [{"cell_type": "widget", "source": "x"}]}', "cell_type"),
])
def test_answers_that_cannot_become_a_notebook_are_refused(answer, reason):
    with pytest.raises(UnusableAnswerError, match=reason):
        parse_answer(answer)


@pytest.mark.parametrize("answer", [FULL, FENCED, FULL[: FULL.index("Train a model.")]])
def test_the_notebook_is_valid_nbformat(answer):
    notebook = build_notebook(parse_answer(answer), {"case_id": "telco_churn"})
    nbformat.validate(notebook)
    again = nbformat.reads(nbformat.writes(notebook), as_version=4)
    nbformat.validate(again)
    assert again.metadata["nbjudge"]["case_id"] == "telco_churn"
    assert again.metadata["kernelspec"]["name"] == "python3"
    assert any(cell.cell_type == "code" for cell in again.cells)
