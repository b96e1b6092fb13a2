"""A faithful re-implementation of the original SVETLANA napari plugin's method, for comparison.

Used by ``bench_engine.py`` as the reference the engine of ``svetlana_nb`` must beat, both in
speed and in accuracy. It follows the plugin's own code (napari_svetlana ``_dock_widget.py``,
``PredictionDataset.py``, ``CNN2D.py``, public on bitbucket.org/koopa31/napari_svetlana and on
PyPI) and the paper (Cazorla et al., GRETSI 2022), not svetlana_nb's engine: nothing here is
imported from ``svetlana_nb``.

What is reproduced
------------------
- **Objects**: ``skimage.measure.regionprops`` over the whole mask; each object is addressed by
  its ``centroid`` (truncated with ``int()``) and ``label``.
- **Patch size**: "estimate patch size" of the annotation widget: the largest object *by area*,
  the largest side of its bounding box, ``int(length + 0.4 * length)`` (1.4 x the side of one
  object; an outlier object blows it up, by design of the original).
- **Image preparation**: a grey 2D image is stacked into 3 identical channels
  (``np.stack((image,) * 3, axis=-1)``), then the whole image and the whole mask are padded by
  ``patch_size // 2 + 1`` on every spatial side (``np.pad``, zeros). The image is converted to
  float32 before padding (the brief's "pad the whole image (float)"; the plugin padded in the
  file's dtype, usually 8/16-bit, then built float64 patches).
- **Patches**: one Python iteration per object (a ``torch.utils.data.Dataset`` read through a
  ``DataLoader`` with ``num_workers=0``, as the plugin): crop ``[c - p//2, c + p//2)`` around
  the centroid in every spatial axis (so the side is ``2 * (p // 2)``), copy the mask crop,
  set it to 1 on the object and 0 elsewhere, min-max normalise the image crop *jointly over
  its channels* (``(x - x.min()) / (x.max() - x.min())``), concatenate the object mask as the
  last channel into a float64 array, convert to a float32 channel-first tensor.
- **Network** (``lightNN_2_3``, the paper's network): ``Conv(C+1 -> 16, 3x3, padding 1) -> ReLU
  -> BatchNorm -> MaxPool 2 -> Conv(16 -> 16, 3x3, padding 1) -> ReLU -> BatchNorm -> MaxPool 2
  -> global average pool -> Linear(16 -> k) -> Softmax``. About 3,000 parameters (3,010 for a
  grey image, 4 input channels, 2 classes; the paper says 3,017).
- **The softmax-before-cross-entropy bug, kept**: the network ends with a softmax and the loss
  is ``nn.CrossEntropyLoss`` on its output with one-hot float targets, so the softmax is applied
  twice. Gradients are squashed (the loss can only go from ~0.31 to ~1.31 for 2 classes), which
  slows and weakens learning. Reproduced as is, because it is what the plugin trained with.
- **Training**: ``torch.optim.Adam(lr=0.01)``, batch size 128 (``DataLoader(shuffle=True)``),
  the paper's augmentation: a uniformly random 90-degree rotation (0, 90, 180 or 270 degrees)
  of every patch at every epoch, applied per object in the ``Dataset``; no validation split,
  no early stopping, no class weighting; a fixed number of epochs (the widget's default, 1000),
  the network in train mode (BatchNorm batch statistics) throughout.
- **Prediction**: ``model.eval()``, ``torch.no_grad()``, the same per-object crop loop batch by
  batch (batch size 128), the class is the arg-max of the softmax output.

What is assumed (not knowable from the plugin's code, or changed on purpose)
---------------------------------------------------------------------------
- The learning-rate schedule and weight decay come from a ``Config.json`` not in the plugin's
  published sources we could read. We use the values of the authors' own stability script
  (``XP``: ``StepLR(step_size=100, gamma=0.1)``, ``weight_decay=0``). ``step_size=None`` gives a
  constant learning rate.
- Later versions of the widget replaced the paper's 90-degree rotations by
  ``albumentations.Rotate(-90, 90, p=0.8)`` (any angle); we keep the paper's rotations (the
  brief's "its 90-degree rotation augmentation"). Flips are off (widget default).
- 3D: the plugin's 3D networks (``CNN3D``: a 7x7x7 stride-2 first convolution, widths 2-64)
  changed between versions; we use the 3D analogue of the 2D network above (Conv3d, 16 filters
  x 2, the same layout), so the comparison is of the method, not of a 3D architecture. The 3D
  patch is a cube of side ``2 * (p // 2)`` (the plugin used one size for Z, Y and X).
- Multichannel 2D images (Y, X, C) with C <= 3 are used as they are (C image channels + mask);
  the plugin would have built a 4-input network and failed on a 2-channel image.
- A constant patch (max == min) would give NaN in the plugin; we divide by ``max(max - min,
  1e-12)`` instead so that a flat patch does not poison a batch.
- The class image painting after prediction (a joblib loop over ``regionprops`` coordinates,
  :meth:`PluginMethod.paint`) is timed apart from "patch extraction + prediction", as is
  ``Prediction.class_image()`` on our side.
- Runs on the CPU here (the plugin hard-coded ``"cuda"``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from skimage.measure import regionprops
from torch import nn
from torch.utils.data import DataLoader, Dataset

#: The widget's defaults (training panel) and the paper's.
DEFAULT_EPOCHS = 1000
DEFAULT_LR = 0.01
DEFAULT_BATCH_SIZE = 128


class PluginCNN(nn.Module):
    """The plugin's light network (``CNN2D``, ``lightNN_2_3``) in 2D, or its 3D analogue.

    Parameters
    ----------
    labels_number : int
        Number of classes (outputs).
    channels_nb : int
        Input channels (image channels + the object mask).
    ndim : {2, 3}
    depth : int
        Convolution layers (2 in the paper).
    kersize : int
        Kernel size (3); padding is fixed at 1 as in the plugin.
    """

    def __init__(
        self,
        labels_number: int,
        channels_nb: int,
        *,
        ndim: int = 2,
        depth: int = 2,
        kersize: int = 3,
    ) -> None:
        super().__init__()
        conv = nn.Conv3d if ndim == 3 else nn.Conv2d
        norm = nn.BatchNorm3d if ndim == 3 else nn.BatchNorm2d
        pool = nn.MaxPool3d if ndim == 3 else nn.MaxPool2d
        nconv = 16
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [
                conv(
                    channels_nb if i == 0 else nconv,
                    nconv,
                    kernel_size=kersize,
                    stride=1,
                    padding=1,
                ),
                nn.ReLU(inplace=True),
                norm(nconv),
                pool(kernel_size=2, stride=2),
            ]
        self.cnn_layers = nn.Sequential(*layers)
        self.avg_pool = nn.AdaptiveAvgPool3d(1) if ndim == 3 else nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(nconv, labels_number)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.cnn_layers(x)
        x = self.avg_pool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return self.softmax(x)  # the plugin's softmax, fed to CrossEntropyLoss (applied twice)


def estimate_patch_size(mask: np.ndarray, props=None) -> int:
    """The plugin's "Estimate patch size": 1.4 x the largest bbox side of the largest object."""
    props = regionprops(mask) if props is None else props
    largest = max(props, key=lambda r: r.area)
    nd = mask.ndim
    length = max(largest.bbox[nd + a] - largest.bbox[a] for a in range(nd))
    return int(length + 0.4 * length)


