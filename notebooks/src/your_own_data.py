# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # Your own data: files, folders, saving, batch prediction
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/svetlana-nb/svetlana_nb/blob/main/notebooks/your_own_data.ipynb)
#
# What you need: images (TIFF or PNG; 2D, 2D + channels or 3D) and, for each, a label mask (one
# integer per object, 0 for background) such as Cellpose's `*_cp_masks.tif` or StarDist's
# labels. A mask is matched to its image by name: `well_A1.tif` goes with `well_A1.tif` in the
# masks folder, or with `well_A1_cp_masks.tif`, `well_A1_masks.tif`, `well_A1_labels.tif`...
#
# So that this notebook runs anywhere, it first writes demo images and masks to a temporary
# folder. **For your data, set `IMAGES_DIR` and `MASKS_DIR` to your folders** in the cell that
# defines them.

# %%
# On Colab only: install svetlana_nb and enable third-party widgets. Elsewhere this does nothing.
# (A GPU, when the runtime has one, is used automatically.)
import sys

REPO_URL = "https://github.com/svetlana-nb/svetlana_nb"
if "google.colab" in sys.modules:
    # %pip install -q "svetlana_nb @ git+{REPO_URL}"
    from google.colab import output

    output.enable_custom_widget_manager()

# %%
import os
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np

import svetlana_nb as sv
from svetlana_nb.io import find_pairs, read_image, read_mask, write_tiff

# SVNB_FAST=1 (the tests set it) trains for a few epochs only. Unset: the engine picks the
# number of epochs and early stopping on a validation split ends training at the plateau.
FAST = os.environ.get("SVNB_FAST", "0") not in ("", "0")
EPOCHS = 40 if FAST else None

# %% [markdown]
# ## Demo files (skip this for your own data)

# %%
WORK = Path(tempfile.mkdtemp(prefix="svetlana_nb_"))
for folder in ("images", "masks", "new_images", "new_masks"):
    (WORK / folder).mkdir()

truth = {}  # (file name, label id) -> true class, to measure the accuracy at the end
for i, well in enumerate(["A1", "B1", "C1", "D1"]):
    demo = sv.data.cells_2d(shape=(384, 384), n_objects=90, seed=10 + i)
    if well != "D1":  # three images to annotate, as TIFF (Cellpose's mask names)
        name = f"well_{well}.tif"
        write_tiff(WORK / "images" / name, demo.image)
        write_tiff(WORK / "masks" / f"well_{well}_cp_masks.tif", demo.mask)
    else:  # and one never seen, as 16-bit PNG
        name = f"well_{well}.png"
        iio.imwrite(WORK / "new_images" / name, demo.image)
        iio.imwrite(WORK / "new_masks" / f"well_{well}_cp_masks.png", demo.mask.astype(np.uint16))
    truth.update({(name, label): cls for label, cls in demo.truth.items()})
CLASSES = demo.class_names
print("demo files in", WORK)
for path in sorted(WORK.rglob("*.*")):
    print("  ", path.relative_to(WORK))

# %% [markdown]
# ## One image and its mask

# %%
IMAGES_DIR = WORK / "images"  # <- your images
MASKS_DIR = WORK / "masks"  # <- your masks (may be the same folder as the images)

image = read_image(IMAGES_DIR / "well_A1.tif")
mask = read_mask(MASKS_DIR / "well_A1_cp_masks.tif")
print(image.shape, image.dtype, mask.shape, mask.dtype, f"{len(np.unique(mask)) - 1} objects")
# A multichannel image: sv.Objects(image, mask, channel_axis=...) if the channels are not last.
one = sv.Objects(image, mask, name="well_A1.tif")
print(len(one), "objects")

# %% [markdown]
# ## A folder of images
#
# `find_pairs` matches every image with its mask; `sv.Objects` takes lists and names each image
# (by its file name: that is what the annotation file stores, never a full path). Annotations and
# training then span all images. `sv.Objects.from_folders(IMAGES_DIR, MASKS_DIR)` does the same
# in one call.

