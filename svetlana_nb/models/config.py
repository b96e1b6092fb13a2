"""``TrainingConfig``: the options of a training run, checked as a whole."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from .._validation import check_choice, check_count, check_flag, check_number
from .augment import Augmentation
from .losses import LOSSES

#: Options of earlier versions, and what replaced them.
_REPLACED = {
    "forest_weight": "second_opinion=SecondOpinion(weight=...)",
    "second_opinion_below": "second_opinion=SecondOpinion(below=...)",
}


@dataclass
class TrainingConfig:
    """Options of :meth:`Classifier.fit` (every field can be passed to ``fit`` as a keyword).

    Attributes
    ----------
    epochs : int or None
        Maximum number of epochs; None picks it from the number of annotations (early stopping
        usually ends sooner).
    lr : float
        Adam learning rate.
    batch_size : int
    weight_decay : float
        AdamW weight decay.
    lr_schedule : {"cosine", "plateau", "none"}
    class_weight : bool
        Weight the loss by inverse class frequency (unbalanced annotations).
    val_fraction : float
        Fraction of annotations held out (stratified) for validation and early stopping, used
        when there are at least ``min_val_annotations`` annotations.
    min_val_annotations : int
    early_stopping : bool
        Stop when the validation loss has not improved for ``patience`` epochs; keep the best weights.
    patience : int
    augmentation : Augmentation
    seed : int or None
        Seed for the split, initial weights and augmentation (None: not reproducible).
    mixed_precision : bool
        bfloat16/float16 autocast on CUDA.
    label_smoothing : float
    loss : {"cross_entropy", "focal", "balanced_softmax"}
        The training loss: cross-entropy; focal (Lin et al. 2017, gamma 2: dwells on the hard
        examples, class weights as its alpha); or balanced softmax (Ren et al. 2020: the logits
        plus the log class shares while training, for rare classes; class weights unused).
        Validation and early stopping measure the cross-entropy whatever the choice.
    pretrain : bool
        Before training a network, pretrain its trunk without annotations on the patches of
        every object (contrastive learning, :mod:`~svetlana_nb.models.pretraining`); cached per
        image set, so retraining after new annotations reuses it. Ignored by the random forest.
        Off by default: it did not win on every benchmark set (``docs/decisions.md``).
    pretrain_seconds : float
        Time budget of the pretraining's steps (seconds). Making and hashing the patches comes
        on top: 6 s for 16,000 objects of 48 x 48 px on 2 CPU cores, so 50 s keeps the whole
        under a minute.
    pretrain_steps : int or None
        Step budget of the pretraining (None: the time budget alone).
    """

    epochs: int | None = None
    lr: float = 3e-3
    batch_size: int = 32
    weight_decay: float = 1e-4
    lr_schedule: Literal["cosine", "plateau", "none"] = "cosine"
    class_weight: bool = True
    val_fraction: float = 0.2
    min_val_annotations: int = 40
    early_stopping: bool = True
    patience: int = 30
    augmentation: Augmentation = field(default_factory=Augmentation)
    seed: int | None = 0
    mixed_precision: bool = True
    label_smoothing: float = 0.05
    loss: Literal["cross_entropy", "focal", "balanced_softmax"] = "cross_entropy"
    pretrain: bool = False
    pretrain_seconds: float = 50.0
    pretrain_steps: int | None = None

    def updated(self, **options: Any) -> "TrainingConfig":
        """A copy with some options changed; ``TypeError`` naming an unknown option."""
        known = {f.name for f in fields(self)}
        for name in options:
            if name in _REPLACED:
                raise TypeError(f"{name}: replaced by {_REPLACED[name]} (second_opinion=None for the network alone)")
            if name not in known:
                raise TypeError(f"{name}: unknown training option; options are {sorted(known)}")
        if isinstance(options.get("augmentation"), bool):
            options["augmentation"] = Augmentation() if options["augmentation"] else Augmentation.none()
        if isinstance(options.get("augmentation"), dict):
            options["augmentation"] = Augmentation(**options["augmentation"])
        new = dataclasses.replace(self, **options)
        new.validate()
        return new

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid option and what it expects.

        Types are checked as well as ranges: ``epochs=2.5``, ``"3"``, ``True`` or ``lr=inf`` are
        refused here rather than failing deep inside the training loop.
        """
        check_count(self.epochs, name="epochs", low=1, optional=True)
        check_number(self.lr, name="lr", low=0.0, high=10.0, open_low=True)
        check_count(self.batch_size, name="batch_size", low=1)
        check_number(self.weight_decay, name="weight_decay", low=0.0, high=1e3)
        check_choice(self.lr_schedule, ("cosine", "plateau", "none"), name="lr_schedule")
        for name in ("class_weight", "early_stopping", "mixed_precision", "pretrain"):
            check_flag(getattr(self, name), name=name)
        check_number(self.val_fraction, name="val_fraction", low=0.0, high=0.9)
        check_count(self.min_val_annotations, name="min_val_annotations", low=2)
        check_count(self.patience, name="patience", low=1)
        if not isinstance(self.augmentation, Augmentation):
            raise ValueError(
                "augmentation: expected an Augmentation, True (the default strengths), False (none) or a dict "
                f"of strengths, got {self.augmentation!r}"
            )
        check_count(self.seed, name="seed", low=0, optional=True)
        check_number(self.label_smoothing, name="label_smoothing", low=0.0, high=0.5)
        check_choice(self.loss, LOSSES, name="loss")
        check_number(self.pretrain_seconds, name="pretrain_seconds", low=0.0, high=86400.0, open_low=True)
        check_count(self.pretrain_steps, name="pretrain_steps", low=1, optional=True)

    def to_dict(self) -> dict:
        """JSON-ready options."""
        return asdict(self)


