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


VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi"})
# ISO-BMFF boxes an old QuickTime file may start with instead of ``ftyp``
_QT_ATOMS: frozenset[bytes] = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


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


def sniff_video(head: bytes, name: str = "") -> str | None:
    """Tell a video container from the first bytes of a file (12 are enough), then from its name.

    Returns:
        ``mp4`` (ISO-BMFF: MP4, M4V, 3GP), ``mov`` (QuickTime), ``mkv`` (Matroska, WebM) or ``avi``;
        None when the bytes are no video container. HEIF and CR3 (``ftyp`` too) are not videos.
        Bytes that match nothing under a video extension give None as well: the caller decides
        (ingest tries to open them, so that random bytes named ``.mp4`` become a decode reject).
    """
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in HEIF_BRANDS or brand == b"crx " or brand in (b"avif", b"avis"):
            return None
        return "mov" if brand == b"qt  " else "mp4"
    if head[4:8] in _QT_ATOMS and _extension(name) in (".mov", ".qt", ".mp4", ".m4v"):
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def has_video_extension(name: str) -> bool:
    """True for the extensions of the containers ingest reads (MP4, MOV, MKV/WebM, AVI)."""
    return _extension(name) in VIDEO_EXTENSIONS
