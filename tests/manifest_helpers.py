"""Catalog content for the manifest tests, inserted directly (no ingest, no dedupe, no web UI)."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File, Group, GroupMember, Hash, Label, User
from rainset.store import Store, init_store

RAIN = ["drizzle", "heavy", "streak", "fog-mixed", "no-rain"]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def sha(i: int, salt: str = "") -> str:
    return hashlib.sha256(f"capture-{salt}{i}".encode()).hexdigest()


def capture_id(i: int, salt: str = "") -> str:
    return "c" + sha(i, salt)[:24]


def add_captures(store: Store, start: int, n: int, *, salt: str = "", seed: int = 0,
                 write_objects: bool = False) -> list[str]:
    """Insert captures ``start..start+n`` with files, hashes and varied EXIF; returns their ids."""
    rng = random.Random(seed * 1000 + start)
    catalog = open_catalog(store.db_url)
    ids = []
    with catalog.session() as s:
        for i in range(start, start + n):
            digest, cid = sha(i, salt), capture_id(i, salt)
            s.add(Capture(id=cid, representative_sha256=digest, format="jpeg", width=640, height=480, bit_depth=8,
                          source_name="test", license="CC0-1.0", owner="tests",
                          make=rng.choice(["Canon", "Nikon", "Sony"]), model=rng.choice(["A", "B"]),
                          serial=f"SN{i % 7}", lens=rng.choice(["50mm", "24-70mm", None]),
                          capture_time=f"2025-06-0{1 + i % 9}T{i % 24:02d}:00:00",
                          exposure_time=rng.choice([1 / 500, 1 / 60, 0.5]), f_number=2.8,
                          iso=rng.choice([100, 400, 800, 1600, 3200]), focal_length=35.0, orientation=1,
                          gps_lat=48.0 + i / 1000, gps_lon=11.0, gps_alt=500.0, flags=["blur"] if i % 5 == 0 else [],
                          created_at=T0 + timedelta(minutes=i)))
            s.flush()
            s.add(File(capture_id=cid, uri=f"/data/cam/IMG_{salt}{i:05d}.JPG", source_dir="/data/cam",
                       stem=f"img_{salt}{i:05d}", sha256=digest, size=1000 + i, format="jpeg", role="raster",
                       storage="copy", width=640, height=480, bit_depth=8, decoder="jpeg-reduced-4"))
            if s.get(Hash, digest) is None:
                s.add(Hash(sha256=digest, phash=f"{rng.getrandbits(64):016x}", dhash=f"{rng.getrandbits(64):016x}",
                           pixel_hash=digest[:32], thumb=bytes(64 * 48), decoder="jpeg-reduced-4"))
            if write_objects:
                path = store.object_path(digest)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f"object {i}".encode())
            ids.append(cid)
    catalog.close()
    return ids


def add_group(store: Store, kind: str, key: str, members: list[str], relation: str | None = None) -> None:
    """A dedupe group (as ``rainset dedupe`` would write it); near-duplicates get phashes 1 bit apart."""
    catalog = open_catalog(store.db_url)
    relation = relation or {"cluster": "near-duplicate", "burst": "burst", "scene": "same-scene"}[kind]
    with catalog.session() as s:
        g = Group(kind=kind, info={"key": key})
        s.add(g)
        s.flush()
        for n, cid in enumerate(members):
            s.add(GroupMember(group_id=g.id, capture_id=cid, relation=relation, is_representative=n == 0))
        if kind == "cluster":
            base = int(s.get(Hash, s.get(Capture, members[0]).representative_sha256).phash, 16)
            for n, cid in enumerate(members[1:]):
                h = s.get(Hash, s.get(Capture, cid).representative_sha256)
                h.phash = f"{base ^ (1 << (n % 64)):016x}"
    catalog.close()


def add_labels(store: Store, labels: dict[str, list[tuple[str, str, list[str]]]]) -> None:
    """``{capture id: [(user, rain type, attributes), ...]}`` appended as label rows."""
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        users = {u.name: u for u in s.query(User)}
        for cid, items in labels.items():
            for user, rain_type, attrs in items:
                if user not in users:
                    users[user] = User(name=user, role="annotator", token_hash="x")
                    s.add(users[user])
                    s.flush()
                s.add(Label(capture_id=cid, user_id=users[user].id, rain_type=rain_type, attributes=attrs,
                            taxonomy_version=1))
    catalog.close()


def labelled_store(root: Path, n: int = 40, db_url: str | None = None) -> tuple[Store, list[str]]:
    """A store with ``n`` captures, two annotators each (a few disagreeing), a cluster, a burst and a scene."""
    store = init_store(root, db_url)
    ids = add_captures(store, 0, n)
    labels = {}
    for i, cid in enumerate(ids):
        a = RAIN[i % len(RAIN)]
        b = a if i % 6 and i % 10 != 7 else RAIN[(i + 1) % len(RAIN)]  # 7, 17, …: no majority
        labels[cid] = [("ann", a, ["night"] if i % 4 == 0 else []), ("bob", b, ["night"] if i % 8 == 0 else [])]
        if i % 6 == 0:
            labels[cid].append(("cy", a, []))
    add_labels(store, labels)
    add_group(store, "cluster", "cluster-0", ids[0:3])
    add_group(store, "burst", "burst-0", ids[2:5])
    add_group(store, "scene", "scene-0", ids[10:12])
    return store, ids


def representative_sha(store: Store, cid: str) -> str:
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        value = s.get(Capture, cid).representative_sha256
    catalog.close()
    return value
