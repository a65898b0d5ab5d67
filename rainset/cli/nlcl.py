"""NLCL commands of the reference trainer: the ``nlcl`` group (``nlcl train``, ``nlcl import-released``,
``nlcl intrinsic-dim``),
``train nlcl`` (the same command as ``nlcl train``), ``evaluate``, ``derain``.

torch is imported inside the commands only (it is the optional ``train`` extra, and heavy).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from rainset.cli.shell import JsonOpt, QuietOpt, StoreOpt, app, edge, emit, out, print_json, progress_bar, resolve_store
from rainset.errors import ConfigError, TrainError
from rainset.nlcl.config import make_config
from rainset.ranges import BLEND, TILE

train_app = typer.Typer(help="Train models (the NLCL reference trainer).", no_args_is_help=True)
app.add_typer(train_app, name="train")
nlcl_app = typer.Typer(help="NLCL tools: train, import the released weights, measure intrinsic dimension.",
                       no_args_is_help=True)
app.add_typer(nlcl_app, name="nlcl")

CheckpointOpt = Annotated[Path, typer.Option("--checkpoint", help="A checkpoint.pt written by 'rainset nlcl train' "
                                             "or 'rainset nlcl import-released', or a released NLCL G_B state "
                                             "dict (latest_net_Back.pth).")]
TileOpt = Annotated[int, typer.Option("--tile", help="Tile side of the exact tiled pass for images above 2 MP (32 to 65536).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when available), cpu, cuda or cuda:N.")]


def step_progress(bar: Callable[..., None]) -> Callable[[int, int], None]:
    """The trainer's ``progress(done, total)`` on a bar that names the step running: during the last
    step the bar reads "step 8 of 8" beside 7/8 done, and reaches 8/8 when that step (with its
    checkpoint) is written."""

    def update(done: int, total: int) -> None:
        bar(done, total, f"step {done + 1} of {total}" if done < total else f"{total} steps done")

    return update


def _require_torch() -> None:
    try:
        import torch  # noqa: F401  # heavy: torch (the optional train extra)
    except ImportError:
        raise TrainError("torch is not installed; install the trainer with: pip install 'rainset[train]'") from None


@nlcl_app.command("train")
@train_app.command("nlcl")
def train_nlcl(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Config overrides as key=value "
                                                             "(every field: docs/trainer.md).", show_default=False)] = None,
    rainy: Annotated[Optional[Path], typer.Option("--rainy", help="Folder of rainy images.")] = None,
    clean: Annotated[Optional[Path], typer.Option("--clean", help="Folder of unpaired clean images.")] = None,
    shards: Annotated[Optional[str], typer.Option("--shards", help="Shards folder or URL (holding index.json) "
                                                  "to read instead of --rainy/--clean.")] = None,
    rainy_labels: Annotated[Optional[str], typer.Option("--rainy-labels", help="Rain types of the rainy stream "
                                                        "(comma-separated; default drizzle,heavy,streak,fog-mixed).",
                                                        show_default=False)] = None,
    clean_labels: Annotated[Optional[str], typer.Option("--clean-labels", help="Rain types of the clean stream "
                                                        "(default no-rain).", show_default=False)] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default: the preset's, runs/nlcl).",
                                                    show_default=False)] = None,
    preset: Annotated[str, typer.Option("--preset", help="paper (published settings) or cpu-smoke.")] = "paper",
    show_config: Annotated[bool, typer.Option("--show-config", help="Print the resolved config and exit.")] = False,
    as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Train NLCL (unsupervised deraining) on rainy and unpaired clean images (two folders, or the shards of a
    manifest version split by label); resumes from the run folder."""
    with edge():
        _require_torch()
        from rainset.nlcl.train import train  # heavy: torch

        extra = list(overrides or [])
        extra += [f"rainy={rainy}"] if rainy else []
        extra += [f"clean={clean}"] if clean else []
        extra += [f"out={out_dir}"] if out_dir else []
        extra += [f"shards={shards}"] if shards else []
        extra += [f"rainy_labels={rainy_labels}"] if rainy_labels is not None else []
        extra += [f"clean_labels={clean_labels}"] if clean_labels is not None else []
        cfg = make_config(preset, extra)
        if show_config:
            print_json(cfg.to_dict())
            return
        with progress_bar("train nlcl", not (quiet or as_json)) as bar:
            result = train(cfg, progress=None if bar is None else step_progress(bar))
    emit(result, as_json, quiet)


