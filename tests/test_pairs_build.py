"""``rainset pairs build/list/show/remove`` on real videos: encoded with PyAV from a real fixture photo
with synthetic rain and camera shake, ingested with the real ``rainset ingest``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from rainset.capture.video import decode_frame
from rainset.catalog.models import Capture
from rainset.cli import app
from rainset.cli.shell import JSON_FORMAT, JSON_FORMAT_KEY
from rainset.errors import ConfigError, PairsError
from rainset.pairs import build as build_module
from rainset.pairs import pngs
from rainset.pairs.build import build_pairs, window_bounds
from rainset.pairs.pairset import pairset_dir, read_index
from rainset.pairs.quality import pair_quality
from rainset.pairs.score import aligned_psnr
from rainset.store import open_store
from tests.catalog_helpers import catalog_rows
from tests.pairs_helpers import footage
from tests.video_helpers import write_video

runner = CliRunner()


def cli(*args: str) -> "object":
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A store with two ingested videos: cam-a (48 frames of shaking static camera, every 2nd frame
    kept at ingest) and cam-b (24 frames, a pan in the middle: two static segments)."""
    base = tmp_path_factory.mktemp("pairs-build")
    a, b = footage(48, seed=3), footage(24, seed=5, pan_at=12)
    for cam, fo in (("a", a), ("b", b)):
        (base / cam).mkdir()
        write_video(base / cam / f"cam-{cam}.mp4", fo.frames)
    s = str(base / "s")
    assert cli("init", s).exit_code == 0
    for cam, every in (("a", "2"), ("b", "1")):
        res = cli("ingest", str(base / cam), "--store", s, "--source-name", f"cam-{cam}", "--every", every,
                  "--workers", "0", "-q")
        assert res.exit_code == 0, res.output
    store = open_store(s)
    frames: dict[str, set[int]] = {}
    for c in catalog_rows(store, Capture):
        frames.setdefault(c.source_name, set()).add(c.frame_index)
        frames.setdefault(f"sha-{c.source_name}", c.video_sha256)
    res = cli("pairs", "build", "all", "--store", s, "--json")
    assert res.exit_code == 0, res.output
    return {"base": base, "store": store, "s": s, "truth": {"cam-a": a, "cam-b": b}, "kept": frames,
            "json": json.loads(res.stdout)}


def test_json_lists_every_pair_with_absolute_files(world: dict) -> None:
    data = world["json"]
    assert data[JSON_FORMAT_KEY] == JSON_FORMAT and data["name"] == "all" and data["method"] == "median"
    assert data["videos"] == 2 and data["skipped"] == [] and data["frames"] == 72
    assert data["frames_per_s"] > 0 and data["segments"] == 3 and data["windows"] == 3
    assert len(data["pairs"]) + data["unpaired"] == 24 + 24  # every kept frame: paired, or in the pan
    for p in data["pairs"]:
        for key in ("rainy", "clean", "mask"):
            assert os.path.isabs(p[key]) and Path(p[key]).is_file(), p[key]
        assert "clean" in Path(p["clean"]).name and "clean" not in Path(p["rainy"]).name
        assert 0.0 <= p["quality"] <= 1.0 and p["accepted"] == (p["quality"] >= data["threshold"])
    assert Path(data["folder"]) == pairset_dir(world["store"].root, "all")


def test_pairs_are_the_kept_frames_inside_static_segments(world: dict) -> None:
    ps = read_index(pairset_dir(world["store"].root, "all"))
    kept, sha = world["kept"], {cam: world["kept"][f"sha-{cam}"] for cam in ("cam-a", "cam-b")}
    a = {p.frame_index for p in ps.pairs if p.video_sha256 == sha["cam-a"]}
    assert a == kept["cam-a"] == set(range(0, 48, 2))  # --every 2 at ingest: the odd frames have no capture
    b = [p for p in ps.pairs if p.video_sha256 == sha["cam-b"]]
    assert {p.frame_index for p in b} < kept["cam-b"]  # the pan's frames lie in no static segment
    assert {p.segment for p in b} == {0, 1}
    assert world["json"]["unpaired"] == len(kept["cam-b"]) - len(b) > 0
    assert all(p.capture_id is not None for p in ps.pairs)
    assert ps.settings["window"] == 48 and ps.where is None


