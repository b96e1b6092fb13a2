# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # svetlana_nb quickstart: classify cells in five minutes
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/svetlana-nb/svetlana_nb/blob/main/notebooks/quickstart.ipynb)
#
# You have an image and its segmentation (a label mask from Cellpose, StarDist, ...), and you want
# to sort the objects into classes. As in the SVETLANA napari plugin (Cazorla, Weiss & Morin), you
# **annotate** a few objects, a small CNN **trains** on patches centred on them, and it
# **predicts** the class of every object.
#
# The image here is generated: 160 nuclei, *healthy* (smooth) or *fragmented* (broken into bright
# fragments), whose true classes are known, so that the last cell measures the real accuracy.
#
# **Run all** works unattended: after each widget, a cell titled *Unattended fallback* does with
# the Python API what you would have done in the widget, only if you did not do it.

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

import numpy as np

import svetlana_nb as sv

# SVNB_FAST=1 (the tests set it) trains for a few epochs only. Unset: the engine picks the
# number of epochs and early stopping on a validation split ends training at the plateau.
FAST = os.environ.get("SVNB_FAST", "0") not in ("", "0")
EPOCHS = 40 if FAST else None

# %% [markdown]
# ## 1. The data
#
# `sv.Objects(image, mask)` takes numpy arrays: an image `(Y, X)`, `(Y, X, C)` or 3D, and an
# integer label mask of the same shape (0 is background). It finds the objects and the patch
# size that fits them.

# %%
demo = sv.data.cells_2d()
print(demo.description)
objects = sv.Objects(demo.image, demo.mask)
print(f"{len(objects)} objects, patches of {objects.patch_shape} pixels")

# %% [markdown]
# ## 2. Annotate
#
# The annotator proposes one object at a time. Click a class button, or click the image and press
# **1**, **2**; **Space** skips, **Backspace** undoes. *Mode* switches to the uncertain objects
# first (after a training) or to clicking objects on the whole image. Twenty to forty objects are
# enough to start.

# %%
ann = sv.Annotations(objects, demo.class_names)
annotator = sv.Annotator(objects, ann)
annotator

# %%
# Unattended fallback: if fewer than N_ANNOTATE objects were annotated by hand (for instance
# after "Run all"), give random objects their true class, as you would have in the widget.
N_ANNOTATE = 40
by_hand = ann.counts()
added = {name: 0 for name in demo.class_names}
if len(ann) < N_ANNOTATE:
    for label in np.random.default_rng(0).permutation(objects.labels):
        if len(ann) >= N_ANNOTATE:
            break
        if int(label) not in ann:
            ann.add(int(label), demo.truth[int(label)])
            added[demo.truth[int(label)]] += 1
if sum(added.values()):
    print(
        f"You annotated {sum(by_hand.values())} objects; this cell added {sum(added.values())} more "
        f"from the demo's ground truth ({added}) to reach {N_ANNOTATE}."
    )
print(f"{len(ann)} objects annotated: {ann.counts()}")

# %% [markdown]
# ## 3. Train
#
# Press **Start**: the loss and accuracy curves update live (training and validation). **Stop**
# keeps the best weights. The buttons on top choose the network: the paper's light CNN (the
# default), a deeper one, a small ResNet, or a random forest on object measurements. With
# *Second opinion* ticked (the default), a random forest on each object's measurements is trained
# with the network and averaged in where the network is unsure; the summary gives the validation
# accuracy with and without it.

# %%
clf = sv.Classifier(objects, class_names=ann.class_names)
print("device:", clf.device_name)
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
# ## 4. Predict and inspect
#
# Every object is coloured by its predicted class (*Confidence* colours it by how sure the
# network is). Click an object to see its probabilities and a map of the evidence the network
# found; the *Correct to* buttons add it to the annotations, so that training again (Start, then
# this cell) learns from the correction. *Export* writes the table, class image and class masks.

# %%
prediction = clf.predict(objects)
viewer = sv.PredictionViewer(objects, prediction, annotations=ann, classifier=clf)
viewer

# %%
prediction.table.head()

# %% [markdown]
# ## 5. How good is it?
#
# The demo knows the true class of every object: compare it with the prediction on the objects
# that were not annotated.

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

# %% [markdown]
# ## 6. The numbers to report
#
# A raw count of predicted classes carries the classifier's errors. `out_of_fold` measures them on
# your annotations: each one is predicted by a classifier trained without it (5 trainings).
# `summary` then gives, per image and class, the raw share, the share corrected for those errors,
# the 95 % interval, and the `estimate` to report (the corrected share where your annotations show
# the classifier biased, else the raw one; `basis` says which). The plot is ready for a figure:
# `fig.savefig("proportions.pdf")`.

# %%
from svetlana_nb.models.cross_validation import out_of_fold
from svetlana_nb.prediction.plots import proportion_plot

errors = out_of_fold(clf, ann, folds=5, **({} if EPOCHS is None else {"epochs": EPOCHS}))
summary = prediction.corrected(ann).summary(errors)
print(f"true share: {', '.join(f'{c} {np.mean(truth == c):.1%}' for c in demo.class_names)}")
summary.round(3)

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3.5))
_ = proportion_plot(summary, ax=ax)

# %% [markdown]
# ## Next
#
# * `sv.App(image, mask, classes)` puts the annotator, the trainer and the viewer in one widget
#   with tabs (used in [multichannel.ipynb](multichannel.ipynb)).
# * [your_own_data.ipynb](your_own_data.ipynb): your TIFF/PNG files, a folder of images, saving
#   and resuming annotations, saving the model, predicting a whole folder from the command line.
# * [3d.ipynb](3d.ipynb) for stacks, [scripted.ipynb](scripted.ipynb) for the same pipeline
#   without widgets.
