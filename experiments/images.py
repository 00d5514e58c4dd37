"""Checking stimulus image files: decodable, an allowed format, not a decompression bomb."""

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP"}
MAX_PIXELS = 40_000_000  # 40 MP: far above any generated image, far below a bomb


class ImageProblem(ValueError):
    """The file is not a usable stimulus image; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str  # "PNG", "JPEG" or "WEBP"
    sha256: str


def inspect_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Decode the image fully (verify, then load) and return its size, format and hash."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if fmt not in ALLOWED_FORMATS:
                    raise ImageProblem(f"format {fmt or 'unknown'} is not allowed (PNG, JPEG or WebP)")
                if width * height > max_pixels:
                    raise ImageProblem(f"{width}x{height} pixels exceeds the limit of {max_pixels:,} pixels")
                probe.verify()
            with Image.open(io.BytesIO(data)) as img:
                img.load()
    except ImageProblem:
        raise
    except UnidentifiedImageError:
        raise ImageProblem("not a readable image (not a PNG, JPEG or WebP file)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem(f"decompression bomb refused: {exc}") from None
    except Exception as exc:  # Pillow raises many types for broken files
        raise ImageProblem(f"not a readable image ({type(exc).__name__}: {exc})") from None
    return ImageInfo(width=width, height=height, format=fmt, sha256=hashlib.sha256(data).hexdigest())
