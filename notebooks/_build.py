"""Generate the notebooks of this folder from the cell sources below (review them here, as code).

Run ``python notebooks/_build.py`` after editing this file: every ``*.ipynb`` is rewritten with
clean outputs and stable cell ids. ``python notebooks/_build.py --check`` exits with status 1
when a notebook differs from what this file generates (the tests run it).

Conventions shared by all notebooks:

* the first code cell installs the package on Colab (and only there) and enables Colab's
  widget manager;
* ``SVNB_FAST=1`` in the environment (set by the tests) trains for a few epochs only;
* after each widget cell, a cell titled *Unattended fallback* does with the API what the user
  would have done with the widget, only when they did not (so "Run all" gives results).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
#: Placeholder address of the project's git repository (also at the top of the README).
REPO_URL = "https://github.com/svetlana-nb/svetlana_nb"
REPO_PATH = REPO_URL.split("github.com/", 1)[1]
COLAB = f"https://colab.research.google.com/github/{REPO_PATH}/blob/main/notebooks"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
#: Epochs of every training when SVNB_FAST=1 (the tests): enough to beat chance clearly.
FAST_EPOCHS = 40

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3",
                 "codemirror_mode": {"name": "ipython", "version": 3}}


def title(name: str, heading: str, text: str) -> str:
    """Return the first markdown cell: heading, Colab badge, introduction."""
    return (f"# {heading}\n\n[![Open In Colab]({BADGE})]({COLAB}/{name}.ipynb)\n\n"
            + text.strip())


COLAB_SETUP = f'''
# On Colab only: install svetlana_nb and enable third-party widgets. Elsewhere this does nothing.
# (A GPU, when the runtime has one, is used automatically.)
import sys

REPO_URL = "{REPO_URL}"
if "google.colab" in sys.modules:
    %pip install -q "svetlana_nb @ git+{{REPO_URL}}"
    from google.colab import output

    output.enable_custom_widget_manager()
'''


def settings(std: str = "", third: str = "", ours: str = "") -> str:
    """Return the cell of imports (extra ones in their groups) and the short-training switch."""
    std = "".join(f"{line}\n" for line in ["import os", *std.splitlines()])
    third = "".join(f"{line}\n" for line in [*third.splitlines(), "import numpy as np"])
    ours = "".join(f"{line}\n" for line in ["import svetlana_nb as sv", *ours.splitlines()])
    return f'''
{std}
{third}
{ours}
# SVNB_FAST=1 (the tests set it) trains for a few epochs only. Unset: the engine picks the
# number of epochs and early stopping on a validation split ends training at the plateau.
FAST = os.environ.get("SVNB_FAST", "0") not in ("", "0")
EPOCHS = {FAST_EPOCHS} if FAST else None
'''


def annotate_fallback(n: int, truth: str = "demo.truth", key: str = "int(label)",
                      labels: str = "objects.labels", ann: str = "ann") -> str:
    """Give ``n`` random objects their true class unless that many were annotated by hand."""
    return f'''
# Unattended fallback: if fewer than N_ANNOTATE objects were annotated by hand (for instance
# after "Run all"), give random objects their true class, as you would have in the widget.
N_ANNOTATE = {n}
if len({ann}) < N_ANNOTATE:
    for label in np.random.default_rng(0).permutation({labels}):
        if len({ann}) >= N_ANNOTATE:
            break
        if {key} not in {ann}:
            {ann}.add({key}, {truth}[{key}])
print(f"{{len({ann})}} objects annotated: {{{ann}.counts()}}")
'''


TRAIN_FALLBACK = '''
# Unattended fallback: if Start was not pressed, start training from here. Either way, wait
# for the end of the run (the curves above keep updating meanwhile).
if not trainer.running and trainer.history is None:
    trainer.start()
history = trainer.wait()
clf = trainer.classifier  # the network chosen in the widget
print(history.summary())
'''


def accuracy(prediction: str = "prediction", ann: str = "ann", demo: str = "demo") -> str:
    """Accuracy of a prediction on the objects not annotated, against the demo's truth."""
    return f'''
labels = {prediction}.labels
predicted = np.array([{prediction}.classes[int(label)] for label in labels])
truth = {demo}.truth_for(labels)
held_out = np.array([int(label) not in {ann} for label in labels])
correct = predicted[held_out] == truth[held_out]
recall = {{c: correct[truth[held_out] == c].mean() for c in {demo}.class_names}}
print(f"Accuracy on the {{held_out.sum()}} objects not annotated: {{correct.mean():.1%}}")
print("Balanced accuracy: {{:.1%}} (recall: {{}})".format(
    np.mean(list(recall.values())), ", ".join(f"{{c}} {{r:.0%}}" for c, r in recall.items())))
'''


