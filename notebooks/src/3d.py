# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # 3D: classify nuclei in a stack
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/svetlana-nb/svetlana_nb/blob/main/notebooks/3d.ipynb)
#
# The same workflow on a `(Z, Y, X)` stack and its 3D label mask: patches are 3D, and so is the
# network (3D convolutions). The demo stack holds nuclei in *interphase* (smooth) and *mitotic*
# (condensed chromosomes) whose true classes are known.

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

import matplotlib.pyplot as plt
import numpy as np

import svetlana_nb as sv

# SVNB_FAST=1 (the tests set it) trains for a few epochs only. Unset: the engine picks the
# number of epochs and early stopping on a validation split ends training at the plateau.
FAST = os.environ.get("SVNB_FAST", "0") not in ("", "0")
EPOCHS = 40 if FAST else None

# %%
demo = sv.data.cells_3d(shape=(40, 192, 192), n_objects=80)
print(demo.description)
objects = sv.Objects(demo.image, demo.mask)
print(f"{len(objects)} objects in a {demo.image.shape} stack, 3D patches of {objects.patch_shape} voxels")

z, y = demo.image.shape[0] // 2, demo.image.shape[1] // 2
views = [
    ("maximum projection along Z", demo.image.max(axis=0), demo.mask.max(axis=0)),
    (f"plane z = {z}", demo.image[z], demo.mask[z]),
    (f"section y = {y} (Z down)", demo.image[:, y], demo.mask[:, y]),
]
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
for ax, (name, plane, labels) in zip(axes, views):
    ax.imshow(plane, cmap="gray", vmax=np.percentile(demo.image, 99.9))
    ax.contour(labels > 0, levels=[0.5], colors="yellow", linewidths=0.4)
    ax.set_title(name)
    ax.set_axis_off()
plt.tight_layout()

# %% [markdown]
# ## Annotate
#
# Each proposed object is shown at the plane through its centre; the **↑** and **↓** keys (or the
# z slider under *Display*) move through the planes. Keys and buttons work as in 2D.

# %%
ann = sv.Annotations(objects, demo.class_names)
annotator = sv.Annotator(objects, ann)
annotator

# %%
# Unattended fallback: if fewer than N_ANNOTATE objects were annotated by hand (for instance
# after "Run all"), give random objects their true class, as you would have in the widget.
N_ANNOTATE = 30
if len(ann) < N_ANNOTATE:
    for label in np.random.default_rng(0).permutation(objects.labels):
        if len(ann) >= N_ANNOTATE:
            break
        if int(label) not in ann:
            ann.add(int(label), demo.truth[int(label)])
print(f"{len(ann)} objects annotated: {ann.counts()}")

# %% [markdown]
# ## Train

# %%
clf = sv.Classifier(objects, class_names=ann.class_names)
print(clf.description, "on", clf.device_name)
trainer = sv.Trainer(clf, ann, epochs=EPOCHS)
trainer

# %%
# Unattended fallback: if Start was not pressed, start training from here. Either way, wait
# for the end of the run (the curves above keep updating meanwhile).
if not trainer.running and trainer.history is None:
    trainer.start()
history = trainer.wait()
clf = trainer.classifier  # the network chosen in the widget
print(history.summary())

# %% [markdown]
# ## Predict
#
# The viewer shows one plane of the stack (or a maximum projection, in *Display*) with every
# object coloured by its predicted class.

# %%
prediction = clf.predict(objects)
viewer = sv.PredictionViewer(objects, prediction, annotations=ann, classifier=clf)
viewer

# %%
labels = prediction.labels
predicted = np.array([prediction.classes[int(label)] for label in labels])
truth = demo.truth_for(labels)
held_out = np.array([int(label) not in ann for label in labels])
correct = predicted[held_out] == truth[held_out]
recall = {c: correct[truth[held_out] == c].mean() for c in demo.class_names}
print(f"Accuracy on the {held_out.sum()} objects not annotated: {correct.mean():.1%}")
print(
    "Balanced accuracy: {:.1%} (recall: {})".format(
        np.mean(list(recall.values())), ", ".join(f"{c} {r:.0%}" for c, r in recall.items())
    )
)

# %%
# The class image has the shape of the stack: 0 background, k + 1 for class k.
classes = prediction.class_image()
print(classes.shape, classes.dtype, {n: int(m.sum()) for n, m in prediction.class_masks().items()}, "voxels per class")
