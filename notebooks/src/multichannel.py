# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # Two channels: infected cells
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/svetlana-nb/svetlana_nb/blob/main/notebooks/multichannel.ipynb)
#
# The paper's second example: HEK cells whose nuclei are stained in one channel (Hoechst) while
# viral replication shows as bright spots in another (ANCHOR). A cell is *infected* when its
# nucleus holds bright spots. Dimmer spots lie everywhere, so the mean intensity of the spot
# channel is not enough: the network must look at the spots inside the nucleus.
#
# This notebook uses `sv.App`, the three widgets in one, with tabs *Annotate*, *Train* and
# *Predict*. As everywhere, the *Unattended fallback* cells do the work from code when you did not.

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
demo = sv.data.infected_cells_2d()
print(demo.description)
print(demo.image.shape, demo.image.dtype, "channel axis:", demo.channel_axis)

fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
for ax, c, name in zip(axes, range(2), ["nuclei (channel 0)", "spots (channel 1)"]):
    ax.imshow(demo.image[..., c], cmap="gray", vmax=np.percentile(demo.image[..., c], 99.8))
    ax.contour(demo.mask > 0, levels=[0.5], colors="yellow", linewidths=0.4)
    ax.set_title(name)
    ax.set_axis_off()
plt.tight_layout()

# %% [markdown]
# ## Annotate, train, predict in one widget
#
# Every channel goes to the network (plus the object's mask as an extra channel); the display
# shows them as a composite whose colours and contrast are in *Display*. Annotate in the first
# tab, press *Start* in the second, and the third shows the prediction once training ends.

# %%
app = sv.App(demo.image, demo.mask, demo.class_names, channel_axis=-1)
app.trainer.controls.epochs.value = "" if EPOCHS is None else str(EPOCHS)
app

# %%
# Unattended fallback: if fewer than N_ANNOTATE objects were annotated by hand (for instance
# after "Run all"), give random objects their true class, as you would have in the widget.
N_ANNOTATE = 40
if len(app.annotations) < N_ANNOTATE:
    for label in np.random.default_rng(0).permutation(app.objects.labels):
        if len(app.annotations) >= N_ANNOTATE:
            break
        if int(label) not in app.annotations:
            app.annotations.add(int(label), demo.truth[int(label)])
print(f"{len(app.annotations)} objects annotated: {app.annotations.counts()}")

# %%
# Unattended fallback: train from here if Start (Train tab) was not pressed, then wait for the
# training and for the prediction of every object that follows it (Predict tab).
ann = app.annotations
if not app.trainer.running and app.trainer.history is None:
    app.trainer.start()
prediction = app.wait()
clf = app.classifier
print(app.trainer.history.summary())
print(prediction)

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
# ## Where does the network look?
#
# The evidence map (integrated gradients, `sv.grad_cam` keeps its former name) colours the parts
# of the patch that make the network say its class. For an infected cell it should light up the
# spots of channel 1 inside the nucleus; where a map carries no evidence, `note` says so.

# %%
infected = [k for k, c in prediction.classes.items() if c == "infected"]
healthy = [k for k, c in prediction.classes.items() if c == "healthy"]
fig, axes = plt.subplots(2, 4, figsize=(10, 5))
for row, key in zip(axes, infected[:1] + healthy[:1]):
    cam = sv.grad_cam(clf, app.objects, key)
    for ax, img, name in zip(
        row, [cam.patch[0], cam.patch[1], cam.patch[-1], cam.heatmap], ["nuclei", "spots", "object mask", "evidence"]
    ):
        ax.imshow(img, cmap="magma" if name == "evidence" else "gray")
        ax.set_title(f"{name}" + (f"\n{key}: {cam.class_name}" if name == "nuclei" else ""), fontsize=9)
        ax.set_axis_off()
plt.tight_layout()

# %% [markdown]
# ## Compared with a random forest on object measurements
#
# The classical baseline: per-object features (area, shape, mean/std/max intensity per channel)
# and a random forest, trained on the same annotations.

# %%
forest = sv.Classifier(app.objects, model="random_forest", class_names=ann.class_names)
forest.fit(ann)
forest_prediction = forest.predict(app.objects)
forest_predicted = np.array([forest_prediction.classes[int(label)] for label in labels])
print(
    f"Random forest, accuracy on the objects not annotated: "
    f"{np.mean(forest_predicted[held_out] == truth[held_out]):.1%}"
)

# %% [markdown]
# ## Only the channel that shows the class
#
# The nuclei channel is the same for both classes: to a network trained on a few dozen examples
# it is noise. When you know which channel shows the class, `channels=[1]` makes the classifier
# (network or forest) look at that one only, while the widgets still show every channel. On this
# set's benchmark it raises the balanced accuracy from 20 annotations (`docs/decisions.md`).

# %%
spots_only = sv.Classifier(app.objects, class_names=ann.class_names, channels=[1])
spots_only.fit(ann, epochs=EPOCHS)
spots_prediction = spots_only.predict(app.objects)
spots_predicted = np.array([spots_prediction.classes[int(label)] for label in labels])
print(
    f"Network on the spot channel only, accuracy on the objects not annotated: "
    f"{np.mean(spots_predicted[held_out] == truth[held_out]):.1%}"
)

# %% [markdown]
# ## The numbers to report
#
# The share of infected cells, corrected for the classifier's errors measured on the annotations
# by cross-validation (5 trainings), with its 95 % interval; `estimate` is the figure to report.
# The *Prediction* tab of the App shows the same under "Class proportions".

# %%
from svetlana_nb.models.cross_validation import out_of_fold
from svetlana_nb.prediction.plots import proportion_plot

clf = app.viewer.classifier  # the classifier whose prediction the App shows
errors = out_of_fold(clf, ann, folds=5, **({} if EPOCHS is None else {"epochs": EPOCHS}))
summary = prediction.corrected(ann).summary(errors)
print(f"true share of infected cells: {np.mean(truth == 'infected'):.1%}")
summary.round(3)

# %%
proportion_plot(summary, title="Infected cells, 95 % interval")
