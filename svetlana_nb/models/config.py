"""``TrainingConfig``: the options of a training run, checked as a whole."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from .._validation import check_choice, check_count, check_flag, check_number
from .augment import Augmentation

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
        for name in ("class_weight", "early_stopping", "mixed_precision"):
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

    def to_dict(self) -> dict:
        """JSON-ready options."""
        return asdict(self)