@nlcl_app.command("import-released")
def import_released_cmd(
    back: Annotated[Path, typer.Argument(help="The released G_B state dict (latest_net_Back.pth).")],
    rain: Annotated[Path, typer.Argument(help="The released G_R state dict (latest_net_Rain.pth).")],
    out_path: Annotated[Path, typer.Option("--out", help="The checkpoint to write.")] = Path("runs/nlcl-released/checkpoint.pt"),
    as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Make a rainset checkpoint (paper config, both generators, source sha256s) from the released NLCL weights."""
    with edge():
        _require_torch()
        from rainset.nlcl.released import import_released  # heavy: torch

        result = import_released(back, rain, out_path)
    emit(result, as_json, quiet)


@nlcl_app.command("intrinsic-dim")
def intrinsic_dim_cmd(
    inputs: Annotated[Optional[list[Path]], typer.Argument(help="Rainy images or folders (decomposed with "
                                                           "--checkpoint, or paired with --clean).",
                                                           show_default=False)] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="A rainset checkpoint holding G_B and "
                                                       "G_R (for the released weights: 'rainset nlcl "
                                                       "import-released' first); decomposes the inputs or the "
                                                       "--store captures into B and R.", show_default=False)] = None,
    clean: Annotated[Optional[Path], typer.Option("--clean", help="Folder of clean images paired with the inputs "
                                                  "(by name or number): B = clean, R = rainy - clean.",
                                                  show_default=False)] = None,
    use_store: Annotated[bool, typer.Option("--from-store", help="Decompose the store's active captures "
                                            "(with --checkpoint).")] = False,
    store: StoreOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many store captures (0: all).")] = 20,
    side: Annotated[int, typer.Option("--side", help="Centre crop side measured per image.")] = 256,
    anchors: Annotated[int, typer.Option("--anchors", help="Non-local groups per image and layer.")] = 16,
    group: Annotated[int, typer.Option("--group", help="Patches per group (nearest to the anchor).")] = 128,
    window: Annotated[int, typer.Option("--window", help="Search window: range of patch centres.")] = 40,
    patch: Annotated[int, typer.Option("--patch", help="Patch side.")] = 16,
    k: Annotated[int, typer.Option("--k", help="Neighbours of the Levina-Bickel MLE.")] = 10,
    tau: Annotated[float, typer.Option("--tau", help="The symmetric temperature the rule starts from.")] = 0.07,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the anchors.")] = 0,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Intrinsic dimension (TwoNN, Levina-Bickel MLE) of non-local patch groups of the background and the rain
    layer, their ratio, and the asymmetric temperatures the documented rule derives from it."""
    with edge():
        _require_torch()
        from rainset.nlcl import intrinsic_dim as idim  # heavy: torch, cv2
        from rainset.nlcl.checkpoint import pick_device  # heavy: torch
        from rainset.nlcl.derain import expand_inputs  # heavy: torch, cv2
        from rainset.nlcl.evaluate import pair_files  # heavy: numpy, cv2

        if checkpoint is None and clean is None:
            raise TrainError("nlcl intrinsic-dim: give --checkpoint (decompose rainy images) and/or --clean "
                             "(pairs: rainy - clean)")
        if use_store and checkpoint is None:
            raise TrainError("nlcl intrinsic-dim: --from-store decomposes captures and needs --checkpoint")
        if not inputs and not use_store:
            raise TrainError("nlcl intrinsic-dim: no rainy images given (arguments, or --from-store)")
        files = expand_inputs(list(inputs)) if inputs else []
        decomposed = paired = None
        if checkpoint is not None:
            images = (idim.store_images(resolve_store(store, read_only_ok=True), limit) if use_store
                      else idim.file_images(files))
            decomposed = idim.decompose(checkpoint, images, side=side, device=pick_device(device))
        if clean is not None:
            pairs = pair_files(files, expand_inputs([clean]))
            paired = idim.paired_layers(idim.file_pairs(pairs), side=side)
        report = idim.intrinsic_dim(decomposed=decomposed, paired=paired, anchors=anchors, group=group,
                                    window=window, patch=patch, k=k, seed=seed, tau=tau)
    emit(report, as_json, quiet)


@app.command()
def evaluate(
    inputs: Annotated[Optional[list[Path]], typer.Argument(help="Images or folders to score (derained outputs, or "
                                                           "rainy inputs with --checkpoint).",
                                                           show_default=False)] = None,
    truth: Annotated[Optional[Path], typer.Option("--truth", help="Folder of clean ground truth, paired by name "
                                                  "or by the number in the name.")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="Derain the inputs with this "
                                                       "checkpoint first (nothing is written).")] = None,
    manifest: Annotated[Optional[str], typer.Option("--manifest", help="Score --checkpoint on the pairs of this "
                                                   "pairs manifest version (rainset export --pairs), within "
                                                   "their masks.", show_default=False)] = None,
    pairs: Annotated[Optional[str], typer.Option("--pairs", help="Score --checkpoint on the accepted pairs of "
                                                 "the pair set STORE/pairs/PAIRS, within their masks.",
                                                 show_default=False)] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="With --manifest: only this split (train, "
                                                 "validation, test; default: all).", show_default=False)] = None,
    tile: TileOpt = 512, device: DeviceOpt = "auto",
    store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """PSNR and SSIM (RGB and Y channel) against ground truth, and the no-reference streak energy; or masked
    PSNR and SSIM of a checkpoint on real pairs (--manifest / --pairs) with the rainy-input baseline."""
    with edge():
        TILE.check("--tile", tile)
        sources = [x for x in (inputs and "INPUTS", manifest and "--manifest", pairs and "--pairs") if x]
        if len(sources) != 1:
            raise ConfigError("give exactly one of INPUTS, --manifest NAME or --pairs NAME"
                              + (f" (got {', '.join(sources)})" if sources else ""))
        if (manifest or pairs) and checkpoint is None:
            raise ConfigError(f"{sources[0]} scores a checkpoint on real pairs: give --checkpoint")
        if (manifest or pairs) and truth is not None:
            raise ConfigError(f"--truth with {sources[0]}: the pairs carry their own clean targets")
        if split is not None and not manifest:
            raise ConfigError("--split goes with --manifest")
        _require_torch()
        from rainset.nlcl.derain import derain_array, expand_inputs, load_generator  # heavy: torch, cv2
        from rainset.nlcl.evaluate import evaluate_images  # heavy: numpy, cv2
        from rainset.nlcl.checkpoint import pick_device  # heavy: torch

        transform = None
        if checkpoint is not None:
            dev = pick_device(device)
            gen = load_generator(checkpoint, dev)

            def transform(img):  # noqa: ANN001, ANN202
                return derain_array(gen, img, tile=tile, device=dev)
        if manifest or pairs:
            from rainset.nlcl.pair_eval import evaluate_pairs, pairs_of_set, pairs_of_version  # heavy: sqlalchemy, cv2

            st = resolve_store(store, read_only_ok=True)
            chosen = pairs_of_version(st, manifest, split) if manifest else pairs_of_set(st, pairs)
            label = f"manifest {manifest}" + (f" ({split})" if split else "") if manifest else f"pair set {pairs}"
            with progress_bar("evaluate", not (quiet or as_json)) as bar:
                report = evaluate_pairs(label, chosen, transform, progress=bar)
        else:
            files = expand_inputs(list(inputs or []))
            truth_files = expand_inputs([truth]) if truth else None
            with progress_bar("evaluate", not (quiet or as_json)) as bar:
                report = evaluate_images(files, truth_files, transform=transform, progress=bar)
    emit(report, as_json, quiet)


