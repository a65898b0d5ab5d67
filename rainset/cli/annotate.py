"""Labelling commands: ``rainset users …``, ``rainset labels …`` and ``rainset annotate serve`` (the web app)."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional
from urllib.parse import urlsplit

import typer

from rainset.annotate_ui.config import LOOPBACK_HOSTS, MAX_BODY, SESSION_HOURS, TILE_CACHE_MB, AppSettings
from rainset.cli.shell import (JsonOpt, QuietOpt, StoreOpt, app, edge, emit, err, out, print_json, progress_bar,
                               resolve_store)
from rainset.errors import ConfigError, LabelError
from rainset.labels.taxonomy import store_taxonomy
from rainset.ranges import HOURS, LIMIT, check_optional
from rainset.store import write_atomic

users_app = typer.Typer(help="Accounts of the labelling web UI: annotators, reviewers, admins.", no_args_is_help=True)
labels_app = typer.Typer(help="Labels: agreement, review queue, Label Studio interchange, bulk labels.",
                         no_args_is_help=True)
annotate_app = typer.Typer(help="The labelling web app: serve it to annotators and reviewers.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(labels_app, name="labels")
app.add_typer(annotate_app, name="annotate")

FormatOpt = Annotated[str, typer.Option("--format", help="Interchange format (only 'labelstudio').")]

WILDCARD = ("0.0.0.0", "::", "")
HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")]
PortOpt = Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)]
InsecureOpt = Annotated[bool, typer.Option(
    "--insecure-cookie", help="Send the session cookie without the Secure flag, for plain-http access from other "
    "machines on a trusted network; put TLS in front instead where you can.")]
HoursOpt = Annotated[float, typer.Option(
    "--session-hours", help=f"How long a sign-in lasts, {SESSION_HOURS.low:g} to {SESSION_HOURS.high:g}.")]
MaxBodyOpt = Annotated[int, typer.Option(
    "--max-body", help=f"Largest request body in bytes ({MAX_BODY.low} to {MAX_BODY.high}); larger "
    "ones get 413 before they are read.")]
AllowedHostOpt = Annotated[Optional[list[str]], typer.Option(
    "--allowed-host", help="A Host name clients may use to reach the server (other Host headers get 400). "
    "Repeatable; default: the --host address, localhost, 127.0.0.1, ::1 and the hosts of --origin.",
    show_default=False)]
TileCacheOpt = Annotated[int, typer.Option(
    "--tile-cache-mb", help="Memory for decoded originals of the 100 % view, in MiB (0 to 1048576; the latest "
    "decode is always kept).")]
LogOpt = Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")]
OriginOpt = Annotated[Optional[list[str]], typer.Option(
    "--origin", help="Another origin (scheme://host[:port]) browsers may post from: a reverse proxy's public "
    "address. Repeatable.", show_default=False)]


@contextmanager
def _session(store_path: Optional[Path]) -> Iterator[tuple[Any, Any]]:
    """The store and a catalog session committed at the end of the block."""
    from rainset.catalog.db import catalog_session  # heavy: sqlalchemy

    store = resolve_store(store_path)
    with catalog_session(store.db_url) as session:
        yield store, session


def _taxonomy(store: Any) -> dict[str, Any]:
    tax = store_taxonomy(store)
    return {"taxonomy": list(tax.rain_types), "taxonomy_version": tax.version}


def _check_format(fmt: str) -> None:
    if fmt != "labelstudio":
        raise LabelError(f"--format {fmt!r}: the only interchange format is 'labelstudio'")


def _print_token(user: Any, heading: str, as_json: bool) -> None:
    """A user's new token, shown once: JSON with id, name, role and token, or a heading and the token."""
    if as_json:
        print_json({"id": user.id, "name": user.name, "role": user.role, "email": user.email, "token": user.token})
    else:
        out.print(heading, highlight=False)
        out.print(user.token, highlight=False)


