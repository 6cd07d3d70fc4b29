"""Reading images: any path, encoded bytes, PIL image or array as a PIL image (refusing
decompression bombs), its grayscale levels, and arrays back to images. No TensorFlow here."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitrec.errors import DigitrecError

ImageSource = str | os.PathLike | bytes | bytearray | Image.Image | np.ndarray

# A 20,000 x 20,000 image is 400 M pixels: far beyond any photo of a digit. Refuse it before
# decoding (Pillow reads the size from the header), so a small file cannot exhaust memory.
MAX_PIXELS = 40_000_000

# The files a folder of images is read for, and the app's Open dialog offers.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")


class ImageError(DigitrecError):
    """An input that is not a readable image (missing, not an image, truncated, too large)."""


def load_image(
    source: ImageSource, max_pixels: int = MAX_PIXELS, draft: int | None = None, gray: bool = False
) -> Image.Image:
    """Open any supported input as a decoded PIL image, with one clear error when it cannot be
    (see `load_image_sized`)."""
    return load_image_sized(source, max_pixels, draft, gray)[0]


def load_image_sized(
    source: ImageSource, max_pixels: int = MAX_PIXELS, draft: int | None = None, gray: bool = False
) -> tuple[Image.Image, int]:
    """Open any supported input as a decoded PIL image, with one clear error when it cannot be,
    and the longer side of the image as stored (before a reduced decode).

    Images of more than `max_pixels` pixels are refused from their header, before decoding.
    With `draft`, a JPEG at least twice that size on its longer side is decoded at a half, a
    quarter or an eighth of its size (libjpeg scales while decoding, several times faster than
    decoding it whole), never below `draft` pixels on that side. With `gray`, a colour JPEG is
    decoded to its luminance channel only, in half the time: the values of converting the colour
    image to "L" but for rounding and for saturated colours, which decoding to RGB clips (every
    figure of the realistic benchmark is the same either way).
    """
    if isinstance(source, Image.Image):
        if source.width * source.height > max_pixels:
            raise ImageError(f"a {source.width}x{source.height} image is too large (limit {max_pixels:,} pixels)")
        return source, max(source.size)
    if isinstance(source, np.ndarray):
        image = _array_to_image(source, max_pixels)
        return image, max(image.size)
    stream: io.BytesIO | Path
    if isinstance(source, (bytes, bytearray)):
        stream, name, empty = io.BytesIO(bytes(source)), "the image data", not source
    else:
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{path}: no such file")
        if path.is_dir():
            raise ImageError(f"{path}: is a folder, not an image")
        stream, name, empty = path, str(path), path.is_file() and path.stat().st_size == 0
    if empty:  # a download or a copy that failed: say so, not "not an image"
        raise ImageError(f"{name}: empty (0 bytes), not an image")
    try:
        with Image.open(stream) as image:
            if image.width * image.height > max_pixels:
                raise ImageError(f"{name}: {image.width}x{image.height} pixels is too large (limit {max_pixels:,})")
            image.seek(0)  # the first frame of a GIF/TIFF/WebP animation
            longer = max(image.size)
            if image.format == "JPEG" and ((draft and longer >= 2 * draft) or (gray and image.mode == "RGB")):
                size = image.size
                if draft and longer >= 2 * draft:
                    size = (-(-image.width * draft // longer), -(-image.height * draft // longer))
                image.draft("L" if gray and image.mode == "RGB" else image.mode, size)
            image.load()
            # Phone photos carry their rotation in EXIF. The answer is a copy either way, free of the file.
            turned = ImageOps.exif_transpose(image)
            return (turned if turned is not None else image.copy()), longer
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: too many pixels to decode safely (limit {max_pixels:,})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise ImageError(
            f"{name}: broken or truncated image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None


def _array_to_image(array: np.ndarray, max_pixels: int = MAX_PIXELS) -> Image.Image:
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or a.size == 0:
        raise ImageError(f"an array of shape {a.shape} is not an image (need HxW, HxWx1, HxWx3 or HxWx4)")
    if a.shape[0] * a.shape[1] > max_pixels:
        raise ImageError(f"an array of {a.shape[0]}x{a.shape[1]} pixels is too large (limit {max_pixels:,})")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        peak = white(a, "the image array")
        a = (np.clip(a, 0, peak).astype(np.float64) / peak * 255).astype(np.uint8)
    return Image.fromarray(a)


def white(values: np.ndarray, what: str) -> float:
    """The value of full white in an image of other than 8-bit levels: 1 for floats up to 1 (as
    numpy and scikit-image write them), 65535 for anything over 255 (16-bit), else 255."""
    floats = np.issubdtype(values.dtype, np.floating)
    if floats and not np.isfinite(values).all():
        raise ImageError(f"{what} holds NaN or infinity")
    top = values.max(initial=0)
    return 1.0 if floats and top <= 1.0 else 65535.0 if top > 255 else 255.0


_LEVELS = np.arange(256, dtype=np.float32) / 255.0


def to_grayscale(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance in [0, 1] as float32, and the alpha channel in [0, 1] if the image has one."""
    alpha = None
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image)  # int32, uint16 or float32
        peak = 65535.0 if image.mode.startswith("I;16") else white(values, "the image")
        gray: np.ndarray = np.clip(values / peak, 0, 1).astype(np.float32)
    elif image.mode == "1":
        gray = np.asarray(image, dtype=np.float32)
    else:
        levels = np.asarray(image if image.mode == "L" else image.convert("L"))
        gray = cv2.LUT(levels, _LEVELS)  # float32(v) / 255 for each of the 256 levels, in one pass
    return gray, alpha


def to_image(array: np.ndarray, scale: int = 1) -> Image.Image:
    """A (28, 28) array in [0, 1] as an 8-bit grayscale PIL image, optionally magnified."""
    image = Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8))
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST) if scale > 1 else image
