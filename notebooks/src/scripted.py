# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # The whole pipeline from code, without widgets
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/svetlana-nb/svetlana_nb/blob/main/notebooks/scripted.ipynb)
#
# Everything the widgets do is plain Python: this notebook annotates from a list, trains with a
# console log, predicts, measures, explains and exports. Use it as a template for scripts and
# batch jobs (the widgets are thin views over these same objects).

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

import matplotlib.pyplot as plt
import numpy as np

import svetlana_nb as sv

# SVNB_FAST=1 (the tests set it) trains for a few epochs only. Unset: the engine picks the
# number of epochs and early stopping on a validation split ends training at the plateau.
FAST = os.environ.get("SVNB_FAST", "0") not in ("", "0")
EPOCHS = 40 if FAST else None

# %%
demo = sv.data.cells_2d()
objects = sv.Objects(demo.image, demo.mask)
print(demo)

# %% [markdown]
# ## Annotations
#
# An `Annotations` maps objects (by label id, or `(image name, label id)` with several images)
# to class names; it has undo/redo and saves to JSON. Here 40 random objects get their true class.

# %%
ann = sv.Annotations(objects, demo.class_names)
rng = np.random.default_rng(0)
for label in rng.choice(objects.labels, 40, replace=False):
    ann.add(int(label), demo.truth[int(label)])
print(len(ann), ann.counts())


# %% [markdown]
# ## Training
#
# `fit` reports to callbacks (here a one-line log every few epochs; the Trainer widget is another
# callback) and returns the history. Training options (learning rate, batch size, augmentation,
# early stopping, ...) are keyword arguments, see `sv.TrainingConfig`.


# %%
def log(epoch, metrics):
    if epoch == 1 or epoch % 10 == 0:
        print(
            f"epoch {epoch:3d}  train loss {metrics['train_loss']:.3f}  "
            f"val loss {metrics['val_loss'] or float('nan'):.3f}  "
            f"val acc {metrics['val_acc'] or float('nan'):.0%}"
        )


clf = sv.Classifier(objects, class_names=ann.class_names)
history = clf.fit(ann, epochs=EPOCHS, callbacks=[sv.FunctionCallback(on_epoch_end=log)])
print(history.summary())
history.to_frame().plot(x="epoch", y=["train_loss", "val_loss"], figsize=(5, 3))
plt.show()

# %% [markdown]
# ## Prediction

# %%
prediction = clf.predict(objects)
print(prediction)
prediction.table.head()

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
# Overlay: every object in its predicted class colour, annotated objects outlined.
from matplotlib.colors import ListedColormap

from svetlana_nb.display import class_color  # the widgets' colours

colors = ListedColormap(["none"] + [class_color(k) for k in range(len(demo.class_names))])
fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(demo.image, cmap="gray", vmax=np.percentile(demo.image, 99.8))
ax.imshow(np.ma.masked_equal(prediction.class_image(), 0), cmap=colors, vmin=0, vmax=2, alpha=0.5)
annotated = np.isin(demo.mask, [label for (_, label), _ in ann.items()])
ax.contour(annotated, levels=[0.5], colors="white", linewidths=0.8)
ax.set_title("predicted: " + ", ".join(f"{n} ({c})" for n, c in prediction.counts().items()))
ax.set_axis_off()

# %% [markdown]
# ## Explanation of one decision (evidence map)

# %%
key = int(prediction.labels[np.argmax(prediction.confidence)])
cam = sv.grad_cam(clf, objects, key)
fig, axes = plt.subplots(1, 2, figsize=(5, 2.5))
axes[0].imshow(cam.patch[0], cmap="gray")
axes[1].imshow(cam.heatmap, cmap="magma")
for ax, name in zip(axes, [f"object {key}: {cam.class_name}", "evidence"]):
    ax.set_title(name, fontsize=9)
    ax.set_axis_off()

# %% [markdown]
# ## Files: annotations, model, table, class image

# %%
out = Path(tempfile.mkdtemp(prefix="svetlana_nb_"))
ann.save(out / "annotations.json")
clf.save(out / "model.svnb")
prediction.to_csv(out / "objects.csv")
prediction.save_class_image(out / "classes.tif")
prediction.save_class_masks(out)
print(sorted(p.name for p in out.iterdir()))

# Everything reads back.
again = sv.Classifier.load(out / "model.svnb").predict(objects)
assert np.array_equal(again.class_index, prediction.class_index)
print(len(sv.Annotations.load(out / "annotations.json", objects)), "annotations reloaded")