# ----------------------------------------------------------------------------------------------
# quickstart.ipynb

QUICKSTART = [
    ("md", title("quickstart", "svetlana_nb quickstart: classify cells in five minutes", """
You have an image and its segmentation (a label mask from Cellpose, StarDist, ...), and you want
to sort the objects into classes. As in the SVETLANA napari plugin (Cazorla, Weiss & Morin), you
**annotate** a few objects, a small CNN **trains** on patches centred on them, and it
**predicts** the class of every object.

The image here is generated: 160 nuclei, *healthy* (smooth) or *fragmented* (broken into bright
fragments), whose true classes are known, so that the last cell measures the real accuracy.

**Run all** works unattended: after each widget, a cell titled *Unattended fallback* does with
the Python API what you would have done in the widget, only if you did not do it.
""")),
    ("code", COLAB_SETUP),
    ("code", settings()),
    ("md", """
## 1. The data

`sv.Objects(image, mask)` takes numpy arrays: an image `(Y, X)`, `(Y, X, C)` or 3D, and an
integer label mask of the same shape (0 is background). It finds the objects and the patch
size that fits them.
"""),
    ("code", '''
demo = sv.data.cells_2d()
print(demo.description)
objects = sv.Objects(demo.image, demo.mask)
print(f"{len(objects)} objects, patches of {objects.patch_shape} pixels")
'''),
    ("md", """
## 2. Annotate

The annotator proposes one object at a time. Click a class button, or click the image and press
**1**, **2**; **Space** skips, **Backspace** undoes. *Mode* switches to the uncertain objects
first (after a training) or to clicking objects on the whole image. Twenty to forty objects are
enough to start.
"""),
    ("code", '''
ann = sv.Annotations(objects, demo.class_names)
annotator = sv.Annotator(objects, ann)
annotator
'''),
    ("code", annotate_fallback(40)),
    ("md", """
## 3. Train

Press **Start**: the loss and accuracy curves update live (training and validation). **Stop**
keeps the best weights. The buttons on top choose the network: the paper's light CNN (the
default), a deeper one, a small ResNet, or a random forest on object measurements. With
*Second opinion* ticked (the default), a random forest on each object's measurements is trained
with the network and averaged in where the network is unsure; the summary gives the validation
accuracy with and without it.
"""),
    ("code", '''
clf = sv.Classifier(objects, class_names=ann.class_names)
print("device:", clf.device_name)
trainer = sv.Trainer(clf, ann, epochs=EPOCHS)
trainer
'''),
    ("code", TRAIN_FALLBACK),
    ("md", """
## 4. Predict and inspect

Every object is coloured by its predicted class (*Confidence* colours it by how sure the
network is). Click an object to see its probabilities and a Grad-CAM map of where the network
looked; the *Correct to* buttons add it to the annotations, so that training again (Start, then
this cell) learns from the correction. *Export* writes the table, class image and class masks.
"""),
    ("code", '''
prediction = clf.predict(objects)
viewer = sv.PredictionViewer(objects, prediction, annotations=ann, classifier=clf)
viewer
'''),
    ("code", '''
prediction.table.head()
'''),
    ("md", """
## 5. How good is it?

The demo knows the true class of every object: compare it with the prediction on the objects
that were not annotated.
"""),
    ("code", accuracy()),
    ("md", """
## Next

* `sv.App(image, mask, classes)` puts the annotator, the trainer and the viewer in one widget
  with tabs (used in [multichannel.ipynb](multichannel.ipynb)).
* [your_own_data.ipynb](your_own_data.ipynb): your TIFF/PNG files, a folder of images, saving
  and resuming annotations, saving the model, predicting a whole folder from the command line.
* [3d.ipynb](3d.ipynb) for stacks, [scripted.ipynb](scripted.ipynb) for the same pipeline
  without widgets.
"""),
]


# ----------------------------------------------------------------------------------------------
# multichannel.ipynb