@app.command()
def derain(
    inputs: Annotated[list[Path], typer.Argument(help="Rainy images or folders of them (8- or 16-bit, or camera RAW).")],
    checkpoint: CheckpointOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the derained images.")],
    tile: TileOpt = 512,
    blend: Annotated[int, typer.Option("--blend", help="No longer used: tiles are exact, nothing to blend "
                                       "(accepted so old scripts run).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="auto (PNG for 8-bit input, 16-bit TIFF for 16-bit and "
                                     "RAW), png, tiff or same (the input's format).")] = "auto",
    scratch: Annotated[Optional[Path], typer.Option("--scratch", help="Folder for the tiled pass's scratch files "
                                                    "(default: the temporary folder).", show_default=False)] = None,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Derain full-resolution captures (G_B of a checkpoint); large ones through exact tiles."""
    with edge():
        TILE.check("--tile", tile)
        BLEND.check("--blend", blend)
        _require_torch()
        from rainset.nlcl.derain import derain_files  # heavy: torch, cv2

        t0 = time.perf_counter()
        with progress_bar("derain", not (quiet or as_json)) as bar:
            written = derain_files(checkpoint, list(inputs), out_dir, tile=tile, blend=blend, fmt=fmt, device=device,
                                   scratch_dir=scratch, progress=bar)
        seconds = time.perf_counter() - t0
    if as_json:
        print_json({"outputs": [str(p) for p in written], "count": len(written), "seconds": round(seconds, 3)})
    elif not quiet:
        out.print(f"derained {len(written)} images into {out_dir} in {seconds:.1f} s", highlight=False)
