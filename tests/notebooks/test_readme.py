"""The README's code runs as written (training shortened) and its links to files resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def api_block() -> str:
    """The first python code block after the heading "The API in ten lines"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The API in ten lines") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_api_in_ten_lines_runs(tmp_path, monkeypatch):
    code = api_block()
    assert len([line for line in code.splitlines() if line.strip()]) <= 13
    assert "clf.fit(ann)" in code
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.replace("clf.fit(ann)", "clf.fit(ann, epochs=5)"), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert len(result.classes) == len(namespace["objects"]) == 160
    assert {"objects.csv", "classes.tif", "model.svnb"} <= {p.name for p in tmp_path.iterdir()}
    assert namespace["clf"].class_names == ["healthy", "infected"]


@pytest.mark.parametrize(
    "target", sorted(set(re.findall(r"\]\(((?:notebooks|docs)/[^)\s]+)\)", README.read_text(encoding="utf-8"))))
)
def test_relative_links_exist(target):
    assert (README.parent / target).exists(), target