MULTICHANNEL = [
    ("md", title("multichannel", "Two channels: infected cells", """
The paper's second example: HEK cells whose nuclei are stained in one channel (Hoechst) while
viral replication shows as bright spots in another (ANCHOR). A cell is *infected* when its
nucleus holds bright spots. Dimmer spots lie everywhere, so the mean intensity of the spot
channel is not enough: the network must look at the spots inside the nucleus.

This notebook uses `sv.App`, the three widgets in one, with tabs *Annotate*, *Train* and
*Predict*. As everywhere, the *Unattended fallback* cells do the work from code when you did not.
""")),
    ("code", COLAB_SETUP),
    ("code", settings(third="import matplotlib.pyplot as plt")),
    ("code", '''
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
'''),
    ("md", """
## Annotate, train, predict in one widget

Every channel goes to the network (plus the object's mask as an extra channel); the display
shows them as a composite whose colours and contrast are in *Display*. Annotate in the first
tab, press *Start* in the second, and the third shows the prediction once training ends.
"""),
    ("code", '''
app = sv.App(demo.image, demo.mask, demo.class_names, channel_axis=-1)
app.trainer.controls.epochs.value = "" if EPOCHS is None else str(EPOCHS)
app
'''),
    ("code", annotate_fallback(40, ann="app.annotations", labels="app.objects.labels")),
    ("code", '''
# Unattended fallback: train from here if Start (Train tab) was not pressed, then wait for the
# training and for the prediction of every object that follows it (Predict tab).
ann = app.annotations
if not app.trainer.running and app.trainer.history is None:
    app.trainer.start()
prediction = app.wait()
clf = app.classifier
print(app.trainer.history.summary())
print(prediction)
'''),
    ("code", accuracy()),
    ("md", """
## Where does the network look?

Grad-CAM highlights the part of the patch that made the network decide. For an infected cell
it should light up the spots of channel 1 inside the nucleus.
"""),
    ("code", '''
infected = [k for k, c in prediction.classes.items() if c == "infected"]
healthy = [k for k, c in prediction.classes.items() if c == "healthy"]
fig, axes = plt.subplots(2, 4, figsize=(10, 5))
for row, key in zip(axes, infected[:1] + healthy[:1]):
    cam = sv.grad_cam(clf, app.objects, key)
    for ax, img, name in zip(row, [cam.patch[0], cam.patch[1], cam.patch[-1], cam.heatmap],
                             ["nuclei", "spots", "object mask", "Grad-CAM"]):
        ax.imshow(img, cmap="magma" if name == "Grad-CAM" else "gray")
        ax.set_title(f"{name}" + (f"\\n{key}: {cam.class_name}" if name == "nuclei" else ""),
                     fontsize=9)
        ax.set_axis_off()
plt.tight_layout()
'''),
    ("md", """
## Compared with a random forest on object measurements

The classical baseline: per-object features (area, shape, mean/std/max intensity per channel)
and a random forest, trained on the same annotations.
"""),
    ("code", '''
forest = sv.Classifier(app.objects, model="random_forest", class_names=ann.class_names)
forest.fit(ann)
forest_prediction = forest.predict(app.objects)
forest_predicted = np.array([forest_prediction.classes[int(label)] for label in labels])
print(f"Random forest, accuracy on the objects not annotated: "
      f"{np.mean(forest_predicted[held_out] == truth[held_out]):.1%}")
'''),
    ("md", """
## Only the channel that shows the class

The nuclei channel is the same for both classes: to a network trained on a few dozen examples
it is noise. When you know which channel shows the class, `channels=[1]` makes the classifier
(network or forest) look at that one only, while the widgets still show every channel. On this
set's benchmark (`benchmarks/explore_defaults.py`, 640 cells), it raises the network's balanced
accuracy from 20 annotations from 0.935 to 0.940 (5 random draws).
"""),
    ("code", '''
spots_only = sv.Classifier(app.objects, class_names=ann.class_names, channels=[1])
spots_only.fit(ann, epochs=EPOCHS)
spots_prediction = spots_only.predict(app.objects)
spots_predicted = np.array([spots_prediction.classes[int(label)] for label in labels])
print(f"Network on the spot channel only, accuracy on the objects not annotated: "
      f"{np.mean(spots_predicted[held_out] == truth[held_out]):.1%}")
'''),
]


# ----------------------------------------------------------------------------------------------
# 3d.ipynb