@users_app.command("add")
def users_add(name: Annotated[str, typer.Argument(help="User name: 1-64 letters, digits, '.', '_' or '-'.")],
              role: Annotated[str, typer.Option("--role", help="annotator, reviewer or admin.")] = "annotator",
              email: Annotated[Optional[str], typer.Option("--email", help="The user's e-mail: Label Studio "
                                                           "interchange names the user by it (default identity "
                                                           "NAME@rainset.invalid).", show_default=False)] = None,
              store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Create a user and print its sign-in token (shown once, stored hashed)."""
    from rainset.labels.users import add_user  # heavy: sqlalchemy

    with edge(), _session(store) as (_, s):
        user = add_user(s, name, role, email)
    _print_token(user, f"created {user.role} {user.name}; token (shown once, keep it secret):", as_json)


@users_app.command("token")
def users_token(name: Annotated[str, typer.Argument(help="The user.")], store: StoreOpt = None,
                as_json: JsonOpt = False) -> None:
    """Give a user a new token (the old one stops working) and print it once."""
    from rainset.labels.users import reset_token  # heavy: sqlalchemy

    with edge(), _session(store) as (_, s):
        user = reset_token(s, name)
    _print_token(user, f"new token for {user.name} (shown once):", as_json)


@users_app.command("set-email")
def users_set_email(name: Annotated[str, typer.Argument(help="The user.")],
                    email: Annotated[Optional[str], typer.Argument(help="The new e-mail address.",
                                                                   show_default=False)] = None,
                    clear: Annotated[bool, typer.Option("--clear", help="Remove the e-mail (Label Studio interchange "
                                                        "then uses NAME@rainset.invalid).")] = False,
                    store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Set or clear a user's e-mail (how Label Studio interchange names the user)."""
    from rainset.labels.users import set_email  # heavy: sqlalchemy

    with edge():
        if (email is None) == (not clear):
            raise ConfigError("users set-email: give either an ADDRESS or --clear")
        with _session(store) as (_, s):
            result = set_email(s, name, email)
    emit(result, as_json)


@users_app.command("list")
def users_list(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List users, their roles, e-mails and whether they are disabled."""
    from rainset.labels.users import user_rows  # heavy: sqlalchemy

    with edge(), _session(store) as (_, s):
        rows = user_rows(s)
    if as_json:
        print_json({"users": [asdict(r) for r in rows]})
        return
    for r in rows:
        email = r.email or f"({r.identity})"
        out.print(f"{r.name:<24} {r.role:<10} {'disabled' if r.disabled else 'enabled':<9} {email:<32} {r.created_at}",
                  highlight=False)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="The user.")], store: StoreOpt = None,
                  as_json: JsonOpt = False) -> None:
    """Disable a user: their token and sessions stop working; their labels stay."""
    from rainset.labels.users import disable_user  # heavy: sqlalchemy

    with edge(), _session(store) as (_, s):
        user = disable_user(s, name)
    if as_json:
        print_json({"id": user.id, "name": user.name, "role": user.role, "disabled": True})
    else:
        out.print(f"disabled {user.name}", highlight=False)


@labels_app.command("export")
def labels_export(fmt: FormatOpt = "labelstudio",
                  output: Annotated[Optional[Path], typer.Option("--out", help="Write the tasks here "
                                                                 "(default: standard output).")] = None,
                  image_prefix: Annotated[str, typer.Option("--image-prefix", help="Put before each preview's "
                                                            "store-relative path, e.g. a URL serving the store.")] = "",
                  labelled_only: Annotated[bool, typer.Option("--labelled-only", help="Only captures with labels.")] = False,
                  predictions: Annotated[bool, typer.Option("--predictions/--no-predictions", help="Write each "
                                                            "capture's current rain-type suggestion as a Label "
                                                            "Studio prediction (a pre-annotation).")] = True,
                  config: Annotated[Optional[Path], typer.Option("--config", help="Also write Label Studio's "
                                                                 "labelling interface (XML) here.")] = None,
                  store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Export one Label Studio task per capture, with its current labels as annotations."""
    from rainset.labels.interchange import export_labelstudio, labelstudio_config  # heavy: sqlalchemy

    with edge():
        _check_format(fmt)
        if as_json and output is None:
            raise ConfigError("labels export --json needs --out FILE: the tasks go to the file, the summary to "
                              "standard output")
        with _session(store) as (st, s):
            tasks = export_labelstudio(s, st, image_prefix=image_prefix, labelled_only=labelled_only,
                                       predictions=predictions)
            text = json.dumps(tasks, indent=1, ensure_ascii=False) + "\n"  # not --json: the tasks file
            if config is not None:
                write_atomic(st, config.resolve(), labelstudio_config(_taxonomy(st)["taxonomy"]).encode("utf-8"))
            if output is None:
                sys.stdout.write(text)  # not --json: the tasks, to standard output
            else:
                write_atomic(st, output.resolve(), text.encode("utf-8"))
    n = sum(len(t["annotations"]) for t in tasks)
    n_pred = sum(len(t.get("predictions", ())) for t in tasks)
    if as_json:
        print_json({"tasks": len(tasks), "annotations": n, "predictions": n_pred, "out": str(output),
                    "config": None if config is None else str(config)})
    elif output is not None and not quiet:
        out.print(f"wrote {len(tasks)} tasks with {n} annotations and {n_pred} predictions to {output}",
                  highlight=False)


@labels_app.command("import")
def labels_import(path: Annotated[Path, typer.Argument(help="A Label Studio JSON export (list of tasks).")],
                  fmt: FormatOpt = "labelstudio",
                  as_user: Annotated[Optional[str], typer.Option("--as", help="Record every annotation as this "
                                                                 "existing user, ignoring completed_by.")] = None,
                  create_users: Annotated[bool, typer.Option("--create-users/--no-create-users",
                                                             help="Create users named by completed_by that do "
                                                             "not exist (as annotators; reviewers for "
                                                             "ground-truth annotations).")] = True,
                  user_map: Annotated[Optional[Path], typer.Option(
                      "--user-map", help="JSON object or CSV mapping Label Studio member ids (integer "
                      "completed_by) to rainset user names.", show_default=False)] = None,
                  store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Import Label Studio annotations as label rows (appended; nothing is overwritten)."""
    from rainset.labels.interchange import import_labelstudio  # heavy: sqlalchemy
    from rainset.labels.user_map import load_user_map  # heavy: sqlalchemy, through rainset.labels.users

    with edge():
        _check_format(fmt)
        members = None if user_map is None else load_user_map(user_map)
        try:
            tasks = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LabelError(f"{path}: cannot read Label Studio JSON: {exc}") from exc
        with _session(store) as (st, s):
            summary = import_labelstudio(s, tasks, as_user=as_user, create_users=create_users, user_map=members,
                                         **_taxonomy(st))
    emit(summary, as_json, quiet)


@labels_app.command("set")
def labels_set(label: Annotated[str, typer.Argument(help="The rain type, one of the store's taxonomy.")],
               where: Annotated[str, typer.Option("--where", help="Filter over capture columns (export's, plus path "
                                                  "and folder: docs/cli.md), e.g. \"folder like '%/clear/%'\".")],
               as_user: Annotated[str, typer.Option("--as", help="The existing user the labels are recorded as.")],
               attr: Annotated[Optional[list[str]], typer.Option("--attr", help="An attribute to add (repeatable): "
                                                                 "night, lens-droplets, splash.")] = None,
               overwrite: Annotated[bool, typer.Option("--overwrite", help="Also replace that user's own earlier, "
                                                       "different labels (default: keep them and count them).")] = False,
               store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Label every capture a filter matches at once, recorded as ordinary labels of one user."""
    from rainset.labels.bulk import set_labels  # heavy: sqlalchemy

    with edge(), _session(store) as (st, s):
        with progress_bar("label", not (quiet or as_json)) as bar:
            summary = set_labels(s, label, where, as_user, attributes=attr or (), overwrite=overwrite, progress=bar,
                                 **_taxonomy(st))
    if as_json:
        print_json(summary.to_dict())
    elif not quiet:
        kept = (f", {summary.kept} kept {as_user}'s own different label (--overwrite replaces them)"
                if summary.kept else "")
        replaced = f" ({summary.replaced} replacing {as_user}'s earlier label)" if summary.replaced else ""
        out.print(f"{summary.matched} captures matched: {summary.labelled} labelled {label!r} as {as_user}{replaced}, "
                  f"{summary.skipped} already were{kept}", highlight=False)


@labels_app.command("release")
def labels_release(user: Annotated[Optional[str], typer.Option("--user", help="Only this user's claims.")] = None,
                   older_than: Annotated[Optional[float], typer.Option("--older-than", help="Only claims made more "
                                                                       "than this many hours ago (0 to 876000).")] = None,
                   store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Free queue slots held without a label (e.g. by an annotator who left), so others can take them."""
    from rainset.labels.queue import release_claims  # heavy: sqlalchemy

    with edge():
        check_optional("--older-than", older_than, HOURS)
    with edge(), _session(store) as (_, s):
        n = release_claims(s, user=user, older_than_s=None if older_than is None else older_than * 3600)
    if as_json:
        print_json({"released": n})
    elif not quiet:
        out.print(f"released {n} unlabelled claim(s)", highlight=False)


@labels_app.command("agreement")
def labels_agreement(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Agreement between annotators: Krippendorff's alpha, confusion matrix, per-annotator speed and agreement."""
    from rainset.labels.agreement import agreement_report  # heavy: sqlalchemy

    with edge(), _session(store) as (_, s):
        report = agreement_report(s)
    emit(report, as_json)


@labels_app.command("review")
def labels_review(limit: Annotated[int, typer.Option("--limit", help="Show at most this many (0: all; at most 10^9).")] = 50,
                  store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """The review queue: captures whose labels disagree and that no reviewer has adjudicated."""
    from rainset.labels.agreement import review_list  # heavy: sqlalchemy

    with edge():
        LIMIT.check("--limit", limit)
    with edge(), _session(store) as (_, s):
        result = review_list(s, limit)
    emit(result, as_json)


def trusted_hosts(host: str, allowed: list[str] | None, origins: tuple[str, ...]) -> tuple[str, ...]:
    """The Host names the server answers: ``--allowed-host`` values, else the bind address (unless a
    wildcard), the loopback names and the hosts of ``--origin``."""
    if allowed:
        return tuple(allowed)
    from_origins = tuple(urlsplit(o).hostname or "" for o in origins)
    bound = () if host in WILDCARD else (host,)
    return tuple(dict.fromkeys(h for h in (*bound, *LOOPBACK_HOSTS, *from_origins) if h))


@annotate_app.command("serve")
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8080, store: StoreOpt = None, insecure_cookie: InsecureOpt = False,
          session_hours: HoursOpt = 12.0, log_level: LogOpt = "info", origin: OriginOpt = None,
          allowed_host: AllowedHostOpt = None, max_body: MaxBodyOpt = 1 << 20, tile_cache_mb: TileCacheOpt = 1024) -> None:
    """Serve the labelling web app (FastAPI + uvicorn) on HOST:PORT until Ctrl-C."""
    import uvicorn  # heavy: the ASGI server

    from rainset.annotate_ui.app import create_app  # heavy: fastapi, sqlalchemy

    origins = tuple(o.rstrip("/") for o in origin or ())
    with edge():
        SESSION_HOURS.check("--session-hours", session_hours)
        MAX_BODY.check("--max-body", max_body)
        TILE_CACHE_MB.check("--tile-cache-mb", tile_cache_mb)
        st = resolve_store(store, read_only_ok=True)  # a read-only store: the pages, no changes (503)
        settings = AppSettings(store=st, cookie_secure=not insecure_cookie, session_hours=session_hours,
                               allowed_origins=origins, allowed_hosts=trusted_hosts(host, allowed_host, origins),
                               max_body_bytes=max_body, tile_cache_bytes=tile_cache_mb << 20)
        web = create_app(settings)
    if host not in LOOPBACK_HOSTS:
        consequence = ("tokens and session cookies cross the network in clear" if insecure_cookie else
                       "browsers will not send the Secure session cookie over plain http")
        err.print(f"warning: listening on {host}, beyond this machine, over plain HTTP: put TLS in front (a reverse "
                  f"proxy, with --origin and --allowed-host); otherwise {consequence}", highlight=False)
    if host in WILDCARD and not allowed_host:
        err.print(f"warning: bound to every address; only Host {', '.join(settings.allowed_hosts)} is accepted: "
                  "name the server's public names with --allowed-host", highlight=False)
    if st.read_only:
        err.print(f"read-only store: {st.root}: serving the pages only; labelling, review decisions, users and "
                  "queue changes answer 503", highlight=False)
    err.print(f"serving {st.root} on http://{host}:{port}/ (Ctrl-C stops)", highlight=False)
    uvicorn.run(web, host=host, port=port, log_level=log_level, access_log=False)