def prepare_image(
    image: np.ndarray, mask: np.ndarray, patch_size: int, channel_axis: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Channel-last float32 image (grey 2D stacked to 3 channels) and mask, both padded whole.

    Returns
    -------
    pad_image : numpy.ndarray, float32, shape (*padded spatial, C)
    pad_labels : numpy.ndarray, shape (*padded spatial)
    """
    image = np.asarray(image)
    if channel_axis is not None:
        image = np.moveaxis(image, channel_axis, -1)
    elif image.ndim == mask.ndim:
        if mask.ndim == 2:
            image = np.stack((image,) * 3, axis=-1)  # the plugin made grey images RGB
        else:
            image = image[..., None]
    image = image.astype(np.float32)
    half = patch_size // 2 + 1
    pad = [(half, half)] * mask.ndim
    pad_image = np.pad(image, pad + [(0, 0)], mode="constant")
    pad_labels = np.pad(mask, pad, mode="constant")
    return pad_image, pad_labels


def crop_patch(pad_image: np.ndarray, pad_labels: np.ndarray, centroid, label: int, half_patch_size: int) -> np.ndarray:
    """One object's patch as the plugin built it: float32 (C + 1, *spatial), mask last."""
    sl = []
    for c in centroid:
        start = (int(c) + half_patch_size + 1) - half_patch_size
        stop = (int(c) + half_patch_size + 1) + half_patch_size
        sl.append(slice(start, stop))
    sl = tuple(sl)
    imagette = pad_image[sl].copy()
    maskette = pad_labels[sl].copy()
    maskette[maskette != label] = 0
    maskette[maskette == label] = 1
    concat_image = np.zeros(imagette.shape[:-1] + (imagette.shape[-1] + 1,))  # float64, as the plugin
    low, high = imagette.min(), imagette.max()
    imagette = (imagette - low) / max(high - low, 1e-12)  # min-max over the whole crop
    concat_image[..., :-1] = imagette
    concat_image[..., -1] = maskette
    # transforms.ToTensor / torch.from_numpy: channel first, float32
    return np.ascontiguousarray(np.moveaxis(concat_image.astype("float32"), -1, 0))


class _PatchDataset(Dataset):
    """Per-object crops (the plugin's ``PredictionDataset`` / ``CustomDataset``)."""

    def __init__(
        self,
        pad_image,
        pad_labels,
        centroids,
        labels,
        half_patch_size,
        targets=None,
        rotate: bool = False,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.pad_image, self.pad_labels = pad_image, pad_labels
        self.centroids, self.labels = centroids, labels
        self.half = half_patch_size
        self.targets = targets
        self.rotate = rotate
        self.rng = rng or np.random.default_rng()
        self.cache: list[np.ndarray] | None = None

    def precompute(self) -> None:
        """Training: the plugin built the annotated patches once (``get_image_patch``)."""
        self.cache = [self._crop(i) for i in range(len(self.labels))]

    def _crop(self, index: int) -> np.ndarray:
        return crop_patch(
            self.pad_image,
            self.pad_labels,
            self.centroids[index],
            int(self.labels[index]),
            self.half,
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        patch = self.cache[index] if self.cache is not None else self._crop(index)
        if self.rotate:  # the paper's augmentation: one of the 4 right-angle rotations, uniformly
            patch = np.ascontiguousarray(np.rot90(patch, int(self.rng.integers(4)), axes=(-2, -1)))
        x = torch.from_numpy(patch)
        if self.targets is None:
            return x
        return x, self.targets[index]


@dataclass
class PluginHistory:
    """Per-epoch training loss of the plugin's method (its last batch's, as the plugin logged)."""

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    epochs: int = 0


class PluginMethod:
    """The plugin's pipeline on one image: regionprops, padding, per-object crops, light CNN.

    Parameters
    ----------
    image : numpy.ndarray
        (Y, X), (Y, X, C), (Z, Y, X).
    mask : numpy.ndarray of int
        Label image, same spatial shape.
    channel_axis : int, optional
        Channel axis of ``image``.
    patch_size : int, optional
        Default: :func:`estimate_patch_size` (1.4 x the largest object).
    n_classes : int
    lr, batch_size, epochs : the widget's defaults (0.01, 128, 1000).
    step_size, gamma : StepLR (assumed 100, 0.1; ``step_size=None`` for a constant rate).
    rotate : bool
        The paper's 90-degree rotation augmentation.
    seed : int, optional
    """

    def __init__(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        channel_axis: int | None = None,
        patch_size: int | None = None,
        n_classes: int = 2,
        lr: float = DEFAULT_LR,
        batch_size: int = DEFAULT_BATCH_SIZE,
        epochs: int = DEFAULT_EPOCHS,
        step_size: int | None = 100,
        gamma: float = 0.1,
        rotate: bool = True,
        seed: int | None = 0,
    ) -> None:
        self.image, self.mask, self.channel_axis = image, mask, channel_axis
        self.ndim = mask.ndim
        self._patch_size = patch_size
        self.n_classes = n_classes
        self.lr, self.batch_size, self.epochs = lr, batch_size, epochs
        self.step_size, self.gamma = step_size, gamma
        self.rotate = rotate
        self.seed = seed
        self.model: PluginCNN | None = None
        self.timings: dict[str, float] = {}

    # -- the plugin's set-up steps --------------------------------------------------------------
    def objects(self):
        """``regionprops`` over the whole mask (label, centroid per object), and the patch size."""
        start = time.perf_counter()
        props = regionprops(self.mask)
        patch_size = self._patch_size or estimate_patch_size(self.mask, props)
        labels = np.array([p.label for p in props])
        centroids = [p.centroid for p in props]
        self.timings["regionprops"] = time.perf_counter() - start
        return props, labels, centroids, patch_size

    def padded(self, patch_size: int):
        start = time.perf_counter()
        out = prepare_image(self.image, self.mask, patch_size, self.channel_axis)
        self.timings["pad"] = time.perf_counter() - start
        return out

    # -- training -------------------------------------------------------------------------------
    def fit(self, annotated_labels, classes, *, epochs: int | None = None) -> PluginHistory:
        """Train on objects (label ids ``annotated_labels``, class indices ``classes``)."""
        start = time.perf_counter()
        epochs = self.epochs if epochs is None else epochs
        if self.seed is not None:
            torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        props, labels, centroids, patch_size = self.objects()
        self.patch_size = patch_size
        index = {int(lab): i for i, lab in enumerate(labels)}
        chosen = [index[int(lab)] for lab in annotated_labels]
        pad_image, pad_labels = self.padded(patch_size)
        targets = nn.functional.one_hot(torch.as_tensor(np.asarray(classes), dtype=torch.long), self.n_classes).float()
        data = _PatchDataset(
            pad_image,
            pad_labels,
            [centroids[i] for i in chosen],
            labels[chosen],
            patch_size // 2,
            targets=targets,
            rotate=self.rotate,
            rng=rng,
        )
        data.precompute()
        del pad_image, pad_labels
        generator = torch.Generator().manual_seed(self.seed) if self.seed is not None else None
        loader = DataLoader(data, batch_size=self.batch_size, shuffle=True, generator=generator)
        in_channels = data.cache[0].shape[0]
        self.model = PluginCNN(self.n_classes, in_channels, ndim=self.ndim)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=0.0)
        scheduler = (
            torch.optim.lr_scheduler.StepLR(optimizer, step_size=self.step_size, gamma=self.gamma)
            if self.step_size
            else None
        )
        loss_fn = nn.CrossEntropyLoss()
        history = PluginHistory()
        self.model.train()
        for _ in range(epochs):
            for batch, target in loader:
                out = self.model(batch)
                total_loss = loss_fn(out, target)  # CE of the softmax output: softmax applied twice
                optimizer.zero_grad()
                total_loss.backward()
                optimizer.step()
            history.loss.append(float(total_loss.item()))
            if scheduler is not None:
                scheduler.step()
        history.epochs = epochs
        history.seconds = time.perf_counter() - start
        self.timings["fit"] = history.seconds
        return history

    # -- prediction -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, *, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Classify every object of the mask, batch by batch with the per-object crop loop.

        Returns
        -------
        labels : numpy.ndarray (n,)
            Label ids in ``regionprops`` order (sorted).
        classes : numpy.ndarray (n,)
            Predicted class index.
        probabilities : numpy.ndarray (n, k)
            The network's softmax output.
        """
        if self.model is None:
            raise RuntimeError("PluginMethod.predict: call fit() first")
        start = time.perf_counter()
        props, labels, centroids, _ = self.objects()
        pad_image, pad_labels = self.padded(self.patch_size)
        data = _PatchDataset(pad_image, pad_labels, centroids, labels, self.patch_size // 2)
        loader = DataLoader(data, batch_size=batch_size or self.batch_size, shuffle=False)
        self.model.eval()
        probabilities = []
        forward = 0.0
        for batch in loader:
            t = time.perf_counter()
            probabilities.append(self.model(batch))
            forward += time.perf_counter() - t
        proba = torch.cat(probabilities).numpy()
        self._props = props
        self.timings["forward"] = forward
        self.timings["predict"] = time.perf_counter() - start
        self.timings["crop_loop"] = (
            self.timings["predict"] - forward - self.timings["regionprops"] - self.timings["pad"]
        )
        return labels, proba.argmax(1), proba

    def paint(self, classes: np.ndarray) -> np.ndarray:
        """The plugin's result image: each object's pixels set to its class + 1, object by object.

        (The plugin ran this loop through ``joblib.Parallel(n_jobs=-1, require="sharedmem")``,
        i.e. threads holding the GIL; a plain loop is as fast.)
        """
        start = time.perf_counter()
        imagette_contours = np.zeros(self.mask.shape)  # float64, as the plugin
        for i, prop in enumerate(self._props):
            imagette_contours[tuple(prop.coords.T)] = classes[i] + 1
        result = imagette_contours.astype(np.uint8)
        self.timings["paint"] = time.perf_counter() - start
        return result


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
