"""Generated captures with ground truth: procedural scenes, synthetic rain, JPEG/DNG writers.

Used by ``rainset demo``, the tests and the ingest benchmarks; nothing is downloaded.
"""

from __future__ import annotations

from rainset.synth.dataset import (
    HOSTILE_NAME,
    SynthFile,
    SynthTruth,
    generate_dataset,
    generate_large_jpegs,
)
from rainset.synth.rain import RAIN_TYPES, add_rain, rain_layer
from rainset.synth.scene import render_scene
from rainset.synth.writers import SynthExif, to_dms, write_dng, write_jpeg

__all__ = [
    "HOSTILE_NAME",
    "RAIN_TYPES",
    "SynthExif",
    "SynthFile",
    "SynthTruth",
    "add_rain",
    "generate_dataset",
    "generate_large_jpegs",
    "rain_layer",
    "render_scene",
    "to_dms",
    "write_dng",
    "write_jpeg",
]
