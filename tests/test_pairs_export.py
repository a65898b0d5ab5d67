"""``rainset export --pairs``: accepted pairs as a version (real ingested videos, pair sets written with
rainset.pairs.pairset): columns, splits by video, card, errors."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rainset.cli import app
from rainset.errors import ConfigError, ManifestError
from rainset.manifests.export import export_manifest
from rainset.manifests.removal import remove_captures
from rainset.manifests.report import write_report
from rainset.manifests.schema import PAIR_COLUMNS, SCHEMA_VERSION, arrow_schema
from rainset.manifests.versions import open_version
from rainset.pairs.pairset import pair_id, pairset_dir, read_index
from rainset.store import Store, open_store
from tests.pairset_fixtures import FRAMES, frame_captures, video_store, write_pairset


def _rejected(v: int, i: int) -> bool:
    return not (v == 0 and i == 5)  # one rejected pair, a frame without a capture


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    st = video_store(tmp_path_factory.mktemp("pairs-export"))
    write_pairset(st, "p1", accepted=_rejected)
    export_manifest(st, "plain", include_unlabelled=True)
    export_manifest(st, "pv", pairs="p1")
    return st


def test_accepted_pairs_become_rows_with_the_pair_columns(store: Store) -> None:
    version = open_version(store, "pv")
    rows = version.rows()
    ps = read_index(pairset_dir(store.root, "p1"))
    accepted = {p.pair_id: p for p in ps.accepted()}
    assert len(ps.pairs) == 3 * FRAMES and len(accepted) == 3 * FRAMES - 1
    assert {r["sample_id"] for r in rows} == set(accepted)
    captures = frame_captures(store)
    plain = {r["sample_id"]: r for r in open_version(store, "plain").rows()}
    for r in rows:
        p = accepted[r["sample_id"]]
        assert (r["video_sha256"], r["frame_index"], r["frame_pts"]) == (p.video_sha256, p.frame_index, p.frame_pts)
        assert r["sha256"] == p.video_sha256 and r["format"] == "frame"
        assert r["pairs_name"] == "p1" and r["pair_quality"] == pytest.approx(p.quality)
        for column, member in (("rainy_path", p.rainy), ("clean_path", p.clean), ("mask_path", p.mask)):
            assert r[column] == f"pairs/p1/{member}" and (store.root / r[column]).is_file()
        cid = captures.get((p.video_sha256, p.frame_index))
        if cid is not None:  # a kept frame: its own capture row (hashes and all)
            assert r["phash"] == plain[cid]["phash"] and r["phash"] is not None
        else:  # a frame not kept at ingest: the video's row, without another frame's hashes
            assert r["phash"] is None and r["labels"] == []
    info = version.info
    assert info["schema_version"] == SCHEMA_VERSION == 4
    assert info["settings"]["pairs"] == "p1"
    assert info["pairs"]["accepted"] == len(accepted) == info["pairs"]["exported"] == info["samples"]
    assert info["pairs"]["pairs"] == len(ps.pairs) and len(info["pairs"]["index_sha256"]) == 64
    schema = pq.read_schema(version.data_files()[0])
    assert schema.metadata[b"rainset.schema_version"] == b"4"
    assert set(PAIR_COLUMNS) <= set(schema.names)


def test_splits_are_by_video_and_follow_the_captures(store: Store) -> None:
    rows = open_version(store, "pv").rows()
    plain = open_version(store, "plain").rows()
    by_video: dict[str, set[str]] = {}
    for r in rows:
        by_video.setdefault(r["video_sha256"], set()).add(r["split"])
    assert len(by_video) == 3 and all(len(s) == 1 for s in by_video.values())
    for r in plain:  # the same video's captures sit in the pairs' split, same leakage group
        assert by_video[r["video_sha256"]] == {r["split"]}
    groups = {(r["video_sha256"], r["leakage_group"]) for r in rows}
    assert len(groups) == 3


def test_plain_versions_have_null_pair_columns_and_still_read(store: Store) -> None:
    plain = open_version(store, "plain")
    rows = plain.rows()
    assert rows and all(r[c] is None for r in rows for c in PAIR_COLUMNS)
    assert "pairs" not in plain.info
    assert set(arrow_schema().names) >= set(PAIR_COLUMNS)


def test_dataset_card_tells_about_pairs(store: Store) -> None:
    card = (store.root / "manifests" / "pv" / "README.md").read_text(encoding="utf-8")
    assert "## Pairs" in card and "rainset export pv --pairs p1" in card and "pair set | `p1`" in card
    assert "## Pairs" not in (store.root / "manifests" / "plain" / "README.md").read_text(encoding="utf-8")


def test_where_filters_pair_rows(store: Store) -> None:
    result = export_manifest(store, "pv-good", pairs="p1", where="pair_quality >= 0.7")
    rows = open_version(store, "pv-good").rows()
    assert rows and all(r["pair_quality"] >= 0.7 for r in rows) and result.samples == len(rows)
    assert result.pairs == "p1"


def test_clear_errors(store: Store) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["export", "x1", "--pairs", "nope", "--store", str(store.root)])
    assert res.exit_code == 1
    assert "pair set 'nope': no such pair set" in res.output and "p1" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output

    write_pairset(store, "none-ok", accepted=lambda v, i: False)
    with pytest.raises(ManifestError, match="pair set 'none-ok': none of its 18 pairs is accepted"):
        export_manifest(store, "x2", pairs="none-ok")

    write_pairset(store, "holed")
    gone = next(iter((pairset_dir(store.root, "holed") / "clean").iterdir()))
    gone.unlink()
    with pytest.raises(ManifestError, match=rf"pair set 'holed': pair .*: clean file pairs/holed/clean/{gone.name} "
                                            "is missing"):
        export_manifest(store, "x3", pairs="holed")
    with pytest.raises(ConfigError, match="--images embed with --pairs"):
        export_manifest(store, "x4", pairs="p1", images="embed")
    assert not (store.root / "manifests" / "x3").exists()


def test_removed_captures_leave_their_pairs_out(tmp_path: Path, store: Store) -> None:
    copy = tmp_path / "store"
    shutil.copytree(store.root, copy)
    st = open_store(copy)
    captures = frame_captures(st)
    (video, index), cid = sorted(captures.items())[0]
    remove_captures(st, [cid], "a face")
    export_manifest(st, "pv2", pairs="p1")
    version = open_version(st, "pv2")
    ids = {r["sample_id"] for r in version.rows()}
    assert pair_id(video, index) not in ids and pair_id(video, index) in version.info["pairs"]["removed"]
    assert version.info["pairs"]["exported"] == version.info["pairs"]["accepted"] - 1
    out = json.loads(CliRunner().invoke(app, ["versions", "--store", str(copy), "--json"]).output)
    assert "pv2" in [v["name"] for v in out["versions"]]


def test_report_shows_the_pairs(store: Store, tmp_path: Path) -> None:
    result = write_report(store, "pv", tmp_path / "pv.html")
    page = (tmp_path / "pv.html").read_text(encoding="utf-8")
    rows = open_version(store, "pv").rows()
    assert result.pairs == len(rows) and result.pair_tiles == 6
    assert 'data-section="pairs"' in page and "pair set <code>p1</code>" in page
    assert f"{len(rows)} in this version from 3 videos" in page
    table = re.search(r'<table data-pairs="quality">(.*?)</table>', page).group(1)
    per_bin = [int(c) for c in re.findall(r"<td>(\d+)</td></tr>", table)]  # the last column: this version
    assert sum(per_bin) == len(rows) and len(per_bin) == 10
    best = max(r["pair_quality"] for r in rows)
    assert per_bin[min(9, int(best * 10))] >= 1
    masks = re.findall(r'<img alt="mask [^"]+" src="data:image/png;base64,([^"]+)"', page)
    assert len(masks) == 6 and len(re.findall(r'<img alt="(?:rainy|clean) ', page)) == 12
    mask = cv2.imdecode(np.frombuffer(base64.b64decode(masks[0]), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (120, 160) and mask.min() == 0 and mask.max() == 255  # the hole shows
    assert result.thumbnails >= 18
    plain = write_report(store, "plain", tmp_path / "plain.html")
    assert plain.pairs == 0 and 'data-section="pairs"' not in (tmp_path / "plain.html").read_text(encoding="utf-8")


def test_kept_frames_get_their_own_row_without_a_capture_id_in_the_set(store: Store) -> None:
    write_pairset(store, "noids", capture_ids=False)
    export_manifest(store, "pv-noids", pairs="noids")
    captures = frame_captures(store)
    plain = {r["sample_id"]: r for r in open_version(store, "plain").rows()}
    rows = open_version(store, "pv-noids").rows()
    kept = [r for r in rows if (r["video_sha256"], r["frame_index"]) in captures]
    assert len(kept) == len(plain) and len(rows) > len(kept)
    for r in kept:
        own = plain[captures[(r["video_sha256"], r["frame_index"])]]
        assert (r["phash"], r["frame_pts"]) == (own["phash"], own["frame_pts"]) and r["phash"] is not None