def default_epochs(n_train: int, batch_size: int) -> int:
    """Epoch budget giving ~1500 optimisation steps, between 60 and 300 epochs."""
    batches = max(1, math.ceil(n_train / batch_size))
    return int(min(300, max(60, math.ceil(1500 / batches))))


@dataclass(frozen=True)
class TrainingPlan:
    """What a training run will do with the annotations at hand, decided before it starts.

    Attributes
    ----------
    validation : bool
        Whether some annotations are held out to validate (and to stop early).
    n_validation : int
        How many are held out (0 without validation).
    early_stopping : bool
        Whether training stops when the validation loss no longer improves.
    epochs : int or None
        The epoch limit (None: chosen from the training patches, see :func:`default_epochs`).
    note : str or None
        A plain sentence for the user when the plan differs from the options shown.
    """

    validation: bool
    n_validation: int
    early_stopping: bool
    epochs: int | None
    note: str | None


def plan_training(
    config: TrainingConfig, n_annotations: int, class_counts: Mapping[str, int] | None = None
) -> TrainingPlan:
    """Decide validation, early stopping and the epoch limit for ``n_annotations`` annotations.

    One source of truth: :meth:`Classifier.fit` follows it, and the Trainer shows it before Start.

    Parameters
    ----------
    config : TrainingConfig
    n_annotations : int
    class_counts : mapping of class name to count, optional
        Annotations per class (validation needs at least 2 of each annotated class).
    """
    counts = [c for c in (class_counts or {}).values() if c > 0]
    rare = min(counts) if counts else n_annotations
    reasons = []
    if config.val_fraction <= 0:
        reasons.append("validation is set to 0 %")
    elif n_annotations < config.min_val_annotations:
        reasons.append(
            f"{n_annotations} annotations are too few to hold some out for validation "
            f"({config.min_val_annotations} needed)"
        )
    elif rare < 2:
        reasons.append("a class has a single annotation, too few to hold one out for validation")
    if reasons:
        epochs = config.epochs or default_epochs(n_annotations, config.batch_size)
        stopping = " and early stopping is off" if config.early_stopping else ""
        note = f"{reasons[0].capitalize()}, so every annotation is used for training{stopping}: {epochs} epochs."
        return TrainingPlan(False, 0, False, epochs, note)
    n_validation = int(round(n_annotations * config.val_fraction))
    return TrainingPlan(True, n_validation, config.early_stopping, config.epochs, None)
