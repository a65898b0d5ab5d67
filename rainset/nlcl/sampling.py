"""Non-local sampling, batched: the k patches nearest to an anchor patch inside a window.

For every sample of a batch at once: cut the search region around the anchor out of the layer
(advanced indexing), unfold it into all ``patch``×``patch`` patches at stride 1, take squared L2
distances to the anchor's patch and keep the ``k`` smallest. No Python loop over window positions
or over the batch; the result for one sample does not depend on the others.

Two meanings of ``window`` (config field ``window_span``):

- ``centres=True`` (the released ``PatchSampleNonlocalOneGroup``, ``search_size 40``): ``window``
  is the range of patch *centres*, ``window``² candidates (1,600 for 40), centres from
  ``anchor centre - window // 2`` on; the region cut out is ``window + patch - 1`` pixels wide.
  Where the image ends the region is shifted inside (the released code drops the candidates
  beyond the border instead; every anchor here keeps ``window``² candidates).
- ``centres=False`` (rainset before ``window_span``): ``window`` is the region's pixel extent,
  ``(window - patch + 1)``² candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Neighbours:
    """The k nearest patches of each anchor.

    Attributes:
        rows: (N, k) top rows of the patches in image coordinates, nearest first.
        cols: (N, k) left columns.
        dist: (N, k) squared L2 distances to the anchor's patch.
    """

    rows: torch.Tensor
    cols: torch.Tensor
    dist: torch.Tensor


def window_origin(anchor: torch.Tensor, size: int, window: int, patch: int, centres: bool = False) -> torch.Tensor:
    """Top-left of the search region around the anchor patch (top-left ``anchor``), clamped inside an
    image side of ``size``. ``centres``: ``window`` is the range of patch centres (region
    ``window + patch - 1`` wide, first centre ``anchor centre - window // 2``); else the pixel extent."""
    if centres:
        return (anchor - window // 2).clamp(0, size - (window + patch - 1))
    return (anchor + patch // 2 - window // 2).clamp(0, size - window)


def search_extent(window: int, patch: int, centres: bool) -> tuple[int, int]:
    """(pixel extent of the search region, candidate positions per side)."""
    return (window + patch - 1, window) if centres else (window, window - patch + 1)


def random_anchors(n: int, height: int, width: int, patch: int, generator: torch.Generator,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random anchor patches (top-left rows and columns) fully inside the image."""
    rows = torch.randint(0, height - patch + 1, (n,), generator=generator).to(device)
    cols = torch.randint(0, width - patch + 1, (n,), generator=generator).to(device)
    return rows, cols


def released_anchors(n: int, height: int, width: int, patch: int, generator: torch.Generator,
                     device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random anchor patches (top-left rows and columns) drawn as the released sampler draws its
    one anchor: the centre uniform in ``[patch, side - patch]`` (both ends included)."""
    half = patch // 2
    rows = torch.randint(patch, height - patch + 1, (n,), generator=generator) - half
    cols = torch.randint(patch, width - patch + 1, (n,), generator=generator) - half
    return rows.to(device), cols.to(device)


def check_geometry(height: int, width: int, window: int, patch: int, k: int, centres: bool = False) -> None:
    """Raise ``ValueError`` when the window, patch and k do not fit the image."""
    if not centres and patch > window:
        raise ValueError(f"patch {patch} is larger than the search window {window}")
    extent, side = search_extent(window, patch, centres)
    if extent > min(height, width):
        raise ValueError(f"search region {extent} is larger than the image ({height}×{width}); use a larger crop")
    positions = side ** 2
    if k > positions:
        raise ValueError(f"k={k} exceeds the {positions} patch positions in a {window}² window with {patch}² patches")


@torch.no_grad()
def nearest_patches(layer: torch.Tensor, anchor_rows: torch.Tensor, anchor_cols: torch.Tensor, k: int, *,
                    window: int = 40, patch: int = 16, centres: bool = False) -> Neighbours:
    """The ``k`` patches nearest (squared L2) to each anchor's patch, searched in a window around it.

    Args:
        layer: (N, C, H, W) predicted layer (B or R); not differentiated.
        anchor_rows: (N,) top rows of the anchor patches.
        anchor_cols: (N,) left columns of the anchor patches.
        k: how many patches to keep (the anchor's own patch, at distance 0, is among them).
        window: side of the square search window (``centres``: the range of patch centres).
        patch: side of a patch.
        centres: ``window`` counts patch centres (the released meaning), else pixels.

    Returns:
        :class:`Neighbours`, nearest first (ties broken by the lower row-major position).
    """
    n, c, h, w = layer.shape
    check_geometry(h, w, window, patch, k, centres)
    extent, side = search_extent(window, patch, centres)
    wy = window_origin(anchor_rows, h, window, patch, centres)
    wx = window_origin(anchor_cols, w, window, patch, centres)
    span = torch.arange(extent, device=layer.device)
    rows = (wy[:, None] + span)[:, :, None]          # (N, window, 1)
    cols = (wx[:, None] + span)[:, None, :]          # (N, 1, window)
    batch = torch.arange(n, device=layer.device)[:, None, None]
    win = layer[batch, :, rows, cols].permute(0, 3, 1, 2)            # (N, C, window, window)
    win = win.to(torch.promote_types(win.dtype, torch.float32))      # float16 layers: search in float32
    patches = F.unfold(win, patch)                   # (N, C·patch², P), P = side²
    own = (anchor_rows - wy) * side + (anchor_cols - wx)
    anchor_vec = patches.gather(2, own[:, None, None].expand(n, patches.shape[1], 1))
    dist = (patches - anchor_vec).square().sum(1)    # (N, P)
    # Stable ordering: sort by distance, then position (a tiny index offset would change values).
    order = torch.sort(dist, dim=1, stable=True)
    idx = order.indices[:, :k]
    return Neighbours(rows=wy[:, None] + idx // side, cols=wx[:, None] + idx % side, dist=order.values[:, :k])


def nearest_patches_bruteforce(layer: torch.Tensor, anchor_row: int, anchor_col: int, k: int, *,
                               window: int = 40, patch: int = 16, centres: bool = False) -> list[tuple[float, int, int]]:
    """Reference search for one image (C, H, W): every window position compared in a Python loop.

    Returns ``(distance, row, col)`` of the k nearest, sorted by distance then row-major position.
    Slow; used by the tests to check :func:`nearest_patches`.
    """
    _, h, w = layer.shape
    _, side = search_extent(window, patch, centres)
    wy = int(window_origin(torch.tensor(anchor_row), h, window, patch, centres))
    wx = int(window_origin(torch.tensor(anchor_col), w, window, patch, centres))
    ref = layer[:, anchor_row:anchor_row + patch, anchor_col:anchor_col + patch]
    found = []
    for r in range(wy, wy + side):
        for c in range(wx, wx + side):
            d = float((layer[:, r:r + patch, c:c + patch] - ref).pow(2).sum())
            found.append((d, r, c))
    found.sort(key=lambda t: (t[0], t[1], t[2]))
    return found[:k]


def features_at(feats: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, stride: int, patch: int) -> torch.Tensor:
    """Feature vectors at patch centres.

    Args:
        feats: (N, C, h, w) feature map of stride ``stride`` relative to the image.
        rows: (N, k) top rows of patches in image coordinates.
        cols: (N, k) left columns.
        stride: the feature map's stride.
        patch: patch side (the centre is ``top + patch // 2``).

    Returns:
        (N, k, C).
    """
    n, c, h, w = feats.shape
    fy = ((rows + patch // 2) // stride).clamp(max=h - 1)
    fx = ((cols + patch // 2) // stride).clamp(max=w - 1)
    flat = feats.flatten(2)                                   # (N, C, h·w)
    idx = (fy * w + fx)[:, None, :].expand(n, c, fy.shape[1])
    return flat.gather(2, idx).transpose(1, 2)