THREE_D = [
    ("md", title("3d", "3D: classify nuclei in a stack", """
The same workflow on a `(Z, Y, X)` stack and its 3D label mask: patches are 3D, and so is the
network (3D convolutions). The demo stack holds nuclei in *interphase* (smooth) and *mitotic*
(condensed chromosomes) whose true classes are known.
""")),
    ("code", COLAB_SETUP),
    ("code", settings(third="import matplotlib.pyplot as plt")),
    ("code", '''
demo = sv.data.cells_3d(shape=(40, 192, 192), n_objects=80)
print(demo.description)
objects = sv.Objects(demo.image, demo.mask)
print(f"{len(objects)} objects in a {demo.image.shape} stack, 3D patches of "
      f"{objects.patch_shape} voxels")

z, y = demo.image.shape[0] // 2, demo.image.shape[1] // 2
views = [("maximum projection along Z", demo.image.max(axis=0), demo.mask.max(axis=0)),
         (f"plane z = {z}", demo.image[z], demo.mask[z]),
         (f"section y = {y} (Z down)", demo.image[:, y], demo.mask[:, y])]
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
for ax, (name, plane, labels) in zip(axes, views):
    ax.imshow(plane, cmap="gray", vmax=np.percentile(demo.image, 99.9))
    ax.contour(labels > 0, levels=[0.5], colors="yellow", linewidths=0.4)
    ax.set_title(name)
    ax.set_axis_off()
plt.tight_layout()
'''),
    ("md", """
## Annotate

Each proposed object is shown at the plane through its centre; the **↑** and **↓** keys (or the
z slider under *Display*) move through the planes. Keys and buttons work as in 2D.
"""),
    ("code", '''
ann = sv.Annotations(objects, demo.class_names)
annotator = sv.Annotator(objects, ann)
annotator
'''),
    ("code", annotate_fallback(30)),
    ("md", "## Train"),
    ("code", '''
clf = sv.Classifier(objects, class_names=ann.class_names)
print(clf.description, "on", clf.device_name)
trainer = sv.Trainer(clf, ann, epochs=EPOCHS)
trainer
'''),
    ("code", TRAIN_FALLBACK),
    ("md", """
## Predict

The viewer shows one plane of the stack (or a maximum projection, in *Display*) with every
object coloured by its predicted class.
"""),
    ("code", '''
prediction = clf.predict(objects)
viewer = sv.PredictionViewer(objects, prediction, annotations=ann, classifier=clf)
viewer
'''),
    ("code", accuracy()),
    ("code", '''
# The class image has the shape of the stack: 0 background, k + 1 for class k.
classes = prediction.class_image()
print(classes.shape, classes.dtype, {n: int(m.sum()) for n, m in prediction.class_masks().items()},
      "voxels per class")
'''),
]


# ----------------------------------------------------------------------------------------------
# your_own_data.ipynb

