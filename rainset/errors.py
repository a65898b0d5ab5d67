"""Exceptions raised by the rainset library.

Library code raises these with a message that names the file (or store) and the reason;
only ``rainset.cli`` turns them into exit codes and one-line messages.
"""

from __future__ import annotations

import re

# Reject reasons recorded in the catalog's ``rejects`` table. Scripts read them: keep them stable.
REJECT_REASONS: dict[str, str] = {
    "unsupported-format": "not an image or video format rainset reads (by content and extension)",
    "missing-decoder": "a format that needs an optional extra that is not installed (e.g. HEIC: rainset[heif])",
    "empty-file": "zero bytes",
    "truncated": "the file ends before its image data does (or holds metadata only)",
    "decode-failed": "the decoder could not read the image data",
    "blank-frame": "decoded to a blank, constant or mostly-zero frame",
    "too-large": "the header declares more pixels than max_pixels, or a decoded size above max_decode_bytes",
    "unreadable": "the file could not be opened or read (permissions, dangling link, I/O error)",
    "not-a-regular-file": "a FIFO, socket or device: never read",
    "worker-died": "the worker process died on this file twice (killed by a signal, e.g. the OOM killer)",
}

_OBJECT_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of an exception, with object reprs (``<_io.BytesIO object at 0x7f…>``) made plain.

    Reject details and warnings are stored and compared across runs: a memory address would make
    them differ on every run and means nothing to a reader.
    """

    def plain(m: re.Match[str]) -> str:
        kind = m.group(1).rsplit(".", 1)[-1]
        return "the file data" if kind in ("BytesIO", "BufferedReader", "FileIO") else f"a {kind} object"

    return f"{type(exc).__name__}: {_OBJECT_REPR.sub(plain, str(exc))}"


class RainsetError(Exception):
    """Base class of every error the library raises on purpose."""


class StoreError(RainsetError):
    """A store is missing, already exists, is locked, or is malformed."""


class CatalogError(RainsetError):
    """The catalog database cannot be opened, migrated or written."""


class ConfigError(RainsetError):
    """A setting or command-line option has an invalid value."""


class SourceError(RainsetError):
    """An ingest source (folder, file, URL) cannot be listed at all."""


class RejectError(RainsetError):
    """One input file cannot become a capture; it becomes a ``rejects`` row instead.

    Attributes:
        reason: one of ``REJECT_REASONS``.
        detail: a human sentence saying what exactly was wrong.
        path: the file, when known where the error is raised.
    """

    def __init__(self, reason: str, detail: str, path: str | None = None) -> None:
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        self.reason = reason
        self.detail = detail
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{reason}: {detail}")

    def with_path(self, path: str) -> "RejectError":
        """Return the same error naming ``path``."""
        return RejectError(self.reason, self.detail, path)


class DedupeError(RainsetError):
    """Dedupe or grouping cannot proceed (unknown capture in a correction, bad threshold, …)."""


class LabelError(RainsetError):
    """A label, queue or interchange operation cannot proceed (a removed capture, a disabled user, …).

    Raised as is when none of the subclasses below fits; the web app answers it with 400 and
    each subclass with its own status (``rainset.annotate_ui.app.LABEL_ERROR_STATUS``).
    """


class InvalidInputError(LabelError):
    """A value given to a label operation is malformed or outside its vocabulary (rain type, attribute, role, …)."""


class NotFoundError(LabelError):
    """A capture, user, tile or preview named by a label operation does not exist."""


class NotInQueueError(LabelError):
    """An annotator acts on a capture that is not in their queue."""


class AlreadyExistsError(LabelError):
    """A label operation would create something that exists already (a user name is taken)."""


class ReadOnlyStoreError(LabelError):
    """A label operation would write to a store that is open read-only (the web app on a read-only store)."""


class AuthError(RainsetError):
    """A token or session is missing, invalid, or lacks the role needed."""


class FilterError(RainsetError):
    """A ``--where`` expression is not a filter over known columns."""


class ManifestError(RainsetError):
    """A manifest version cannot be exported, read or compared (exists already, missing, damaged)."""


class TrainError(RainsetError):
    """Training, evaluation or inference cannot proceed (bad config, bad checkpoint, no images)."""


class ShardsError(RainsetError):
    """Shards cannot be built or checked (missing or undecodable original, existing name, damaged shard)."""


class PairsError(RainsetError):
    """A pair set cannot be built, read or removed (bad or taken name, no video selected, unknown method)."""


class TypingError(RainsetError):
    """A blind typing file cannot be scored against its key (a name missing, unknown or typed twice)."""
