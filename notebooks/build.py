"""Build the notebooks of this folder from their sources, ``src/<name>.py`` -> ``<name>.ipynb``.

Each source is a jupytext "percent" script (``# %%`` code cells, ``# %% [markdown]`` markdown
cells), reviewed as code. To change a notebook, edit ``src/<name>.py``, then run
``python notebooks/build.py``: every notebook is rewritten with clean outputs, stable cell ids
and the same metadata. ``python notebooks/build.py --check`` writes nothing and exits with
status 1, naming them, when notebooks differ from their sources (the tests run it).

Conventions shared by all notebooks:

* the first code cell installs the package on Colab (and only there) and enables Colab's
  widget manager; it holds REPO_URL, the project's address (also at the top of the README),
  and is identical in every source (jupytext writes its ``%pip`` line as a comment);
* ``SVNB_FAST=1`` in the environment (set by the tests) trains for a few epochs only;
* after each widget cell, a cell titled *Unattended fallback* does with the API what the user
  would have done with the widget, only when they did not (so "Run all" gives results).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
FORMAT = "py:percent"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3", "codemirror_mode": {"name": "ipython", "version": 3}}
#: Cell metadata that only records the layout of the text file.
LAYOUT_METADATA = ("cell_marker", "lines_to_next_cell", "lines_to_end_of_cell_marker", "skipline", "noskipline")
NEW_CELL = {
    "code": nbformat.v4.new_code_cell,
    "markdown": nbformat.v4.new_markdown_cell,
    "raw": nbformat.v4.new_raw_cell,
}


def sources() -> dict[str, Path]:
    """Return ``{notebook name: source path}`` for every ``src/*.py``."""
    return {path.stem: path for path in sorted(SRC.glob("*.py"))}


def build(name: str, source: Path) -> nbformat.NotebookNode:
    """Return the notebook of ``source``: no outputs, stable cell ids, the shared metadata."""
    text = jupytext.read(source, fmt=FORMAT)
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    for i, cell in enumerate(text.cells):
        metadata = {k: v for k, v in cell.metadata.items() if k not in LAYOUT_METADATA}
        new = NEW_CELL[cell.cell_type](cell.source.strip("\n"), metadata=metadata)
        new.id = f"{name.replace('_', '-')}-{i:02d}"
        nb.cells.append(new)
    nbformat.validate(nb)
    return nb


def render(name: str, source: Path) -> str:
    """Return the text of ``<name>.ipynb`` as built from ``source``."""
    return nbformat.writes(build(name, source)) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or, with ``--check``, compare) every notebook; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a notebook differs from its source"
    )
    args = parser.parse_args(argv)
    problems = []
    for name, source in sources().items():
        path = HERE / f"{name}.ipynb"
        text = render(name, source)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print("wrote", path.relative_to(HERE.parent))
        elif not path.exists():
            problems.append(f"{path.name}: missing (source {source.relative_to(HERE.parent)})")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.name}: differs from {source.relative_to(HERE.parent)}")
    orphans = sorted(p.name for p in HERE.glob("*.ipynb") if p.stem not in sources())
    problems += [f"{name}: no source in {SRC.relative_to(HERE.parent)}/" for name in orphans]
    if problems:
        print(
            "notebooks not in sync with their sources (edit notebooks/src/<name>.py, then run "
            "python notebooks/build.py):",
            *problems,
            sep="\n  ",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