# %%
pairs = find_pairs(IMAGES_DIR, MASKS_DIR)
for image_path, mask_path in pairs:
    print(image_path.name, "<->", mask_path.name)
objects = sv.Objects(
    [read_image(i) for i, _ in pairs], [read_mask(m) for _, m in pairs], name=[i.name for i, _ in pairs]
)
print(f"{len(objects)} objects in {objects.n_images} images")

# %% [markdown]
# ## Annotate, with the annotations saved after every change
#
# `sv.Annotations.open(path, objects, classes)` resumes the file if it exists (else starts empty)
# and saves after every change: close the notebook, come back tomorrow, run this cell again and
# carry on. The annotator's image selector switches between the images.

# %%
ANNOTATIONS = IMAGES_DIR / "annotations.json"
ann = sv.Annotations.open(ANNOTATIONS, objects, CLASSES)
annotator = sv.Annotator(objects, ann)
annotator

# %%
# Unattended fallback: if fewer than N_ANNOTATE objects were annotated by hand (for instance
# after "Run all"), give random objects of all images their true class.
N_ANNOTATE = 45
for row in np.random.default_rng(0).permutation(len(objects)):
    if len(ann) >= N_ANNOTATE:
        break
    key = objects.key(row)  # (image name, label id)
    if key not in ann:
        ann.add(key, truth[key])
print(f"{len(ann)} objects annotated: {ann.counts()}")

# %%
# The file holds image names, label ids and classes; resuming gives the same annotations.
print(ANNOTATIONS.read_text()[:300], "...")
resumed = sv.Annotations.open(ANNOTATIONS, objects, CLASSES)
assert dict(resumed.items()) == dict(ann.items())
print(f"resumed {len(resumed)} annotations")

# %% [markdown]
# ## Train and save the model
#
# A model file holds the weights (safetensors) and a JSON description (network, classes, patch
# size, normalisation): no pickle, safe to share. `sv.Classifier.load` reads it back.

# %%
clf = sv.Classifier(objects, class_names=ann.class_names)
history = clf.fit(ann, epochs=EPOCHS)
print(history.summary())
MODEL = WORK / "model.svnb"
clf.save(MODEL)
print("saved", MODEL.name, f"({MODEL.stat().st_size / 1024:.0f} KiB)")
print(sv.Classifier.load(MODEL).description)

# %% [markdown]
# ## Batch prediction of a new folder, from the command line
#
# `svetlana-nb predict MODEL IMAGES_DIR MASKS_DIR OUT_DIR` classifies every object of every
# image/mask pair and writes, per image, a class image (`<image>_classes.tif`: 0 background,
# k + 1 for class k) and one table `objects.csv` for all objects. It works the same in a terminal
# or on a cluster; here it runs as `python -m svetlana_nb.cli`, the same program.

# %%
NEW_IMAGES, NEW_MASKS, OUT = WORK / "new_images", WORK / "new_masks", WORK / "predictions"
# In a terminal: svetlana-nb predict model.svnb new_images new_masks predictions
CLI = f'"{sys.executable}" -m svetlana_nb.cli'  # the same, with this notebook's Python
# !{CLI} predict "{MODEL}" "{NEW_IMAGES}" "{NEW_MASKS}" "{OUT}" --no-progress
print("CLI output:", sorted(p.name for p in OUT.iterdir()))

# %%
import pandas as pd

table = pd.read_csv(OUT / "objects.csv")
correct = [truth[(image, label)] == cls for image, label, cls in zip(table["image"], table["label"], table["class"])]
print(f"{len(table)} objects predicted in the new image; accuracy {np.mean(correct):.1%}")
print("Class image:", read_image(OUT / "well_D1_classes.tif").shape)
table.head()

# %% [markdown]
# The same from Python, for objects in memory: `prediction = clf.predict(objects)`, then
# `prediction.to_csv(path)`, `prediction.save_class_image(path, image=name)` and
# `prediction.save_class_masks(folder, image=name)`.
