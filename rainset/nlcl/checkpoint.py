"""Reading NLCL checkpoints and choosing the torch device: shared by training, deraining and rainstats.

:func:`load_checkpoint` reads what :func:`rainset.nlcl.train.save_checkpoint` writes.
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


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint; raises TrainError naming the file when it is not one of ours."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise TrainError(f"{path}: cannot read the checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != 1 or "gen" not in state:
        raise TrainError(f"{path}: not an NLCL checkpoint written by rainset")
    return state
