"""Tell an image format by its first bytes, then by its extension."""

from __future__ import annotations

from pathlib import PurePath

RAW_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".3fr", ".ari", ".arw", ".bay", ".cap", ".cr2", ".cr3", ".crw", ".dcr", ".dcs", ".dng",
        ".drf", ".eip", ".erf", ".fff", ".gpr", ".iiq", ".k25", ".kdc", ".mdc", ".mef", ".mos",
        ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef", ".ptx", ".pxn", ".r3d", ".raf", ".raw",
        ".rw2", ".rwl", ".rwz", ".sr2", ".srf", ".srw", ".sti", ".x3f",
    }
)  # fmt: skip
HEIF_BRANDS: frozenset[bytes] = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
# Magic numbers of RAW containers that are not plain TIFF.
_RAW_MAGICS: tuple[tuple[int, bytes], ...] = (
    (0, b"FUJIFILMCCD-RAW"),  # RAF
    (0, b"IIRO\x08\x00"),  # ORF
    (0, b"IIRS\x08\x00"),  # ORF
    (0, b"MMOR\x00\x00"),  # ORF big-endian
    (0, b"IIU\x00"),  # RW2 / RAW (Panasonic)
    (6, b"HEAPCCDR"),  # CRW
    (0, b"\x00MRM"),  # MRW
    (0, b"FOVb"),  # X3F
)


def _extension(name: str) -> str:
    return PurePath(name).suffix.lower()


def sniff_format(head: bytes, name: str) -> str:
    """Tell the image format from the first bytes of a file, then from its name.

    Args:
        head: the first bytes of the file (32 are enough).
        name: the file name; only its extension is used.

    Returns:
        ``jpeg``, ``png``, ``tiff``, ``raw``, ``heic`` or ``unknown``. TIFF-based RAWs (DNG,
        NEF, CR2, ...) are ``raw`` when their extension is a RAW one, and content with no known
        magic under a RAW extension is ``raw`` too (LibRaw decides).
    """
    is_raw_ext = _extension(name) in RAW_EXTENSIONS
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    for offset, magic in _RAW_MAGICS:
        if head[offset : offset + len(magic)] == magic:
            return "raw"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "raw" if is_raw_ext else "tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"crx ":
            return "raw"  # CR3
        if brand in HEIF_BRANDS:
            return "heic"
    if is_raw_ext:
        return "raw"
    return "unknown"
