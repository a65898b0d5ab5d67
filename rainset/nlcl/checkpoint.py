"""Reading NLCL checkpoints and choosing the torch device: shared by training, deraining and rainstats.

:func:`load_checkpoint` reads what :func:`rainset.nlcl.train.save_checkpoint` writes;
:func:`read_torch_file` reads any torch file (a released generator's state dict, too).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from rainset.errors import TrainError


def pick_device(name: str) -> torch.device:
    """``auto`` → the local CUDA device when there is one, else CPU."""
    if name == "auto":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def read_torch_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Whatever ``torch.save`` wrote to ``path``; raises TrainError naming the file when torch cannot read it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, ImportError,
            IndexError, KeyError, TypeError) as exc:
        raise TrainError(f"{path}: not a checkpoint or state dict torch can read ({exc})") from None


def is_rainset_checkpoint(state: Any) -> bool:
    """Whether a loaded object is a checkpoint written by rainset (training or ``nlcl import-released``)."""
    return isinstance(state, dict) and state.get("format") == 1 and "gen" in state and "config" in state


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint; raises TrainError naming the file when it is not one of ours."""
    state = read_torch_file(path, map_location)
    if not is_rainset_checkpoint(state):
        raise TrainError(f"{path}: not an NLCL checkpoint written by rainset")
    return state
