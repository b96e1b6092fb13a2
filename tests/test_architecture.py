"""The shape of the package: rooms and the direction of imports, no cycles, small modules,
a small public front, model names known to the registry only, and docs/architecture.md true."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import svetlana_nb as sv

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "svetlana_nb"
#: Longest module, in lines (the rule is "about 400").
MAX_LINES = 400


def test_import_contracts_are_kept():
    """The layers and the front-end ban of ``[tool.importlinter]`` in pyproject.toml."""
    proc = subprocess.run(
        [sys.executable, "-c", "import importlinter.cli as c; c.lint_imports_command()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def test_no_module_imports_itself_through_others():
    import grimp

    graph = grimp.build_graph("svetlana_nb")
    modules = sorted(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in modules}
    # Tarjan's strongly connected components: a cycle is a component of more than one module
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(module: str) -> None:
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for other in edges[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(modules)))
    for module in modules:
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_every_module_is_small():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_public_front_is_small_and_every_name_resolves():
    assert 12 <= len(sv.__all__) <= 20, sv.__all__
    assert not [name for name in sv.__all__ if name.startswith("_")]
    for name in sv.__all__:
        assert getattr(sv, name) is not None, name
    assert sv.io.read_image is not None and sv.data.cells_2d is not None  # reachable after `import svetlana_nb as sv`
    for internal in ("patch_measurements", "measurement_names", "second_opinion", "features", "render"):
        assert internal not in sv.__all__


def test_model_names_are_tested_by_the_registry_only():
    """Which model is in use is asked of its kind, never decided by comparing names."""
    pattern = re.compile(
        r"""(==|!=|\bin\b|\bis\b)\s*\(?\s*["'](light_cnn|light_cnn_deep|resnet|random_forest|custom)["']"""
    )
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "registry.py"
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, f"model names compared outside models/registry.py: {found}"


def _documented_names() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"`(svetlana_nb(?:\.[A-Za-z_]\w*)+)`", text)))


def test_architecture_document_names_things_that_exist():
    assert len(_documented_names()) >= 30


@pytest.mark.parametrize("dotted", _documented_names())
def test_every_name_in_the_architecture_document_imports(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return
    pytest.fail(f"{dotted} does not import")
