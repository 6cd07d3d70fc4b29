"""Any image -> 28x28 MNIST-style array: formats, modes, polarity, transparency, errors, numbers."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digitrec import preprocess
from digitrec.preprocess import ImageError, to_mnist_array

from conftest import draw_digit


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _check_mnist_style(a: np.ndarray) -> None:
    assert a.shape == (28, 28) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0


def test_a_drawing_becomes_an_mnist_style_digit():
    a = to_mnist_array(draw_digit("7"))
    _check_mnist_style(a)
    assert a.max() == pytest.approx(1.0)
    rows, cols = np.flatnonzero(a.max(axis=1) > 0.05), np.flatnonzero(a.max(axis=0) > 0.05)
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert 19 <= max(height, width) <= 22  # fitted into the 20x20 box (plus antialiasing)
    cy, cx = _centre_of_mass(a)
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0
    zero = to_mnist_array(draw_digit("0"))  # a symmetric digit keeps MNIST's black margins
    assert zero[:3].max() == 0 and zero[-3:].max() == 0 and zero[:, :3].max() == 0 and zero[:, -3:].max() == 0


def _centre_of_mass(a):
    ys, xs = np.mgrid[0:28, 0:28]
    return (ys * a).sum() / a.sum(), (xs * a).sum() / a.sum()


def test_polarity_is_read_from_the_image():
    ink_on_paper = draw_digit("4")
    chalk_on_board = draw_digit("4", ink=230, paper=30)
    a, b = to_mnist_array(ink_on_paper, return_steps=True), to_mnist_array(chalk_on_board, return_steps=True)
    assert a.inverted and not b.inverted
    assert _corr(a.array, b.array) > 0.95


def test_transparency_is_flattened_onto_a_contrasting_background():
    reference = to_mnist_array(draw_digit("7"))
    for ink in (0, 255):  # black strokes and white strokes on a fully transparent canvas
        layer = draw_digit("7", ink=255, paper=0)  # the strokes as an alpha mask
        rgba = Image.new("RGBA", layer.size, (ink, ink, ink, 0))
        rgba.putalpha(layer)
        assert _corr(to_mnist_array(rgba), reference) > 0.95, ink


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"])
def test_every_file_format_reads_the_same(fmt):
    buf = io.BytesIO()
    draw_digit("0").convert("RGB").save(buf, format=fmt)
    assert _corr(to_mnist_array(buf.getvalue()), to_mnist_array(draw_digit("0"))) > 0.95


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
    assert _corr(to_mnist_array(image), to_mnist_array(base)) > 0.9, mode


@pytest.mark.parametrize(
    "array",
    [
        np.asarray(draw_digit("7")),  # uint8 HxW
        np.asarray(draw_digit("7"), np.float32) / 255.0,  # float 0-1
        np.asarray(draw_digit("7"), np.uint16) * 257,  # 16-bit
        np.asarray(draw_digit("7")) < 128,  # bool (True = ink)
        np.asarray(draw_digit("7").convert("RGB")),  # HxWx3
        np.asarray(draw_digit("7").convert("RGBA")),  # HxWx4
    ],
)
def test_arrays_of_any_dtype(array):
    _check_mnist_style(to_mnist_array(array))
    assert _corr(to_mnist_array(array), to_mnist_array(draw_digit("7"))) > 0.9


def test_an_mnist_digit_stays_itself(mnist):
    for i in range(20):
        original = mnist.x_test[i, ..., 0].astype(np.float32) / 255.0
        again = to_mnist_array(mnist.x_test[i, ..., 0])
        # The same digit, placed within a pixel of where MNIST put it (rounding of the centre of mass).
        best = max(_corr(np.roll(again, (dy, dx), axis=(0, 1)), original) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        assert best > 0.85, i


def test_shading_is_removed():
    digit = np.asarray(draw_digit("4", size=(400, 300)), np.float32) / 255.0
    light = np.linspace(0.35, 1.0, digit.shape[1])[None, :]  # one side of the page in shadow
    shaded = (digit * light * 255).astype(np.uint8)
    assert _corr(to_mnist_array(shaded), to_mnist_array(draw_digit("4", size=(400, 300)))) > 0.9


def test_a_small_digit_in_a_big_frame_and_thin_strokes():
    big = Image.new("L", (1600, 1200), 240)
    big.paste(draw_digit("7", size=(60, 45), width=2), (1300, 150))
    a = to_mnist_array(big)
    assert _corr(a, to_mnist_array(draw_digit("7"))) > 0.6  # the same 7, with a bolder stroke
    # A hair-thin stroke is thickened to MNIST's 2-3 pixels instead of fading away.
    assert (a > 0.5).sum() > 40


def test_steps_are_returned_for_inspection():
    pre = to_mnist_array(draw_digit("1"), return_steps=True)
    assert set(pre.steps) == {"grayscale", "ink_light", "background_removed", "ink_mask", "mnist"}
    assert pre.steps["mnist"] is pre.array and 0 < pre.ink_fraction < 0.2 and pre.contrast > 0.5
    # Without the images (what a service asks for): the same array and measures, no copies.
    lean = to_mnist_array(draw_digit("1"), return_steps=True, images=False)
    assert lean.steps == {} and np.array_equal(lean.array, pre.array)
    assert (lean.ink_fraction, lean.contrast, lean.components, lean.pieces, lean.holes, lean.inverted) == (
        pre.ink_fraction,
        pre.contrast,
        pre.components,
        pre.pieces,
        pre.holes,
        pre.inverted,
    )


def test_a_blank_page_has_no_ink():
    rng = np.random.default_rng(0)
    page = (rng.normal(230, 4, (300, 400))).clip(0, 255).astype(np.uint8)
    pre = to_mnist_array(page, return_steps=True)
    assert pre.ink_fraction == 0.0 and not pre.array.any()


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_bad_inputs_are_one_clear_error(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is a text file")
    buf = io.BytesIO()
    draw_digit("7").save(buf, format="PNG")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(20000, 20000))
    cases = {
        tmp_path / "missing.png": "no such file",
        tmp_path: "is a folder",
        text: "not an image",
        truncated: "broken or truncated",
        bomb: "too many pixels|too large",
    }
    for source, message in cases.items():
        with pytest.raises(ImageError, match=message):
            to_mnist_array(source)
    with pytest.raises(ImageError, match="not an image"):
        to_mnist_array(np.zeros((3, 3, 7)))
    with pytest.raises(ImageError, match="NaN"):
        to_mnist_array(np.full((10, 10), np.nan))


def test_segment_number_reads_left_to_right():
    row = Image.new("L", (900, 260), 235)
    for k, d in enumerate("1704"):
        row.paste(draw_digit(d, size=(200, 240)), (20 + 215 * k, 10))
    groups = preprocess.segment_number(row)
    assert len(groups) == 4 and all(len(alternatives[0]) == 1 for alternatives in groups)
    digits = [alternatives[0][0] for alternatives in groups]
    singles = [to_mnist_array(draw_digit(d, size=(200, 240))) for d in "1704"]
    for got, want in zip(digits, singles):
        assert _corr(got.array, want) > 0.85
    assert preprocess.segment_number(Image.new("L", (50, 50), 200)) == []


def test_number_alternatives_offer_cuts_for_wide_groups():
    zero = draw_digit("0", size=(400, 240))  # a round 0, 112 px wide, 154 px tall
    pair = Image.new("L", (600, 260), 235)
    pair.paste(zero, (0, 10))
    pair.paste(zero, (106, 10), mask=Image.eval(zero, lambda v: 255 - v))  # the second 0 touches the first
    groups = preprocess.segment_number(pair)
    assert len(groups) == 1 and len(groups[0]) >= 2  # one group of ink, read whole or cut in two
    assert [len(alt) for alt in groups[0]][:2] == [1, 2]


# ---------------------------------------------------------------- property-based

IMAGE_MODES = ["L", "RGB", "RGBA", "P", "1", "I;16", "LA"]


@st.composite
def random_images(draw):
    w = draw(st.integers(1, 120))
    h = draw(st.integers(1, 120))
    mode = draw(st.sampled_from(IMAGE_MODES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["noise", "flat", "strokes"]))
    if kind == "noise":
        gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
    elif kind == "flat":
        gray = np.full((h, w), draw(st.integers(0, 255)), np.uint8)
    else:
        gray = np.full((h, w), 255 if draw(st.booleans()) else 0, np.uint8)
        for _ in range(3):
            y, x = rng.integers(0, h), rng.integers(0, w)
            gray[max(0, y - 3) : y + 3, :] = 255 - gray[0, 0]
            gray[:, max(0, x - 3) : x + 3] = 255 - gray[0, 0]
    image = Image.fromarray(gray)
    if mode == "I;16":
        image = Image.fromarray(gray.astype(np.uint16) * 257)
    elif mode != "L":
        image = image.convert(mode)
    fmt = draw(st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "WEBP", None]))
    if fmt is None or (fmt in ("BMP", "GIF", "WEBP") and mode in ("I;16", "LA")):
        return image
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):
        return image
    return buf.getvalue()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_images())
def test_property_any_image_gives_a_valid_array(source):
    result = to_mnist_array(source)
    _check_mnist_style(result)


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=0, max_size=2000))
def test_property_garbage_bytes_give_a_clear_error_or_an_array(blob):
    try:
        result = to_mnist_array(blob)
    except ImageError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        _check_mnist_style(result)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=8, max_size=600), st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]))
def test_property_corrupted_real_files_never_crash(noise, fmt):
    buf = io.BytesIO()
    draw_digit("7", size=(64, 48)).convert("RGB").save(buf, format=fmt)
    data = bytearray(buf.getvalue())
    start = min(len(data) - 1, 20)
    data[start : start + len(noise)] = noise[: max(0, len(data) - start)]
    try:
        _check_mnist_style(to_mnist_array(bytes(data)))
    except ImageError:
        pass


def test_a_page_edge_along_the_border_is_not_the_digit():
    from PIL import ImageDraw

    photo = Image.new("L", (500, 400), 225)
    photo.paste(draw_digit("1", size=(120, 160), width=6, paper=225), (300, 150))
    ImageDraw.Draw(photo).polygon([(0, 0), (500, 0), (500, 30), (0, 90)], fill=120)  # the table beyond a tilted page
    alone = Image.new("L", (500, 400), 225)
    alone.paste(draw_digit("1", size=(120, 160), width=6, paper=225), (300, 150))
    assert _corr(to_mnist_array(photo), to_mnist_array(alone)) > 0.95


@pytest.mark.parametrize("angle", [-7, 7])
def test_the_soft_edge_beside_a_photo_corner_is_not_the_digit(angle):
    """A tilted photo of a page in shadow: the empty corner is lighter than the shaded paper, so
    the paper next to it looks like faint ink, and that band is bigger than a thin pen digit. It
    has hardly any strong ink, so it is not taken for the digit (it was, before)."""
    from PIL import ImageFilter

    page = Image.new("L", (480, 360), 230)
    page.paste(draw_digit("7", size=(110, 150), width=4, paper=230, ink=25), (300, 40))
    light = 1.0 - 0.6 * np.linspace(0, 1, 360)[:, None]  # darker towards the bottom
    shaded = Image.fromarray((np.asarray(page, np.float32) * light).astype(np.uint8))
    photo = shaded.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=200).filter(ImageFilter.GaussianBlur(1))
    plain = page.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=230).filter(ImageFilter.GaussianBlur(1))
    # The same 7 (its shaded end fainter); the band instead gave a correlation under 0.1.
    assert _corr(to_mnist_array(photo), to_mnist_array(plain)) > 0.6


def test_a_straight_thin_one_is_thickened_like_any_stroke():
    """A ruler-straight 1 fills its own box, so there is no edge inside the box to measure the
    stroke from: it was read as tens of pixels wide and left hair-thin in the 28x28 image."""
    page = Image.new("L", (400, 400), 235)
    page.paste(0, (200, 50, 203, 350))  # 3 pixels wide, 300 tall
    a = to_mnist_array(page)
    assert preprocess._stroke_width(np.ones((300, 3), bool)) == 3.0
    assert (a.max(axis=0) > 0.5).sum() >= 2  # at least two columns of ink, as MNIST's 1s have
    assert (a.max(axis=1) > 0.5).sum() >= 19  # and the full height of the 20x20 box


def test_a_large_jpeg_is_decoded_at_a_reduced_size():
    photo = Image.new("L", (2400, 1800), 230)
    photo.paste(draw_digit("4", size=(1200, 900), width=60, paper=230, ink=30), (600, 450))
    data = io.BytesIO()
    photo.convert("RGB").save(data, "JPEG", quality=90)
    jpeg = data.getvalue()
    assert preprocess.load_image(jpeg).size == (2400, 1800)  # whole, unless asked
    assert preprocess.load_image(jpeg, draft=preprocess.WORK_SIZE).size == (600, 450)  # a quarter: >= 512
    png = io.BytesIO()
    photo.save(png, "PNG")
    assert preprocess.load_image(png.getvalue(), draft=preprocess.WORK_SIZE).size == (2400, 1800)  # PNGs cannot
    assert _corr(to_mnist_array(jpeg), to_mnist_array(photo)) > 0.95


def test_a_colour_jpeg_can_be_decoded_to_its_luminance_alone():
    rng = np.random.default_rng(3)
    colour = Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1))
    data = io.BytesIO()
    colour.save(data, "JPEG", quality=90)
    whole = preprocess.load_image(data.getvalue())
    gray = preprocess.load_image(data.getvalue(), gray=True)
    assert whole.mode == "RGB" and gray.mode == "L" and gray.size == whole.size
    diff = np.abs(np.asarray(gray, np.int16) - np.asarray(whole.convert("L"), np.int16))
    # Rounding, and saturated colours that the RGB decode clips: not another picture.
    assert diff.mean() < 0.2 and (diff > 2).mean() < 0.01
    small = preprocess.load_image(data.getvalue(), draft=100, gray=True)  # both at once
    assert small.mode == "L" and small.size == (160, 120)  # a quarter: the longer side still >= 100


def _exact_stroke_width(mask: np.ndarray) -> float:
    """The stroke width by brute force: squared distances to the nearest background pixel."""
    zy, zx = np.nonzero(~mask)
    yy, xx = np.nonzero(mask)
    squared = np.zeros(mask.shape)
    squared[yy, xx] = ((yy[:, None] - zy[None]) ** 2 + (xx[:, None] - zx[None]) ** 2).min(axis=1)
    pad = np.pad(squared, 1, constant_values=-1)
    around = np.max(
        [pad[1 + dy : pad.shape[0] - 1 + dy, 1 + dx : pad.shape[1] - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
        axis=0,
    )
    return float(2 * np.median(np.sqrt(squared[(squared >= around) & mask])))


def test_the_stroke_width_is_exact_and_the_same_every_time():
    """OpenCV's exact distance transform varies in its last bits from call to call
    (opencv/opencv#24082), enough to change which pixels tie for the stroke's ridge: the width
    that decides the thickening must be the exact one, every time."""
    from PIL import ImageDraw

    rng = np.random.default_rng(0)
    for _ in range(20):
        image = Image.new("L", (90, 90), 0)
        ImageDraw.Draw(image).line(
            [tuple(rng.integers(5, 85, 2).tolist()) for _ in range(4)],
            fill=255,
            width=int(rng.integers(4, 14)),
            joint="curve",
        )
        mask = np.asarray(image) > 0
        assert preprocess._stroke_width(mask) == _exact_stroke_width(mask)


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation():
    upright = draw_digit("7", size=(300, 220))
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor wrote it
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view"
    data = io.BytesIO()
    sideways.save(data, "JPEG", quality=95, exif=exif)
    image = preprocess.load_image(data.getvalue())
    assert image.size == (300, 220)
    assert _corr(to_mnist_array(data.getvalue()), to_mnist_array(upright)) > 0.9
    assert _corr(to_mnist_array(sideways), to_mnist_array(upright)) < 0.5  # without the tag it would be a sideways 7


@pytest.mark.parametrize("connectivity", [8, 4])
def test_pieces_have_the_boxes_and_sizes_scipy_finds(connectivity):
    """The OpenCV labelling with boxes and sizes taken from the labelled pixels agrees with
    scipy.ndimage, which the preprocessing used before, piece by piece."""
    from scipy import ndimage

    rng = np.random.default_rng(1)
    structure = np.ones((3, 3)) if connectivity == 8 else None  # scipy's default is 4-connected
    for _ in range(10):
        mask = ndimage.binary_opening(rng.random((60, 80)) > 0.55) | (rng.random((60, 80)) > 0.97)
        labels, count = ndimage.label(mask, structure=structure)
        expected = sorted(
            (box, int((labels[box] == i + 1).sum())) for i, box in enumerate(ndimage.find_objects(labels))
        )
        pieces = preprocess._Pieces.of(mask, connectivity=connectivity)
        got = sorted((pieces.box(i), int(pieces.sizes[i - 1])) for i in range(1, pieces.count + 1))
        assert pieces.count == count and got == expected
        sizes_only = preprocess._Pieces.of(mask, connectivity=connectivity, boxes=False)
        assert sorted(sizes_only.sizes.tolist()) == sorted(size for _, size in expected)