OWN_DATA = [
    ("md", title("your_own_data", "Your own data: files, folders, saving, batch prediction", """
What you need: images (TIFF or PNG; 2D, 2D + channels or 3D) and, for each, a label mask (one
integer per object, 0 for background) such as Cellpose's `*_cp_masks.tif` or StarDist's
labels. A mask is matched to its image by name: `well_A1.tif` goes with `well_A1.tif` in the
masks folder, or with `well_A1_cp_masks.tif`, `well_A1_masks.tif`, `well_A1_labels.tif`...

So that this notebook runs anywhere, it first writes demo images and masks to a temporary
folder. **For your data, set `IMAGES_DIR` and `MASKS_DIR` to your folders** in the cell that
defines them.
""")),
    ("code", COLAB_SETUP),
    ("code", settings(std="import tempfile\nfrom pathlib import Path",
                      third="import imageio.v3 as iio",
                      ours="from svetlana_nb.io import find_pairs, read_image, read_mask, "
                           "write_tiff")),
    ("md", "## Demo files (skip this for your own data)"),
    ("code", '''
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
'''),
    ("md", "## One image and its mask"),
    ("code", '''
IMAGES_DIR = WORK / "images"  # <- your images
MASKS_DIR = WORK / "masks"  # <- your masks (may be the same folder as the images)

image = read_image(IMAGES_DIR / "well_A1.tif")
mask = read_mask(MASKS_DIR / "well_A1_cp_masks.tif")
print(image.shape, image.dtype, mask.shape, mask.dtype, f"{len(np.unique(mask)) - 1} objects")
# A multichannel image: sv.Objects(image, mask, channel_axis=...) if the channels are not last.
one = sv.Objects(image, mask, name="well_A1.tif")
print(len(one), "objects")
'''),
    ("md", """
## A folder of images

`find_pairs` matches every image with its mask; `sv.Objects` takes lists and names each image
(by its file name: that is what the annotation file stores, never a full path). Annotations and
training then span all images. `sv.Objects.from_folders(IMAGES_DIR, MASKS_DIR)` does the same
in one call.
"""),
    ("code", '''
pairs = find_pairs(IMAGES_DIR, MASKS_DIR)
for image_path, mask_path in pairs:
    print(image_path.name, "<->", mask_path.name)
objects = sv.Objects([read_image(i) for i, _ in pairs], [read_mask(m) for _, m in pairs],
                     name=[i.name for i, _ in pairs])
print(f"{len(objects)} objects in {objects.n_images} images")
'''),
    ("md", """
## Annotate, with the annotations saved after every change

`sv.Annotations.open(path, objects, classes)` resumes the file if it exists (else starts empty)
and saves after every change: close the notebook, come back tomorrow, run this cell again and
carry on. The annotator's image selector switches between the images.
"""),
    ("code", '''
ANNOTATIONS = IMAGES_DIR / "annotations.json"
ann = sv.Annotations.open(ANNOTATIONS, objects, CLASSES)
annotator = sv.Annotator(objects, ann)
annotator
'''),
    ("code", '''
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
'''),
    ("code", '''
# The file holds image names, label ids and classes; resuming gives the same annotations.
print(ANNOTATIONS.read_text()[:300], "...")
resumed = sv.Annotations.open(ANNOTATIONS, objects, CLASSES)
assert dict(resumed.items()) == dict(ann.items())
print(f"resumed {len(resumed)} annotations")
'''),
    ("md", """
## Train and save the model

A model file holds the weights (safetensors) and a JSON description (network, classes, patch
size, normalisation): no pickle, safe to share. `sv.Classifier.load` reads it back.
"""),
    ("code", '''
clf = sv.Classifier(objects, class_names=ann.class_names)
history = clf.fit(ann, epochs=EPOCHS)
print(history.summary())
MODEL = WORK / "model.svnb"
clf.save(MODEL)
print("saved", MODEL.name, f"({MODEL.stat().st_size / 1024:.0f} KiB)")
print(sv.Classifier.load(MODEL).description)
'''),
    ("md", """
## Batch prediction of a new folder, from the command line

`svetlana-nb predict MODEL IMAGES_DIR MASKS_DIR OUT_DIR` classifies every object of every
image/mask pair and writes, per image, a class image (`<image>_classes.tif`: 0 background,
k + 1 for class k) and one table `objects.csv` for all objects. It works the same in a terminal
or on a cluster; here it runs as `python -m svetlana_nb.cli`, the same program.
"""),
    ("code", '''
NEW_IMAGES, NEW_MASKS, OUT = WORK / "new_images", WORK / "new_masks", WORK / "predictions"
# In a terminal: svetlana-nb predict model.svnb new_images new_masks predictions
CLI = f'"{sys.executable}" -m svetlana_nb.cli'  # the same, with this notebook's Python
!{CLI} predict "{MODEL}" "{NEW_IMAGES}" "{NEW_MASKS}" "{OUT}" --no-progress
print("CLI output:", sorted(p.name for p in OUT.iterdir()))
'''),
    ("code", '''
import pandas as pd

table = pd.read_csv(OUT / "objects.csv")
correct = [truth[(image, label)] == cls
           for image, label, cls in zip(table["image"], table["label"], table["class"])]
print(f"{len(table)} objects predicted in the new image; accuracy {np.mean(correct):.1%}")
print("Class image:", read_image(OUT / "well_D1_classes.tif").shape)
table.head()
'''),
    ("md", """
The same from Python, for objects in memory: `prediction = clf.predict(objects)`, then
`prediction.to_csv(path)`, `prediction.save_class_image(path, image=name)` and
`prediction.save_class_masks(folder, image=name)`.
"""),
]


# ----------------------------------------------------------------------------------------------
# scripted.ipynb

