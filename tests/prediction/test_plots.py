"""The proportion plot draws the summary table: bars at the estimates, error bars at the interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from svetlana_nb.prediction.plots import proportion_plot
from svetlana_nb.prediction.proportions import proportion_table


@pytest.fixture
def table():
    rng = np.random.default_rng(3)
    predicted = rng.choice(3, size=300, p=[0.6, 0.3, 0.1])
    groups = np.repeat(["control", "drug A", "drug B"], 100)
    confusion = np.array([[40, 3, 1], [4, 30, 2], [1, 2, 9]])
    table = proportion_table(predicted, confusion, ["live", "dead", "mitotic"], groups=groups, n_boot=200)
    return table.rename(columns={"group": "image"})


def _bars_and_errors(figure):
    ax = figure.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    errors = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    return ax, bars, errors


def test_bars_and_error_bars_match_the_table(table):
    figure = proportion_plot(table)
    assert isinstance(figure, Figure)
    ax, bars, errors = _bars_and_errors(figure)
    classes = ["live", "dead", "mitotic"]
    assert [b.get_label() for b in bars] == classes and len(errors) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["control", "drug A", "drug B"]
    for name, bar_set, error in zip(classes, bars, errors):
        rows = table[table["class"] == name]
        np.testing.assert_allclose([p.get_height() for p in bar_set.patches], 100 * rows["estimate"])
        segments = np.array(error.lines[2][0].get_segments())  # (groups, 2 ends, xy)
        np.testing.assert_allclose(segments[:, 0, 1], 100 * rows["low"])
        np.testing.assert_allclose(segments[:, 1, 1], 100 * rows["high"])
        np.testing.assert_allclose(segments[:, 0, 0], [p.get_x() + p.get_width() / 2 for p in bar_set.patches])
    assert "95 % interval" in ax.get_ylabel()


def test_fractions_and_a_panel_of_a_larger_figure(table):
    outer = Figure()
    left, right = outer.subplots(1, 2)
    assert proportion_plot(table, ax=right, percent=False, title="Day 2") is outer
    bars = [c for c in right.containers if isinstance(c, BarContainer)]
    np.testing.assert_allclose([p.get_height() for p in bars[0].patches], table[table["class"] == "live"]["estimate"])
    assert right.get_title() == "Day 2" and not left.containers


def test_a_raw_summary_is_drawn_hatched_without_error_bars(table):
    raw = table.assign(corrected=np.nan, low=np.nan, high=np.nan)
    ax, bars, errors = _bars_and_errors(proportion_plot(raw))
    assert not errors
    np.testing.assert_allclose(
        [p.get_height() for p in bars[0].patches], 100 * raw[raw["class"] == "live"]["proportion"]
    )
    assert all(p.get_hatch() == "//" for b in bars for p in b.patches)
    assert "raw proportion" in ax.get_ylabel()


def test_a_group_column_and_savefig(table, tmp_path):
    figure = proportion_plot(table.rename(columns={"image": "group"}))
    figure.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert figure.axes[0].get_xlabel() == "group"
    one = table[table["image"] == table["image"].iloc[0]]
    assert proportion_plot(one).axes[0].get_xlabel() == ""  # the tick names the one image already


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda t: t.drop(columns="low"), "missing \\['low'\\]"),
        (lambda t: t.drop(columns="image"), "image or group"),
        (lambda t: t.iloc[:0], "no rows"),
        (lambda t: pd.concat([t, t]), "more than one row"),
    ],
)
def test_a_table_that_is_not_a_summary_is_refused_naming_it(table, bad, message):
    with pytest.raises(ValueError, match=f"table: .*{message}"):
        proportion_plot(bad(table))
    with pytest.raises(TypeError, match="table: expected the DataFrame"):
        proportion_plot(table.to_dict())
