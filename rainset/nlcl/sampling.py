"""Non-local sampling, batched: the k patches nearest to an anchor patch inside a window.

For every sample of a batch at once: cut the ``window``×``window`` region around the anchor out
of the layer (advanced indexing), unfold it into all ``patch``×``patch`` patches at stride 1, take
squared L2 distances to the anchor's patch and keep the ``k`` smallest. No Python loop over
window positions or over the batch; the result for one sample does not depend on the others.
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


def window_origin(anchor: torch.Tensor, size: int, window: int, patch: int) -> torch.Tensor:
    """Top-left of the window centred on the anchor patch, clamped inside an image side of ``size``."""
    return (anchor + patch // 2 - window // 2).clamp(0, size - window)


def random_anchors(n: int, height: int, width: int, patch: int, generator: torch.Generator,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random anchor patches (top-left rows and columns) fully inside the image."""
    rows = torch.randint(0, height - patch + 1, (n,), generator=generator).to(device)
    cols = torch.randint(0, width - patch + 1, (n,), generator=generator).to(device)
    return rows, cols


def check_geometry(height: int, width: int, window: int, patch: int, k: int) -> None:
    """Raise ``ValueError`` when the window, patch and k do not fit the image."""
    if patch > window:
        raise ValueError(f"patch {patch} is larger than the search window {window}")
    if window > min(height, width):
        raise ValueError(f"search window {window} is larger than the image ({height}×{width}); use a larger crop")
    positions = (window - patch + 1) ** 2
    if k > positions:
        raise ValueError(f"k={k} exceeds the {positions} patch positions in a {window}² window with {patch}² patches")


@torch.no_grad()
def nearest_patches(layer: torch.Tensor, anchor_rows: torch.Tensor, anchor_cols: torch.Tensor, k: int, *,
                    window: int = 40, patch: int = 16) -> Neighbours:
    """The ``k`` patches nearest (squared L2) to each anchor's patch, searched in a window around it.

    Args:
        layer: (N, C, H, W) predicted layer (B or R); not differentiated.
        anchor_rows: (N,) top rows of the anchor patches.
        anchor_cols: (N,) left columns of the anchor patches.
        k: how many patches to keep (the anchor's own patch, at distance 0, is among them).
        window: side of the square search window.
        patch: side of a patch.

    Returns:
        :class:`Neighbours`, nearest first (ties broken by the lower row-major position).
    """
    n, c, h, w = layer.shape
    check_geometry(h, w, window, patch, k)
    wy = window_origin(anchor_rows, h, window, patch)
    wx = window_origin(anchor_cols, w, window, patch)
    span = torch.arange(window, device=layer.device)
    rows = (wy[:, None] + span)[:, :, None]          # (N, window, 1)
    cols = (wx[:, None] + span)[:, None, :]          # (N, 1, window)
    batch = torch.arange(n, device=layer.device)[:, None, None]
    win = layer[batch, :, rows, cols].permute(0, 3, 1, 2)            # (N, C, window, window)
    win = win.to(torch.promote_types(win.dtype, torch.float32))      # float16 layers: search in float32
    patches = F.unfold(win, patch)                   # (N, C·patch², P), P = side²
    side = window - patch + 1
    own = (anchor_rows - wy) * side + (anchor_cols - wx)
    anchor_vec = patches.gather(2, own[:, None, None].expand(n, patches.shape[1], 1))
    dist = (patches - anchor_vec).square().sum(1)    # (N, P)
    # Stable ordering: sort by distance, then position (a tiny index offset would change values).
    order = torch.sort(dist, dim=1, stable=True)
    idx = order.indices[:, :k]
    return Neighbours(rows=wy[:, None] + idx // side, cols=wx[:, None] + idx % side, dist=order.values[:, :k])


def nearest_patches_bruteforce(layer: torch.Tensor, anchor_row: int, anchor_col: int, k: int, *,
                               window: int = 40, patch: int = 16) -> list[tuple[float, int, int]]:
    """Reference search for one image (C, H, W): every window position compared in a Python loop.

    Returns ``(distance, row, col)`` of the k nearest, sorted by distance then row-major position.
    Slow; used by the tests to check :func:`nearest_patches`.
    """
    _, h, w = layer.shape
    wy = int(window_origin(torch.tensor(anchor_row), h, window, patch))
    wx = int(window_origin(torch.tensor(anchor_col), w, window, patch))
    ref = layer[:, anchor_row:anchor_row + patch, anchor_col:anchor_col + patch]
    found = []
    for r in range(wy, wy + window - patch + 1):
        for c in range(wx, wx + window - patch + 1):
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
