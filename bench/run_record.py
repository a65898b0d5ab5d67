"""What every suggestion bench ends with: the machine's load and the run's seconds, printed and
written with the results (``--out``). Imported by the scripts beside it (bench/ is on sys.path)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def finish_run(result: dict[str, Any], out: Path | None, t0: float, load0: tuple[float, ...],
               **machine: Any) -> None:
    """Add ``machine`` (cores, load at start and end, seconds since ``t0``, plus ``machine``'s own
    keys) to ``result``, print the timing line, and write ``result`` as JSON to ``out`` if given."""
    seconds = time.perf_counter() - t0
    result["machine"] = {**machine, "cpus": os.cpu_count(), "load_start": load0, "load_end": os.getloadavg(),
                         "seconds": round(seconds, 1)}
    print(f"{seconds:.1f} s; load average at start {load0}, at end {os.getloadavg()}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=str) + "\n")
