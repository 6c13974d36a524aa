"""Build plots/offline.html, the page `dvc plots show` fills (.dvc/config: plots.html_template).

DVC's own page loads vega, vega-lite and vega-embed from a CDN and stays blank without a
network. This page carries the three libraries inline instead, taken from their npm
packages (`npm pack`, pinned below) at set-up; the plots then draw offline, as the
report does. The page omits DVC's ``{scripts}`` placeholder, so no CDN tag is added.

Usage: ``python plots/offline.py`` (``make setup`` runs it; a built page is kept).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE = HERE / "page.html"
OUT = HERE / "offline.html"
# Those DVC's page names (vega 5, vega-lite 5, vega-embed 6), at their latest releases.
PACKAGES = {"vega": "5.33.1", "vega-lite": "5.23.0", "vega-embed": "6.29.0"}
MARK = "<!-- LIBRARIES -->"
# What DVC replaces in the page; a library holding one would be corrupted.
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")


class BuildError(Exception):
    """The page cannot be built; the message says why and what to do."""


def _stamp() -> str:
    return "<!-- " + " ".join(f"{name}@{version}" for name, version in PACKAGES.items()) + " -->"


def _library(folder: Path, name: str, version: str) -> str:
    done = subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=folder,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"npm pack {name}@{version} failed (is npm installed and the npm "
                         f"registry reachable?):\n{done.stderr.strip()}")
    archive = folder / done.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"package/build/{name}.min.js")
        if member is None:
            raise BuildError(f"{archive.name} holds no build/{name}.min.js")
        code = member.read().decode("utf-8")
    for placeholder in PLACEHOLDERS:
        if placeholder in code:
            raise BuildError(f"{name}@{version} contains DVC's placeholder {placeholder}: "
                             "pin another version in plots/offline.py")
    # Inline, a "</script" inside the code would end the script element.
    code = code.replace("</script", "<\\/script")
    return f"<script>/* {name}@{version} */\n{code}\n</script>"


def build(out: Path = OUT) -> bool:
    """Write the page unless it is there for the pinned versions; True if written."""
    stamp = _stamp()
    if out.is_file() and stamp in out.read_text(encoding="utf-8"):
        return False
    page = PAGE.read_text(encoding="utf-8")
    if MARK not in page:
        raise BuildError(f"{PAGE}: no {MARK} line to put the libraries at")
    with tempfile.TemporaryDirectory() as folder:
        scripts = [_library(Path(folder), name, version) for name, version in PACKAGES.items()]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page.replace(MARK, "\n".join([stamp, *scripts])), encoding="utf-8")
    tmp.replace(out)
    return True


def main() -> int:
    try:
        written = build()
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{OUT.relative_to(HERE.parent)}: {'written' if written else 'up to date'} "
          f"({', '.join(f'{n}@{v}' for n, v in PACKAGES.items())} inline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
