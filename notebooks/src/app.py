# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # Teach a computer to sort cells
#
# The image shows nuclei, **healthy** (smooth) or **fragmented** (broken into bright pieces).
#
# 1. **Annotate**: one nucleus is shown at a time. Press `1` if it is healthy, `2` if it is
#    fragmented (or click the buttons); the next one comes. Label about ten of each class.
#    (*Mode → Click on the image* lets you pick nuclei yourself.)
# 2. **Train**: open the *Train* tab and press *Start*. A small neural network learns from your
#    labels (under a minute).
# 3. **Predict**: open the *Predict* tab. Every nucleus is coloured by its predicted class. Click
#    one that is wrong, correct it, and train again.
# 4. **Check**: the *Check* tab shows, for each class, the nuclei the network is surest and least
#    sure of. Are the unsure ones really hard? Click one to label it, and train again.
#
# This page is a notebook served by Voilà: the code is hidden. To run it yourself, open
# `notebooks/app.ipynb` in Jupyter.

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

import svetlana_nb as sv

# SVNB_FAST=1 (the tests set it) trains for a few epochs only. Unset: the engine picks the
# number of epochs and early stopping ends training at the plateau.
FAST = os.environ.get("SVNB_FAST", "0") not in ("", "0")
options = {"epochs": 5} if FAST else {}

# A small demo set (80 nuclei in 320 x 320 px), quick to train on a Binder CPU.
demo = sv.data.cells_2d(shape=(320, 320), n_objects=80)
app = sv.App(demo.image, demo.mask, demo.class_names, training_options=options)
app
