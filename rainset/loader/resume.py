"""Mid-epoch resume: a loader state is (what fixes the order, epoch, samples taken).

The order a consumer sees is a function of the dataset's order settings (its "fingerprint"), the
epoch, and, with DataLoader workers, the number of workers and the batch size. A state stores all of
them; on resume every worker works out how many of its own samples the consumer had taken, replays
its stream up to there without decoding, and goes on.
"""

from __future__ import annotations

from typing import Any

import cv2

from rainset.errors import ConfigError
from rainset.loader.plan import consumed_per_worker, part_sizes
from rainset.loader.ranks import in_worker, worker_slot

STATE_KIND = "rainset-loader-state-v1"


def make_state(fingerprint: dict[str, Any], *, epoch: int, taken: int, length: int, batch_size: int | None,
               num_workers: int | None) -> dict[str, Any]:
    """A JSON-able state after ``taken`` of this rank's ``length`` samples of ``epoch``."""
    if not 0 <= int(taken) <= length:
        raise ConfigError(f"taken={taken} is not between 0 and the {length} samples this rank yields per epoch")
    if batch_size is not None and int(batch_size) < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1")
    return {"__kind__": STATE_KIND, **fingerprint, "epoch": int(epoch), "taken": int(taken),
            "batch_size": None if batch_size is None else int(batch_size),
            "num_workers": None if num_workers is None else int(num_workers)}


def check_state(state: dict[str, Any], fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Return ``state`` if it was saved by a loader with the same order settings, else raise ConfigError."""
    if not isinstance(state, dict) or state.get("__kind__") != STATE_KIND:
        raise ConfigError(f"not a rainset loader state (expected __kind__ {STATE_KIND!r})")
    for name, value in fingerprint.items():
        if state.get(name) != value:
            raise ConfigError(f"loader state was saved with {name}={state.get(name)!r}, this loader has "
                              f"{name}={value!r}: the sample order would differ, so it cannot resume")
    return dict(state)


def skip_for(state: dict[str, Any] | None, epoch: int, length: int, worker: int, num_workers: int) -> int:
    """How many samples worker ``worker`` of ``num_workers`` skips to resume ``state`` in ``epoch``."""
    if state is None or state["epoch"] != epoch or state["taken"] == 0:
        return 0
    saved = state.get("num_workers")
    if saved is not None and max(saved, 1) != num_workers:
        raise ConfigError(f"loader state was saved with num_workers={saved}, this DataLoader has "
                          f"{num_workers}: the sample order would differ, so it cannot resume")
    if num_workers == 1:
        return state["taken"]
    if state.get("batch_size") is None:
        raise ConfigError("resuming with DataLoader workers needs the batch size: "
                          "save the state with state_dict(taken=..., batch_size=...)")
    done = consumed_per_worker(part_sizes(length, num_workers), state["batch_size"], state["taken"])
    return done[worker]


class Resumable:
    """Epoch selection and ``state_dict`` / ``load_state_dict`` for the loader's datasets.

    A subclass provides ``fingerprint()`` and ``__len__`` and calls ``_init_resume()`` in its
    constructor and ``_start()`` at the top of ``__iter__``.
    """

    epoch: int

    def fingerprint(self) -> dict[str, Any]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _init_resume(self) -> None:
        self.epoch = 0
        self._resume: dict[str, Any] | None = None
        self._taken = 0
        self._shipped = False

    def _start(self) -> tuple[int, int, int, bool]:
        """(worker, num_workers, samples to skip, whether iterating in this process) for a new iteration."""
        worker, num_workers = worker_slot()
        local = not in_worker()
        if not local:
            cv2.setNumThreads(1)  # like torch in DataLoader workers: the workers are the parallelism
        skip = skip_for(self._resume, self.epoch, len(self), worker, num_workers)
        if local:
            self._taken = skip
        return worker, num_workers, skip, local

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch to iterate next (a resumed state applies only to its own epoch)."""
        if int(epoch) != self.epoch:
            self._taken = 0
        self.epoch = int(epoch)

    def __getstate__(self) -> dict[str, Any]:
        self._shipped = True  # pickled for DataLoader workers: this process no longer sees the count
        return dict(self.__dict__)

    def state_dict(self, taken: int | None = None, *, batch_size: int | None = None,
                   num_workers: int | None = None) -> dict[str, Any]:
        """The position in the current epoch, to resume from with :meth:`load_state_dict`.

        Args:
            taken: samples of this epoch the consumer has taken. Needed with DataLoader workers
                (the main process does not see them iterate); counted here otherwise.
            batch_size: the DataLoader's batch size (needed to resume with workers).
            num_workers: the DataLoader's worker count (checked on resume when given).
        """
        if taken is None:
            if self._shipped:
                raise ConfigError("this dataset was sent to DataLoader workers, so it cannot count what was "
                                  "taken: call state_dict(taken=<samples consumed>, batch_size=..., num_workers=...)")
            taken, num_workers = self._taken, 0
        return make_state(self.fingerprint(), epoch=self.epoch, taken=taken, length=len(self),
                          batch_size=batch_size, num_workers=num_workers)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the next iteration of the saved epoch continues after the samples already taken."""
        self._resume = check_state(state, self.fingerprint())
        self.epoch = self._resume["epoch"]
        self._taken = self._resume["taken"]
