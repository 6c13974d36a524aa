"""What every stage shares: its command line, its parameters, its summary line.

A stage module (``python -m stages.<name>``) is the ``main()`` of DVC's
example-get-started: declare the paths dvc.yaml's ``cmd`` gives, read the
validated parameters, call the library, write outputs, print one line::

    def main(argv=None):
        args, params = StageCommand("folds", __doc__).path("--index").path("--out").parse(
            argv, "cv", "seed")
        ...
        stage.done(f"{n} notebooks -> {args.out}")

    if __name__ == "__main__":
        sys.exit(run_stage(main))
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nbjudge.config import run_stage
from nbjudge.params import Params, load_params

__all__ = ["StageCommand", "run_stage"]


class StageCommand:
    """The command line of one stage: ``--params`` and the paths dvc.yaml's ``cmd`` gives.

    :meth:`parse` returns the arguments and ``params.yaml`` validated as a whole
    (:func:`~nbjudge.params.load_params`); :meth:`done` prints the summary line,
    ``<stage>: <text>``.
    """

    def __init__(self, name: str, doc: str | None) -> None:
        self.name = name
        self.parser = argparse.ArgumentParser(
            prog=f"python -m stages.{name}", description=(doc or name).strip().splitlines()[0])
        self.parser.add_argument("--params", type=Path, default=Path("params.yaml"))

    def path(self, *flags: str, **options: Any) -> StageCommand:
        """A path argument, required unless it has a default."""
        options.setdefault("required", "default" not in options)
        self.parser.add_argument(*flags, type=Path, **options)
        return self

    def option(self, *flags: str, **options: Any) -> StageCommand:
        """Any other argument, as :meth:`argparse.ArgumentParser.add_argument` takes it."""
        self.parser.add_argument(*flags, **options)
        return self

    def parse(self, argv: list[str] | None, *sections: str
              ) -> tuple[argparse.Namespace, Params]:
        """The arguments, and the parameters (``--params``) with ``sections`` required."""
        args = self.parser.parse_args(argv)
        return args, load_params(args.params, *sections)

    def done(self, text: str) -> None:
        """Print the stage's summary line."""
        print(f"{self.name}: {text}")
