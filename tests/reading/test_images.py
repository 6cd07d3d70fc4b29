"""images: reading any path, bytes, PIL image or array; formats, modes, JPEG draft decoding, EXIF."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from digitrec.reading import images, ink
from digitrec.reading.preprocess import to_mnist_array
from tests.support.helpers import corr, draw_digit


def test_an_empty_file_is_called_empty_not_unreadable(tmp_path):
    empty = tmp_path / "download.png"
    empty.write_bytes(b"")
    for source, name in ((empty, str(empty)), (b"", "the image data")):
        with pytest.raises(images.ImageError) as caught:
            images.load_image(source)
        assert str(caught.value) == f"{name}: empty (0 bytes), not an image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"])
def test_every_file_format_reads_the_same(fmt):
    buf = io.BytesIO()
    draw_digit("0").convert("RGB").save(buf, format=fmt)
    assert corr(to_mnist_array(buf.getvalue()), to_mnist_array(draw_digit("0"))) > 0.95


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "I;16", "1", "LA", "I", "F"])
def test_every_image_mode_reads_the_same(mode):
    base = draw_digit("1", size=(200, 260))
    if mode == "I;16":
        image = Image.fromarray(np.asarray(base, np.uint16) * 257)
    elif mode in ("I", "F"):
        image = base.convert(mode)
    elif mode == "1":
        image = base.point(lambda v: 255 if v > 128 else 0).convert("1")  # a bilevel scan, not dithered
    else:
        image = base.convert(mode)
    assert corr(to_mnist_array(image), to_mnist_array(base)) > 0.9, mode


def test_a_float_image_in_0_to_1_reads_as_one_in_0_to_255():
    """A 32-bit float TIFF as numpy and scikit-image write it (0-1) read as all dark before."""
    base = draw_digit("1", size=(200, 260))
    unit = Image.fromarray(np.asarray(base, np.float32) / 255.0)  # mode F, 0-1
    assert unit.mode == "F" and corr(to_mnist_array(unit), to_mnist_array(base)) > 0.99
    tiff = io.BytesIO()
    unit.save(tiff, format="TIFF")
    assert corr(to_mnist_array(tiff.getvalue()), to_mnist_array(base)) > 0.99
    holed = np.asarray(base, np.float32).copy()
    holed[5, 5] = np.nan
    with pytest.raises(images.ImageError, match="NaN or infinity"):
        to_mnist_array(Image.fromarray(holed))


def test_a_large_jpeg_is_decoded_at_a_reduced_size():
    photo = Image.new("L", (2400, 1800), 230)
    photo.paste(draw_digit("4", size=(1200, 900), width=60, paper=230, ink=30), (600, 450))
    data = io.BytesIO()
    photo.convert("RGB").save(data, "JPEG", quality=90)
    jpeg = data.getvalue()
    assert images.load_image(jpeg).size == (2400, 1800)  # whole, unless asked
    assert images.load_image(jpeg, draft=ink.WORK_SIZE).size == (600, 450)  # a quarter: >= 512
    png = io.BytesIO()
    photo.save(png, "PNG")
    assert images.load_image(png.getvalue(), draft=ink.WORK_SIZE).size == (2400, 1800)  # PNGs cannot
    assert corr(to_mnist_array(jpeg), to_mnist_array(photo)) > 0.95


def test_a_colour_jpeg_can_be_decoded_to_its_luminance_alone():
    rng = np.random.default_rng(3)
    colour = Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1))
    data = io.BytesIO()
    colour.save(data, "JPEG", quality=90)
    whole = images.load_image(data.getvalue())
    gray = images.load_image(data.getvalue(), gray=True)
    assert whole.mode == "RGB" and gray.mode == "L" and gray.size == whole.size
    diff = np.abs(np.asarray(gray, np.int16) - np.asarray(whole.convert("L"), np.int16))
    # Rounding, and saturated colours that the RGB decode clips: not another picture.
    assert diff.mean() < 0.2 and (diff > 2).mean() < 0.01
    small = images.load_image(data.getvalue(), draft=100, gray=True)  # both at once
    assert small.mode == "L" and small.size == (160, 120)  # a quarter: the longer side still >= 100


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation():
    upright = draw_digit("7", size=(300, 220))
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor wrote it
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view"
    data = io.BytesIO()
    sideways.save(data, "JPEG", quality=95, exif=exif)
    image = images.load_image(data.getvalue())
    assert image.size == (300, 220)
    assert corr(to_mnist_array(data.getvalue()), to_mnist_array(upright)) > 0.9
    assert corr(to_mnist_array(sideways), to_mnist_array(upright)) < 0.5  # without the tag it would be a sideways 7
