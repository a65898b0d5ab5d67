"""The learning-rate schedule: the released one (constant, then linear decay, counted in epochs) or constant.

Released (``lr_policy linear``, ``n_epochs 200``, ``n_epochs_decay 10``, ``epoch_count 1``): during
1-based epoch ``E`` the rate is ``lr · (1 − max(0, E − 200) / 11)``: 200 epochs at ``lr``, then 10
epochs falling to ``lr / 11``; an epoch is ``max(|A|, |B|)`` iterations (the unaligned dataset's
length at batch 1). A run of fewer epochs (config ``epochs``) keeps the released proportions:
``decay_epochs(epochs)`` = ``round(epochs · 10 / 210)`` (at least 1) of decay after the rest.
The lr is a function of the step and the epoch length only, so a resumed run (or one given a
larger ``steps`` budget) follows the same curve; steps beyond the schedule stay at its last rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RELEASED_EPOCHS, RELEASED_DECAY = 210, 10


def decay_epochs(epochs: int) -> int:
    """Decay epochs of an ``epochs``-long released schedule: 10 of 210, scaled (at least 1, at most all)."""
    return min(epochs, max(1, round(epochs * RELEASED_DECAY / RELEASED_EPOCHS)))


@dataclass(frozen=True)
class Schedule:
    """The lr factor as a function of the step.

    Attributes:
        kind: ``released`` or ``constant``.
        epoch_steps: steps per epoch (``ceil(max(rainy, clean) / (batch_size · world))``).
        epochs: epochs of the whole schedule (released: 210).
    """

    kind: str
    epoch_steps: int
    epochs: int

    @property
    def decay(self) -> int:
        """Epochs of linear decay at the end (released: 10)."""
        return decay_epochs(self.epochs)

    @property
    def full_steps(self) -> int:
        """Steps of the whole schedule."""
        return self.epochs * self.epoch_steps

    def epoch(self, step: int) -> int:
        """The 1-based epoch that 1-based ``step`` belongs to (capped at the last)."""
        return max(1, min(math.ceil(step / self.epoch_steps), self.epochs))

    def factor(self, step: int) -> float:
        """The multiplier of ``lr`` for 1-based ``step``."""
        if self.kind == "constant":
            return 1.0
        return 1.0 - max(0, self.epoch(step) - (self.epochs - self.decay)) / (self.decay + 1)


def epoch_steps(images: int, batch_size: int, world: int = 1) -> int:
    """Steps per epoch: ``max(|A|, |B|)`` images over ``batch_size · world`` crops a step (at least 1)."""
    return max(1, math.ceil(images / (batch_size * world)))
