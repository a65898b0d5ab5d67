"""local URIs that cannot collide: backslashes doubled (undecodable bytes stay \\xNN)

Before, a local path was stored as its UTF-8 text with undecodable bytes written ``\\xNN``
(``backslashreplace``) and backslashes as they were, so ``img\\xff.jpg`` could be the byte 0xFF or
a literal backslash. Each stored local URI holding a backslash is rewritten to the new form
(rainset.local_uri): when exactly one reading names an existing file, that one; otherwise the byte
reading when the URI holds an ``\\xNN`` escape of a byte 0x80-0xFF (the only bytes
``backslashreplace`` wrote), else the literal one. ``files.source_dir`` and ``files.stem`` follow.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""
import os
import re

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_OLD_ESCAPE = re.compile(r"\\x([89a-f][0-9a-f])")


def path_to_uri(raw: bytes) -> str:
    """The new form, frozen here as this revision defines it (rainset.local_uri.path_to_uri today)."""
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        if ch == "\\":
            out.append("\\\\")
        elif "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _old_readings(uri: str) -> tuple[bytes, bytes]:
    """(byte reading, literal reading) of a URI in the old form."""
    literal = uri.encode("utf-8")
    as_bytes = bytearray()
    pos = 0
    for m in _OLD_ESCAPE.finditer(uri):
        as_bytes += uri[pos:m.start()].encode("utf-8") + bytes([int(m.group(1), 16)])
        pos = m.end()
    as_bytes += uri[pos:].encode("utf-8")
    return bytes(as_bytes), literal


def new_uri(old: str) -> str:
    """The new-form URI of an old-form local URI (see the module docstring)."""
    as_bytes, literal = _old_readings(old)
    exists = [r for r in dict.fromkeys((as_bytes, literal)) if os.path.lexists(r)]
    chosen = exists[0] if len(exists) == 1 else (as_bytes if as_bytes != literal else literal)
    return path_to_uri(chosen)


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def upgrade() -> None:
    bind = op.get_bind()
    files = sa.table('files', sa.column('id', sa.Integer), sa.column('uri', sa.Text),
                     sa.column('source_dir', sa.Text), sa.column('stem', sa.Text))
    rejects = sa.table('rejects', sa.column('id', sa.Integer), sa.column('uri', sa.Text))
    like = sa.literal('%') + sa.literal('\\') + sa.literal('%')
    for row in bind.execute(sa.select(files.c.id, files.c.uri).where(files.c.uri.like(like, escape='!'))).all():
        if not row.uri.startswith('/'):
            continue  # URLs keep their own escaping
        uri = new_uri(row.uri)
        folder, name = os.path.split(uri)
        bind.execute(files.update().where(files.c.id == row.id).values(uri=uri, source_dir=folder, stem=_stem(name).lower()))
    for row in bind.execute(sa.select(rejects.c.id, rejects.c.uri).where(rejects.c.uri.like(like, escape='!'))).all():
        if row.uri.startswith('/'):
            bind.execute(rejects.update().where(rejects.c.id == row.id).values(uri=new_uri(row.uri)))


def downgrade() -> None:
    pass  # the new form is unambiguous; the old one cannot be restored without losing that