SCRIPTED = [
    ("md", title("scripted", "The whole pipeline from code, without widgets", """
Everything the widgets do is plain Python: this notebook annotates from a list, trains with a
console log, predicts, measures, explains and exports. Use it as a template for scripts and
batch jobs (the widgets are thin views over these same objects).
""")),
    ("code", COLAB_SETUP),
    ("code", settings(std="import tempfile\nfrom pathlib import Path",
                      third="import matplotlib.pyplot as plt")),
    ("code", '''
demo = sv.data.cells_2d()
objects = sv.Objects(demo.image, demo.mask)
print(demo)
'''),
    ("md", """
## Annotations

An `Annotations` maps objects (by label id, or `(image name, label id)` with several images)
to class names; it has undo/redo and saves to JSON. Here 40 random objects get their true class.
"""),
    ("code", '''
ann = sv.Annotations(objects, demo.class_names)
rng = np.random.default_rng(0)
for label in rng.choice(objects.labels, 40, replace=False):
    ann.add(int(label), demo.truth[int(label)])
print(len(ann), ann.counts())
'''),
    ("md", """
## Training

`fit` reports to callbacks (here a one-line log every few epochs; the Trainer widget is another
callback) and returns the history. Training options (learning rate, batch size, augmentation,
early stopping, ...) are keyword arguments, see `sv.TrainingConfig`.
"""),
    ("code", '''
def log(epoch, metrics):
    if epoch == 1 or epoch % 10 == 0:
        print(f"epoch {epoch:3d}  train loss {metrics['train_loss']:.3f}  "
              f"val loss {metrics['val_loss'] or float('nan'):.3f}  "
              f"val acc {metrics['val_acc'] or float('nan'):.0%}")


clf = sv.Classifier(objects, class_names=ann.class_names)
history = clf.fit(ann, epochs=EPOCHS, callbacks=[sv.FunctionCallback(on_epoch_end=log)])
print(history.summary())
history.to_frame().plot(x="epoch", y=["train_loss", "val_loss"], figsize=(5, 3))
plt.show()
'''),
    ("md", "## Prediction"),
    ("code", '''
prediction = clf.predict(objects)
print(prediction)
prediction.table.head()
'''),
    ("code", accuracy()),
    ("code", '''
# Overlay: every object in its predicted class colour, annotated objects outlined.
from matplotlib.colors import ListedColormap

from svetlana_nb.render import class_color  # the widgets' colours

colors = ListedColormap(["none"] + [class_color(k) for k in range(len(demo.class_names))])
fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(demo.image, cmap="gray", vmax=np.percentile(demo.image, 99.8))
ax.imshow(np.ma.masked_equal(prediction.class_image(), 0), cmap=colors, vmin=0, vmax=2, alpha=0.5)
annotated = np.isin(demo.mask, [label for (_, label), _ in ann.items()])
ax.contour(annotated, levels=[0.5], colors="white", linewidths=0.8)
ax.set_title("predicted: " + ", ".join(f"{n} ({c})" for n, c in prediction.counts().items()))
ax.set_axis_off()
'''),
    ("md", "## Explanation of one decision (Grad-CAM)"),
    ("code", '''
key = int(prediction.labels[np.argmax(prediction.confidence)])
cam = sv.grad_cam(clf, objects, key)
fig, axes = plt.subplots(1, 2, figsize=(5, 2.5))
axes[0].imshow(cam.patch[0], cmap="gray")
axes[1].imshow(cam.heatmap, cmap="magma")
for ax, name in zip(axes, [f"object {key}: {cam.class_name}", "Grad-CAM"]):
    ax.set_title(name, fontsize=9)
    ax.set_axis_off()
'''),
    ("md", "## Files: annotations, model, table, class image"),
    ("code", '''
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
'''),
]


NOTEBOOKS = {
    "quickstart": QUICKSTART,
    "multichannel": MULTICHANNEL,
    "3d": THREE_D,
    "your_own_data": OWN_DATA,
    "scripted": SCRIPTED,
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """Return a notebook with clean outputs and stable cell ids from ``(kind, source)`` pairs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    for i, (kind, source) in enumerate(cells):
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        cell = make(source.strip("\n"))
        cell.id = f"{name.replace('_', '-')}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    """Return the text of ``<name>.ipynb`` as written by this script."""
    return nbformat.writes(build(name, NOTEBOOKS[name])) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or, with ``--check``, compare) every notebook; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a notebook differs from its source here")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print("wrote", path.relative_to(HERE.parent))
    if stale:
        print("out of date (run python notebooks/_build.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
