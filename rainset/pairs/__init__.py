"""Real rain pairs from static-camera video (issue 20, parts 2 and 3, library level).

``motion`` measures camera shake and cuts a frame sequence into static segments, ``background``
registers a segment and builds its pseudo-clean targets (temporal median, per-frame light kept),
``lowrank`` builds them from a robust low-rank + non-negative sparse decomposition, ``masks``
finds moving objects and warp borders, ``targets`` is the one entry point by method, ``score``
rates a target against the true background with the issue's protocol. See docs/pairs.md.
"""
