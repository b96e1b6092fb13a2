"""Every notebook of ``notebooks/`` runs top to bottom, unattended, with short training.

Each notebook is executed with nbclient in a fresh temp folder, by a kernel running the Python
that runs pytest (``sys.executable``) with ``SVNB_FAST=1``. Besides "no cell raised", each test
checks a real result: the measured accuracy, files written by the command line, ...
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.notebook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "notebooks"
CELL_TIMEOUT = 300  # seconds, per cell (training on 2 slow CI cores)
ACCURACY = re.compile(r"Accuracy on the (\d+) objects not annotated: ([\d.]+)%")

nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from nbclient.exceptions import CellExecutionError  # noqa: E402


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernelspec folder: ``sys.executable`` with ``SVNB_FAST=1``."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / "svnb-test"
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "svetlana_nb tests",
                "language": "python",
                "env": {"SVNB_FAST": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
            }
        )
    )
    return root


def run_notebook(name: str, kernel_dir: Path, workdir: Path) -> tuple[nbformat.NotebookNode, str]:
    """Execute ``notebooks/<name>.ipynb`` in ``workdir``; return it and all its text output."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    ksm = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    km = KernelManager(
        kernel_name="svnb-test", kernel_spec_manager=ksm, transport="ipc", ip=str(workdir / "kernel-ipc")
    )
    client = nbclient.NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT, kernel_name="svnb-test", resources={"metadata": {"path": str(workdir)}}
    )
    begin = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{name}.ipynb: a cell raised:\n{error}")
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)  # the executed notebook, for a look
        nbformat.write(nb, ARTIFACTS / f"{name}.ipynb")
    elapsed = time.perf_counter() - begin
    # a figure to read (the target: under 2 minutes on CPU), not a timed test
    print(f"{name}.ipynb ran in {elapsed:.1f} s")
    times = ARTIFACTS / "seconds.json"
    record = json.loads(times.read_text()) if times.exists() else {}
    times.write_text(json.dumps({**record, name: round(elapsed, 1)}, indent=1))
    return nb, output_text(nb)