def test_files_decode_losslessly_and_masks_are_binary(world: dict) -> None:
    ps = read_index(folder := pairset_dir(world["store"].root, "all"))
    for p in ps.pairs[::5]:
        rainy = cv2.cvtColor(cv2.imread(str(folder / p.rainy)), cv2.COLOR_BGR2RGB)
        clean = cv2.imread(str(folder / p.clean))
        mask = cv2.imread(str(folder / p.mask), cv2.IMREAD_UNCHANGED)
        assert rainy.shape == clean.shape == (240, 320, 3) and mask.shape == (240, 320) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255} and (mask == 255).mean() > 0.9
        assert p.masked_fraction == pytest.approx((mask == 0).mean(), abs=1e-3)
        frame = decode_frame(str(world["store"].object_path(p.video_sha256)), p.frame_index, p.frame_pts)
        assert np.array_equal(rainy, frame)  # the rainy frame as decoded, lossless


def test_targets_beat_the_rainy_frames_against_the_true_background(world: dict) -> None:
    ps = read_index(folder := pairset_dir(world["store"].root, "all"))
    truth = world["truth"]["cam-a"].truth
    sha = world["kept"]["sha-cam-a"]
    gains = []
    for p in [p for p in ps.pairs if p.video_sha256 == sha][1::4]:
        rainy = cv2.cvtColor(cv2.imread(str(folder / p.rainy)), cv2.COLOR_BGR2RGB)
        clean = cv2.cvtColor(cv2.imread(str(folder / p.clean)), cv2.COLOR_BGR2RGB)
        gains.append(aligned_psnr(clean, truth[p.frame_index]).psnr - aligned_psnr(rainy, truth[p.frame_index]).psnr)
    print(f"\nPSNR gain of the targets over the rainy frames (dB): {np.round(gains, 2).tolist()}")
    assert min(gains) > 3.0, gains
    assert all(p.residual_motion < 0.5 for p in ps.pairs if p.video_sha256 == sha)


