"""The Trainer's training options: the two a user changes, and the rest under "Advanced".

The epoch count and the validation share are what a biologist adjusts; the optimiser's settings,
the seed, early stopping and augmentation have sound defaults and sit in a collapsed
"Advanced" section, so that the Trainer fits a laptop screen and its first view is not a form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..models import Augmentation, TrainingConfig

#: Width of a labelled number box, and of its label.
BOX_WIDTH, LABEL_WIDTH = "230px", "95px"

#: The training losses, as the "Loss" dropdown says them (the values are ``TrainingConfig.loss``).
LOSS_WORDS = {
    "Cross-entropy": "cross_entropy",
    "Focal (hard examples)": "focal",
    "Balanced softmax (rare classes)": "balanced_softmax",
}


def _optional_int(text: str, name: str) -> int | None:
    text = text.strip()
    if not text or text.lower() in ("auto", "none", "random"):
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: expected a whole number or blank, got {text!r}") from None


def _check(value: bool, text: str, tip: str) -> widgets.Checkbox:
    return widgets.Checkbox(
        value=value,
        description=text,
        indent=False,
        tooltip=tip,
        layout=widgets.Layout(width="auto", margin="0 14px 0 0"),
    )


class TrainingOptions(widgets.VBox):
    """The training options as controls (defaults from a config), read by :meth:`values`.

    Epochs and Validation are always shown; the other options are in the ``advanced``
    accordion, closed at first.

    Parameters
    ----------
    config : TrainingConfig
        Initial values (a classifier's ``config``).
    """

    def __init__(self, config: TrainingConfig, **kwargs: Any) -> None:
        desc = {"description_width": LABEL_WIDTH}
        box = {"style": desc, "layout": widgets.Layout(width=BOX_WIDTH)}
        cfg = config
        self.epochs = widgets.Text(
            value="" if cfg.epochs is None else str(cfg.epochs),
            placeholder="auto",
            description="Epochs",
            tooltip="Maximum epochs; blank: chosen from the number of annotations",
            **box,
        )
        self.val_fraction = widgets.FloatSlider(
            value=cfg.val_fraction,
            min=0.0,
            max=0.5,
            step=0.05,
            description="Validation",
            readout_format=".0%",
            tooltip="Share of the annotations held out to validate and stop early "
            f"(used from {cfg.min_val_annotations} annotations)",
            **box,
        )
        self.lr = widgets.BoundedFloatText(
            value=cfg.lr,
            min=1e-6,
            max=1.0,
            step=1e-4,
            description="Learning rate",
            tooltip="AdamW learning rate",
            **box,
        )
        self.batch_size = widgets.BoundedIntText(
            value=cfg.batch_size, min=1, max=4096, description="Batch size", tooltip="Patches per step", **box
        )
        self.weight_decay = widgets.BoundedFloatText(
            value=cfg.weight_decay,
            min=0.0,
            max=1.0,
            step=1e-4,
            description="Weight decay",
            tooltip="AdamW weight decay (regularisation)",
            **box,
        )
        self.seed = widgets.Text(
            value="" if cfg.seed is None else str(cfg.seed),
            placeholder="random",
            description="Seed",
            tooltip="Seed of the split, initial weights and augmentation; blank: random",
            **box,
        )
        self.early_stopping = _check(
            cfg.early_stopping, "Stop early", "Stop when the validation loss stops improving; keep the best weights"
        )
        self.patience = widgets.BoundedIntText(
            value=cfg.patience,
            min=1,
            max=1000,
            description="after",
            tooltip="Epochs without improvement before stopping",
            style={"description_width": "40px"},
            layout=widgets.Layout(width="110px"),
        )
        self.class_weight = _check(
            cfg.class_weight, "Balance the classes", "Weight the loss by inverse class frequency (unbalanced classes)"
        )
        self.loss = widgets.Dropdown(
            options=list(LOSS_WORDS.items()),
            value=cfg.loss,
            description="Loss",
            tooltip="Training loss: cross-entropy; focal dwells on hard examples; "
            "balanced softmax favours rare classes",
            style=desc,
            layout=widgets.Layout(width="330px"),
        )
        self.pretrain = _check(
            cfg.pretrain,
            f"Learn from all objects first (up to {cfg.pretrain_seconds:.0f} s)",
            "Self-supervised pretraining on the patches of every object, annotated or not, before the "
            "training; kept for the next training on these images. Off by default: it helped on a "
            "hard 10-class set and hurt on a real colour set at 20 annotations",
        )
        aug = cfg.augmentation
        self.rotate = _check(aug.rotate, "rotations", "Random 90° rotations")
        self.flip = _check(aug.flip, "flips", "Random flips")
        self.noise = _check(
            aug.intensity > 0 or aug.blur > 0 or aug.channel_gain > 0,
            "noise and blur",
            "Random per-channel gain, intensity jitter, Gaussian noise and light blur",
        )
        row = widgets.Layout(align_items="center", flex_flow="row wrap")
        label = widgets.Layout(width="auto", margin="0 8px 0 0")
        self.advanced = widgets.Accordion(
            children=[
                widgets.VBox(
                    [
                        widgets.HBox([self.lr, self.batch_size], layout=row),
                        widgets.HBox([self.weight_decay, self.seed], layout=row),
                        widgets.HBox(
                            [
                                self.early_stopping,
                                self.patience,
                                widgets.Label("epochs without progress", layout=label),
                            ],
                            layout=row,
                        ),
                        widgets.HBox([self.class_weight, self.loss], layout=row),
                        widgets.HBox([self.pretrain], layout=row),
                        widgets.HBox(
                            [widgets.Label("Augment with", layout=label), self.rotate, self.flip, self.noise],
                            layout=row,
                        ),
                    ]
                )
            ],
            titles=("Advanced: optimiser, seed, early stopping, loss, pretraining, augmentation",),
            selected_index=None,
        )
        self.advanced.add_class("svnb-advanced")
        super().__init__(
            [widgets.HBox([self.epochs, self.val_fraction], layout=row), self.advanced],
            layout=widgets.Layout(margin="4px 0 6px 0"),
            **kwargs,
        )

    @property
    def controls(self) -> list[widgets.ValueWidget]:
        """Every option control, shown or under Advanced."""
        return [
            self.epochs,
            self.val_fraction,
            self.lr,
            self.batch_size,
            self.weight_decay,
            self.seed,
            self.early_stopping,
            self.patience,
            self.class_weight,
            self.loss,
            self.pretrain,
            self.rotate,
            self.flip,
            self.noise,
        ]

    def values(self) -> dict[str, Any]:
        """Return the options as keyword arguments of :meth:`Classifier.fit`.

        Raises
        ------
        ValueError
            Naming the option whose text is not a valid number.
        """
        epochs = _optional_int(self.epochs.value, "Epochs")
        seed = _optional_int(self.seed.value, "Seed")
        if epochs is not None and epochs < 1:
            raise ValueError(f"Epochs: expected a positive whole number or blank, got {epochs}")
        default = Augmentation()
        noise = self.noise.value
        augmentation = Augmentation(
            rotate=self.rotate.value,
            flip=self.flip.value,
            intensity=default.intensity if noise else 0.0,
            blur=default.blur if noise else 0.0,
            channel_gain=default.channel_gain if noise else 0.0,
        )
        return {
            "epochs": epochs,
            "lr": float(self.lr.value),
            "batch_size": int(self.batch_size.value),
            "weight_decay": float(self.weight_decay.value),
            "val_fraction": float(self.val_fraction.value),
            "early_stopping": bool(self.early_stopping.value),
            "patience": int(self.patience.value),
            "class_weight": bool(self.class_weight.value),
            "loss": str(self.loss.value),
            "pretrain": bool(self.pretrain.value),
            "augmentation": augmentation,
            "seed": seed,
        }

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever an option changes (the Trainer updates its plan)."""
        for control in self.controls:
            control.observe(lambda _change: callback(), names="value")

    def set_disabled(self, running: bool, forest: bool) -> None:
        """Disable everything while training; the network-only options for the random forest."""
        shared = (self.val_fraction, self.seed, self.class_weight)
        for w in self.controls:
            w.disabled = running or (forest and w not in shared)


def channel_choice(n_channels: int, chosen: set[int]) -> tuple[list[widgets.Checkbox], widgets.HBox]:
    """A tick box per channel (none for a single channel) and the row that shows them.

    Parameters
    ----------
    n_channels : int
    chosen : set of int
        The channels ticked at first.
    """
    boxes = (
        [
            widgets.Checkbox(
                value=c in chosen,
                description=f"channel {c}",
                indent=False,
                layout=widgets.Layout(width="auto", margin="0 12px 0 0"),
            )
            for c in range(n_channels)
        ]
        if n_channels > 1
        else []
    )
    title = widgets.HTML(
        "<span title='A channel that does not show the class is noise to a "
        "network trained on few examples'>Channels the classifier sees:&nbsp;</span>"
    )
    row = widgets.HBox(
        [title, *boxes] if boxes else [], layout=widgets.Layout(align_items="center", flex_flow="row wrap")
    )
    return boxes, row