def output_text(nb: nbformat.NotebookNode) -> str:
    """Concatenated stdout and text/plain results of every code cell."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stdout":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def accuracy(text: str) -> tuple[int, float]:
    """``(number of objects, accuracy in [0, 1])`` printed by the accuracy cell."""
    found = ACCURACY.findall(text)
    assert found, f"no accuracy printed; output was:\n{text[-3000:]}"
    n, percent = found[-1]
    return int(n), float(percent) / 100


def widget_views(nb: nbformat.NotebookNode) -> int:
    """Number of widget views displayed in the outputs."""
    return sum(
        1
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    )


def test_notebooks_are_generated_and_clean():
    """Committed notebooks match their sources ``src/<name>.py`` (``build.py``), hold no outputs."""
    result = subprocess.run([sys.executable, str(NOTEBOOKS / "build.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert all(
            not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"
        ), f"{path.name} has outputs"
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "google.colab" in first.source and "enable_custom_widget_manager" in first.source


def test_every_notebook_has_a_source():
    """One ``src/<name>.py`` per ``<name>.ipynb``, and the other way round."""
    notebooks = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    sources = {p.stem for p in (NOTEBOOKS / "src").glob("*.py")}
    assert notebooks, "no notebook found"
    assert not notebooks - sources, f"no source in notebooks/src for: {sorted(notebooks - sources)}"
    assert not sources - notebooks, f"no notebook for (run notebooks/build.py): {sorted(sources - notebooks)}"


def test_colab_cell_is_the_same_everywhere():
    """The first code cell (Colab setup: REPO_URL, a %pip magic) is the same in every source."""
    import jupytext  # a test dependency: build.py needs it too

    cells = {}
    for path in sorted((NOTEBOOKS / "src").glob("*.py")):
        nb = jupytext.read(path, fmt="py:percent")
        code = [c.source.strip("\n") for c in nb.cells if c.cell_type == "code"]
        cells[path.name] = code[0] if code else ""
    assert len(cells) >= 2, cells
    reference = cells["quickstart.py"]
    assert "google.colab" in reference and 'REPO_URL = "https://' in reference
    assert '    %pip install -q "svetlana_nb @ git+{REPO_URL}"' in reference.splitlines()
    differ = [name for name, source in cells.items() if source != reference]
    assert not differ, f"Colab cell differs from quickstart.py's in: {differ}"


def assert_ends_with_the_proportions(nb, text: str) -> None:
    """Issue 19: the notebook reports the summary table (estimate, interval) and draws its plot."""
    assert "estimate" in text and "basis" in text and "true share" in text, text[-2000:]
    code = [c for c in nb.cells if c.cell_type == "code"]
    last_plot = max(i for i, c in enumerate(code) if "proportion_plot(" in c.source)
    assert any("image/png" in o.get("data", {}) for o in code[last_plot].outputs), "no proportions plot drawn"


def test_quickstart(kernel_dir, tmp_path):
    nb, text = run_notebook("quickstart", kernel_dir, tmp_path)
    n, acc = accuracy(text)
    assert n == 120  # 160 objects, 40 annotated by the fallback
    assert "You annotated 0 objects; this cell added 40 more from the demo's ground truth" in text
    assert acc >= 0.75, text[-2000:]
    assert widget_views(nb) >= 3  # annotator, trainer, prediction viewer
    assert_ends_with_the_proportions(nb, text)


def test_multichannel(kernel_dir, tmp_path):
    nb, text = run_notebook("multichannel", kernel_dir, tmp_path)
    n, acc = accuracy(text)
    assert n == 120 and acc >= 0.75, text[-2000:]
    assert "Random forest, accuracy" in text
    spots = float(re.search(r"spot channel only, accuracy on the objects not annotated: ([\d.]+)%", text).group(1))
    assert spots >= 75, text[-2000:]
    assert widget_views(nb) >= 1
    assert_ends_with_the_proportions(nb, text)


def test_3d(kernel_dir, tmp_path):
    nb, text = run_notebook("3d", kernel_dir, tmp_path)
    n, acc = accuracy(text)
    assert n == 50 and acc >= 0.8, text[-2000:]
    assert "(40, 192, 192) uint8" in text
    assert widget_views(nb) >= 3


def test_your_own_data(kernel_dir, tmp_path):
    _, text = run_notebook("your_own_data", kernel_dir, tmp_path)
    assert "resumed 45 annotations" in text
    work = Path(re.search(r"demo files in (\S+)", text).group(1))
    out = work / "predictions"
    assert (out / "objects.csv").is_file() and (out / "well_D1_classes.tif").is_file(), text
    assert (work / "model.svnb").is_file()
    assert json.loads((work / "images" / "annotations.json").read_text())["annotations"]
    found = re.search(r"(\d+) objects predicted in the new image; accuracy ([\d.]+)%", text)
    assert found and int(found.group(1)) == 90 and float(found.group(2)) >= 70, text[-2000:]


def test_scripted(kernel_dir, tmp_path):
    nb, text = run_notebook("scripted", kernel_dir, tmp_path)
    n, acc = accuracy(text)
    assert n == 120 and acc >= 0.75, text[-2000:]
    assert "annotations reloaded" in text and "'classes.tif'" in text
    assert widget_views(nb) == 0


def test_app(kernel_dir, tmp_path):
    """The Voilà page's notebook runs and shows one App (its three tabs), on the small demo set."""
    nb, text = run_notebook("app", kernel_dir, tmp_path)
    assert "Traceback" not in text, text[-2000:]
    assert widget_views(nb) == 1, "the page shows the App and nothing else"
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert [o.output_type for o in shown] == ["execute_result"], shown  # no prints, no warnings