def test_where_selects_videos_and_all_frames_windows(world: dict) -> None:
    res = cli("pairs", "build", "b", "--store", world["s"], "--where", "source_name = 'cam-b'", "--all-frames",
              "--window", "8", "--min-quality", "0.99", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {p["video_sha256"] for p in data["pairs"]} == {world["kept"]["sha-cam-b"]}
    assert data["videos"] == 1 and data["windows"] > data["segments"] == 2
    ps = read_index(pairset_dir(world["store"].root, "b"))
    assert ps.where == "source_name = 'cam-b'" and ps.threshold == 0.99 and ps.settings["all_frames"] is True
    assert len(ps.pairs) + data["unpaired"] == 24
    assert any(not p.accepted for p in ps.pairs)  # a strict threshold leaves some out, still listed


def test_refusals_are_one_line_errors(world: dict) -> None:
    s = world["s"]
    for args, words in ((("pairs", "build", "all"), "already exists"),
                        (("pairs", "build", "x", "--where", "source_name = 'nowhere'"), "no video selected"),
                        (("pairs", "build", "x", "--method", "magic"), "unknown pairs method 'magic'"),
                        (("pairs", "build", "../x"), "invalid pair set name"),
                        (("pairs", "build", "x", "--window", "3"), "--window 3 is out of range"),
                        (("pairs", "show", "nope"), "no pair set 'nope'")):
        res = cli(*args, "--store", s)
        assert res.exit_code == 1, (args, res.output)
        assert words in res.output and res.output.strip().count("\n") == 0, (args, res.output)
    assert not (pairset_dir(world["store"].root, "x")).exists()
    with pytest.raises(ConfigError):
        build_pairs(world["store"], "x", min_quality=1.5)


def test_interrupted_build_leaves_no_set(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = pngs.write_png, []

    def failing(path: Path, rgb: np.ndarray) -> None:
        calls.append(path)
        if len(calls) == 7:
            raise RuntimeError("disk on fire")
        real(path, rgb)

    monkeypatch.setattr(pngs, "write_png", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_pairs(world["store"], "cut", where="source_name = 'cam-a'")
    root = pairset_dir(world["store"].root, "cut").parent
    assert 7 <= len(calls) < 72 and calls[0].is_relative_to(root)  # a few more may have been under way
    assert not (root / "cut").exists() and [p.name for p in root.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()

    def ctrl_c(done: int, total: int, note: str | None) -> None:
        if done > 60:  # the second pass, half-way through the window
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_pairs(world["store"], "cut", where="source_name = 'cam-a'", progress=ctrl_c)
    assert not (root / "cut").exists() and [p.name for p in root.iterdir() if p.name.startswith(".")] == []
    # --replace swaps a finished set for a new one, never leaving a half one
    before = read_index(root / "b").created
    res = cli("pairs", "build", "b", "--store", world["s"], "--where", "source_name = 'cam-b'", "--replace", "-q")
    assert res.exit_code == 0 and read_index(root / "b").settings["all_frames"] is False, res.output
    assert before <= read_index(root / "b").created


def test_missing_video_is_skipped_with_a_warning(world: dict) -> None:
    obj = world["store"].object_path(world["kept"]["sha-cam-b"])
    aside = obj.with_name(obj.name + ".aside")
    os.rename(obj, aside)
    try:
        res = cli("pairs", "build", "partial", "--store", world["s"], "--where", "frame_index < 4", "--json")
        obj.write_bytes(aside.read_bytes()[:2000])  # now there, but no video FFmpeg can read
        broken = cli("pairs", "build", "broken", "--store", world["s"], "--where", "source_name = 'cam-b'")
    finally:
        obj.unlink(missing_ok=True)
        os.rename(aside, obj)
    assert broken.exit_code == 1 and "every selected video was skipped (cam-b.mp4: cannot decode it" in broken.output
    assert "warning: skipped video cam-b.mp4" in broken.stderr
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [s["video_sha256"] for s in data["skipped"]] == [world["kept"]["sha-cam-b"]]
    assert "missing" in data["skipped"][0]["reason"] and data["videos"] == 1
    assert "warning: skipped video cam-b.mp4" in res.stderr
    assert {p["video_sha256"] for p in data["pairs"]} == {world["kept"]["sha-cam-a"]}


def test_a_video_failing_part_way_leaves_no_files_behind(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    real, short = build_module.segment_targets, []

    def too_dark_on_the_second_short_window(open_frames, shifts, **kw):  # noqa: ANN001, ANN003
        if len(shifts) < 20:  # cam-b's windows (12 and 8 frames); cam-a's is 48
            short.append(len(shifts))
            if len(short) == 2:
                raise ValueError("no background pixel is at least 16 grey levels bright to fit a gain")
        return real(open_frames, shifts, **kw)

    monkeypatch.setattr(build_module, "segment_targets", too_dark_on_the_second_short_window)
    result = build_pairs(world["store"], "dark", warn=(warned := []).append)
    b = world["kept"]["sha-cam-b"]
    assert [s.video_sha256 for s in result.skipped] == [b] and "grey levels" in result.skipped[0].reason
    assert warned and "skipped video cam-b.mp4" in warned[-1]
    assert {p.video_sha256 for p in result.pairs} == {world["kept"]["sha-cam-a"]}
    assert list(result.folder.rglob(f"{b[:16]}-*")) == []  # the first window's files went with the video
    assert [p.name for p in result.folder.iterdir()] and not list(result.folder.glob(".*"))  # no scratch left
    short.clear()  # cam-b alone: its second window fails again, and nothing is left to build
    with pytest.raises(PairsError, match="every selected video was skipped"):
        build_pairs(world["store"], "dark2", where="source_name = 'cam-b'")
    assert not pairset_dir(world["store"].root, "dark2").exists()


def test_list_show_remove(world: dict) -> None:
    s = world["s"]
    listed = json.loads(cli("pairs", "list", "--store", s, "--json").stdout)["pairsets"]
    assert {"all", "b"} <= {p["name"] for p in listed}
    shown = json.loads(cli("pairs", "show", "b", "--store", s, "--json").stdout)
    assert shown["name"] == "b" and all(os.path.isabs(p["clean"]) for p in shown["pairs"])
    assert len(shown["pairs"]) == next(p["pairs"] for p in listed if p["name"] == "b")
    res = cli("pairs", "remove", "b", "--store", s)
    assert res.exit_code == 0 and "removed pair set b" in res.output
    assert not pairset_dir(world["store"].root, "b").exists()
    assert cli("pairs", "remove", "b", "--store", s).exit_code == 1


def test_a_moving_camera_gives_no_pairs_and_says_so(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module, "static_segments", lambda shifts, steps: [])  # the camera never rests
    result = build_pairs(world["store"], "moving", where="source_name = 'cam-b'")
    assert result.pairs == () and result.windows == 0 and result.unpaired == len(world["kept"]["cam-b"])
    assert any("no static segment" in w for w in result.warnings)
    assert read_index(result.folder).pairs == ()


def test_linked_video_is_read_where_it_was_ingested_from(tmp_path: Path) -> None:
    fo = footage(16, seed=7)
    (tmp_path / "src").mkdir()
    clip = write_video(tmp_path / "src" / "linked.mkv", fo.frames)
    s = str(tmp_path / "s")
    assert cli("init", s).exit_code == 0
    assert cli("ingest", str(tmp_path / "src"), "--store", s, "--link", "--workers", "0", "-q").exit_code == 0
    store = open_store(s)
    assert not any(p.is_file() for p in (store.root / "objects").rglob("*"))  # nothing copied
    result = build_pairs(store, "linked")
    assert len(result.pairs) == 16 and result.skipped == ()
    p = result.pairs[5]
    rainy = cv2.cvtColor(cv2.imread(str(result.folder / p.rainy)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(rainy, decode_frame(str(clip), p.frame_index, p.frame_pts))


def test_windows_and_quality_rules() -> None:
    assert window_bounds(0, 48, 48) == [(0, 48)]
    assert window_bounds(10, 60, 48) == [(10, 35), (35, 60)]  # balanced, never a 2-frame tail
    assert sorted(b - a for a, b in window_bounds(0, 100, 48)) == [33, 33, 34]
    assert pair_quality(0.0, 0.0, 0.0) == 1.0 and pair_quality(1.0, 0.0, 0.0) == 0.0
    assert pair_quality(0.1, 0.08, 0.04) == pytest.approx(0.9 * 0.84 * 0.92)
    with pytest.raises(PairsError):
        build_pairs(None, "a/b")  # type: ignore[arg-type]  # the name is checked before the store is used


def test_built_pairs_flow_into_export_shards_and_evaluate(world: dict, tmp_path: Path) -> None:
    """End to end on what `pairs build` wrote: a version of its accepted pairs, shards with the three
    members, and a masked evaluation whose rainy baseline matches the pair files."""
    import tarfile

    import torch

    from rainset.nlcl.model import Generator, init_weights
    from rainset.nlcl.released import rainset_keys

    s = world["s"]
    ps = read_index(pairset_dir(world["store"].root, "all"))
    accepted = {p.pair_id for p in ps.accepted()}
    assert accepted, "the build accepted no pair"
    res = cli("export", "e2e", "--pairs", "all", "--store", s, "-q")
    assert res.exit_code == 0, res.output
    res = cli("shards", "e2e", "--store", s, "--target-size", "50MB", "-q")
    assert res.exit_code == 0, res.output
    members: dict[str, set[str]] = {}
    for tar in (Path(s) / "shards" / "e2e").rglob("*.tar"):
        with tarfile.open(tar) as tf:
            for name in tf.getnames():
                key, _, ext = name.partition(".")
                members.setdefault(key, set()).add(ext)
    assert set(members) == accepted
    assert all({"rainy.png", "clean.png", "mask.png"} <= m for m in members.values())
    torch.manual_seed(0)
    gen = Generator(8, 1, False)
    init_weights(gen, 0.02)
    state = gen.state_dict()
    ckpt = tmp_path / "tiny.pth"
    torch.save({released: state[ours] for released, ours in rainset_keys(1).items()}, ckpt)
    res = cli("evaluate", "--manifest", "e2e", "--checkpoint", str(ckpt), "--store", s, "--device", "cpu", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {p["name"] for p in out["pairs"]} == accepted
