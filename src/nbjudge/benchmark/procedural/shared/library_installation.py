"""Library installation. Good: pinned installs of exactly what is imported, in
one cell at the top; bad: no installs, a wrong package name, installing after
the imports. Written after every other dimension, when the imports are known.
"""

from __future__ import annotations

from importlib import metadata

from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("library_installation")

# Import module -> the distribution pip installs it from.
_DISTRIBUTIONS = {
    "pandas": "pandas",
    "numpy": "numpy",
    "sklearn": "scikit-learn",
    "mlflow": "mlflow",
    "matplotlib": "matplotlib",
}


def imported_distributions(ctx: Context) -> list[str]:
    """Distributions the notebook imports, in a stable order."""
    used = []
    for line in sorted(ctx.imports):
        module = line.split()[1].split(".")[0]
        dist = _DISTRIBUTIONS.get(module)
        if dist and dist not in used:
            used.append(dist)
    return used


def pinned(dist: str) -> str:
    """``dist==<installed version>``: the versions this benchmark was built with."""
    return f"{dist}=={metadata.version(dist)}"


def _misses_mlflow_or_matplotlib(ctx: Context) -> bool:
    used = imported_distributions(ctx)
    return len(used) > 2 and any(d in used for d in ("mlflow", "matplotlib"))


@TEMPLATES.add(3, "installs exactly the imported libraries, pinned, in one cell at the top, "
               "followed by a note to restart the kernel")
def install_pinned_top(ctx: Context) -> None:
    packages = " ".join(pinned(d) for d in imported_distributions(ctx))
    ctx.code("install", f"%pip install --quiet {packages}")
    ctx.markdown("install", ctx.choose([
        "Restart the kernel after the install so the pinned versions are the ones imported.",
        "_After installing, restart the Python kernel (Kernel > Restart) before running on._",
    ]))


@TEMPLATES.add(3, "pins every imported library in one requirements line at the top, with a "
               "restart note")
def install_requirements_cell(ctx: Context) -> None:
    lines = "\n".join(f"#   {pinned(d)}" for d in imported_distributions(ctx))
    packages = " ".join(pinned(d) for d in reversed(imported_distributions(ctx)))
    ctx.code("install", f"# Pinned versions used for this analysis:\n{lines}\n"
             f"%pip install -q {packages}")
    ctx.markdown("install", "Restart the kernel now so that the installed versions load.")


@TEMPLATES.add(2, "installs the libraries at the top but without pinning versions",
               ("installs are not pinned to versions",))
def install_unpinned(ctx: Context) -> None:
    ctx.code("install", "%pip install " + " ".join(imported_distributions(ctx)))


@TEMPLATES.add(2, "pins some libraries at the top but leaves out one the notebook imports",
               ("a library used later (mlflow or matplotlib) is missing from the install cell",),
               applies=_misses_mlflow_or_matplotlib)
def install_missing_one(ctx: Context) -> None:
    used = imported_distributions(ctx)
    left_out = "mlflow" if "mlflow" in used else "matplotlib"
    kept = [pinned(d) for d in used if d != left_out]
    ctx.code("install", "%pip install " + " ".join(kept))


@TEMPLATES.add(2, "installs libraries in several cells scattered through the notebook",
               ("installs scattered across cells instead of one cell at the top",))
def install_scattered(ctx: Context) -> None:
    used = imported_distributions(ctx)
    ctx.code("install", "%pip install " + " ".join(used[:2]))
    for dist in used[2:]:
        slot = {"mlflow": "log", "matplotlib": "explore"}.get(dist, "train")
        ctx.code(slot, f"%pip install {dist}")


@TEMPLATES.add(1, "installs nothing although non-default libraries such as mlflow are imported",
               ("no install cell although non-default libraries are imported",))
def install_none(ctx: Context) -> None:
    """Writes nothing: the missing install cell is the defect."""


@TEMPLATES.add(1, "tries to install scikit-learn under the wrong package name 'sklearn'",
               ("wrong package name in pip install (sklearn instead of scikit-learn)",),
               applies=lambda ctx: "scikit-learn" in imported_distributions(ctx))
def install_wrong_name(ctx: Context) -> None:
    packages = ["sklearn" if d == "scikit-learn" else d for d in imported_distributions(ctx)]
    ctx.code("install", "%pip install " + " ".join(packages))


@TEMPLATES.add(1, "installs the libraries only after the cell that already imported them",
               ("pip install runs after the imports that need it",))
def install_after_imports(ctx: Context) -> None:
    ctx.code("setup", "%pip install " + " ".join(imported_distributions(ctx)))
