"""Non-digit images, made here and offline, for a model to learn to turn them away.

Latin letters and symbols come from the six Debian handwriting font packages the Makefile
installs (`FONT_DIRS`), kana and kanji from KanjiVG's stroke drawings (the `kanjivg` wheel on
PyPI); Greek and Cyrillic letters (those fonts have none), shapes and scribbles are drawn here.
Each glyph is drawn as a pen would draw it (a random size, pen width, slant and stretch), laid
on paper with uneven light and noise, and put through the same `preprocess.to_mnist_array` as any
user's image: the 28x28 arrays a model sees.
Nothing else (no other font, no other strokes) is used, so a benchmark can hold out the rest.

Glyphs written like digits are never negatives (`DIGIT_LIKE`): Latin O o D Q (0), I i l j (1),
Z z (2), S s (5), b G (6), B (8), g q (9); their Greek and Cyrillic twins; KanjiVG's own digits,
the kanji numerals and 〇, and kana drawn like a digit or a single stroke. No TensorFlow here.
"""

from __future__ import annotations

import re
import sysconfig
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from digitrec.errors import DigitrecError
from digitrec.training import strokes

# The six handwriting font packages (Makefile: FONT_PACKAGES) and nothing else.
FONT_DIRS = (
    "/usr/share/fonts/truetype/fifthhorseman",
    "/usr/share/fonts/truetype/breip",
    "/usr/share/fonts/truetype/femkeklaver",
    "/usr/share/fonts/truetype/humor-sans",
    "/usr/share/fonts/opentype/comic-neue",
    "/usr/share/fonts/opentype/bwht",
)
KANJIVG_INSTALL = "pip install kanjivg (make setup installs it)"

# Written like a digit: never used as a negative.
DIGIT_LIKE = frozenset(
    "OoDQIiljZzSsbGBgq"  # Latin
    "ΟοΙιΒβΖζΘθσςδτ"  # Greek
    "ОоЗзБбЧчІіЅѕВвЬьЪъд"  # Cyrillic
    "0123456789０１２３４５６７８９"  # digits themselves
    "〇一二三四五六七八九十百千"  # kanji numerals
    "ノへヘーしレろるワヮフエロ口|/\\()[]{}"  # kana and marks drawn like a digit or one stroke
)
LATIN = "".join(c for c in "ABCEFHJKLMNPRTUVWXYacdefhkmnprtuvwxyz" if c not in DIGIT_LIKE)


GREEK = "".join(strokes.GREEK_STROKES)
CYRILLIC = "".join(strokes.CYRILLIC_STROKES)
SYMBOLS = "+=%#@&?!*$€£¥§<>×÷"
FAMILIES = ("latin", "greek", "cyrillic", "symbol", "kana", "kanji", "shape", "scribble")
FONT_FAMILIES = ("latin", "symbol")  # drawn from the handwriting fonts
# For training, kana (short, simple strokes, the likeliest to pass for a digit) come three times
# in each round of families and Latin letters twice.
TRAINING_MIX = (*FAMILIES, "kana", "kana", "latin")


@dataclass
class Negatives:
    """Non-digit images: (N, 28, 28) uint8 MNIST-style arrays, and what each one shows."""

    images: np.ndarray
    families: list[str]
    glyphs: list[str]


def fonts() -> list[Path]:
    """The handwriting font files present (those of `FONT_DIRS`)."""
    found: list[Path] = []
    for folder in FONT_DIRS:
        if Path(folder).is_dir():
            found += sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".ttf", ".otf"))
    return found


def kanjivg_dir() -> Path:
    """The folder of KanjiVG's SVG files (one per character, named by its code point)."""
    for root in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        folder = Path(root) / "kanji"
        if (folder / "03042.svg").is_file():
            return folder
    raise DigitrecError(f"KanjiVG's stroke drawings are not installed: {KANJIVG_INSTALL}")


@cache
def _kanjivg_characters() -> dict[str, list[str]]:
    """KanjiVG's characters by family (kana, kanji), digit-like ones left out."""
    out: dict[str, list[str]] = {"kana": [], "kanji": []}
    for path in sorted(kanjivg_dir().glob("?????.svg")):
        char = chr(int(path.stem, 16))
        if char in DIGIT_LIKE:
            continue
        if 0x3041 <= ord(char) <= 0x30FA:
            out["kana"].append(char)
        elif 0x4E00 <= ord(char) <= 0x9FFF:
            out["kanji"].append(char)
    return out


def _svg_strokes(char: str) -> list[list[tuple[float, float]]]:
    """The strokes of one KanjiVG character as polylines in its 109x109 box (curves flattened)."""
    text = (kanjivg_dir() / f"{ord(char):05x}.svg").read_text(encoding="utf-8")
    return [strokes.path_points(d) for d in re.findall(r'<path[^>]* d="([^"]+)"', text)]


def has_glyph(face: ImageFont.FreeTypeFont, char: str) -> bool:
    """Whether the font draws `char` (a glyph with ink, not the box of the font's missing glyph)."""
    box = face.getmask(char).getbbox()
    return box is not None and (box != face.getmask("\U0010fffd").getbbox() or char == "\U0010fffd")


def _font_glyph(char: str, font: Path, size: int) -> np.ndarray | None:
    """`char` in `font`, or None where the font lacks it."""
    face = ImageFont.truetype(str(font), size=size)
    if not has_glyph(face, char):
        return None
    left, top, right, bottom = face.getbbox(char)
    canvas = Image.new("L", (int(right - left) + 20, int(bottom - top) + 20), 0)
    ImageDraw.Draw(canvas).text((10 - left, 10 - top), char, fill=255, font=face)
    return np.asarray(canvas, np.float32) / 255.0


def _glyph(family: str, rng: np.random.Generator, font_files: list[Path]) -> tuple[np.ndarray, str]:
    """One ink mask (float, ink 1) of `family`, and what it shows."""
    size = int(rng.integers(90, 200))
    width = max(2, int(size * rng.uniform(0.03, 0.10)))
    if family in ("greek", "cyrillic"):
        table = strokes.GREEK_STROKES if family == "greek" else strokes.CYRILLIC_STROKES
        char = list(table)[int(rng.integers(len(table)))]
        pen = strokes.PENS[int(rng.integers(len(strokes.PENS)))]
        return strokes.draw_strokes(strokes.wobble(table[char], rng), 1.0, size, width, pen), char
    if family in ("latin", "symbol"):
        chars = LATIN if family == "latin" else SYMBOLS
        for _ in range(20):  # a font that has the character
            char = chars[int(rng.integers(len(chars)))]
            mask = _font_glyph(char, font_files[int(rng.integers(len(font_files)))], size)
            if mask is not None:
                return mask, char
        raise DigitrecError(f"no handwriting font has {family} characters: install {', '.join(FONT_DIRS)}")
    if family in ("kana", "kanji"):
        chars_kvg = _kanjivg_characters()[family]
        char = chars_kvg[int(rng.integers(len(chars_kvg)))]
        pen = strokes.PENS[int(rng.integers(len(strokes.PENS)))]
        lines = strokes.vary(_svg_strokes(char), 109, rng)
        return strokes.draw_strokes(lines, 109, size, max(2, int(width * 0.8)), pen), char
    if family == "shape":
        kind = strokes.SHAPES[int(rng.integers(len(strokes.SHAPES)))]
        return strokes.shape(kind, size, width, rng), kind
    return strokes.scribble(size, width, rng), "scribble"


def on_paper(mask: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """The ink as a photo or scan of it: slanted, stretched, on paper with uneven light and noise."""
    image = Image.fromarray((mask * 255).astype(np.uint8))
    image = image.rotate(rng.uniform(-15, 15), expand=True, resample=Image.Resampling.BILINEAR)
    w, h = image.size
    image = image.resize((max(8, int(w * rng.uniform(0.75, 1.25))), h), Image.Resampling.BILINEAR)
    margin = int(rng.integers(20, 120))
    ink = np.pad(np.asarray(image, np.float32) / 255.0, margin)
    if rng.random() < 0.3:  # a pencil or a soft marker
        ink = (
            np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2)), np.float32)
            / 255
        )
    yy, xx = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]] / max(ink.shape)
    paper = rng.uniform(0.75, 0.97) - rng.uniform(0, 0.15) * (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
    pen = rng.uniform(0.0, 0.3)
    gray = paper * (1 - ink * rng.uniform(0.7, 1.0)) + pen * ink + rng.normal(0, 0.02, ink.shape)
    return Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8))


def generate(count: int, seed: int = 0, families: tuple[str, ...] = FAMILIES) -> Negatives:
    """`count` non-digit images, the families taking turns; the same seed gives the same images."""
    from digitrec.reading.preprocess import to_mnist_array

    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise DigitrecError(f"unknown families {sorted(unknown)}; choose from {', '.join(FAMILIES)}")
    font_files = fonts()
    if not font_files and set(families) & set(FONT_FAMILIES):
        raise DigitrecError(
            "no handwriting fonts found: install Debian's fonts-humor-sans and the other fonts of "
            + ", ".join(FONT_DIRS)
        )
    rng = np.random.default_rng(seed)
    images, names, glyphs = [], [], []
    for i in range(count):
        family = families[i % len(families)]
        mask, glyph = _glyph(family, rng, font_files)
        array = to_mnist_array(on_paper(mask, rng))
        images.append(np.round(array * 255).astype(np.uint8))
        names.append(family)
        glyphs.append(glyph)
    return Negatives(np.stack(images) if images else np.zeros((0, 28, 28), np.uint8), names, glyphs)


# Of the drawing above, the mix and the preprocessing that reads them: a cached set is made again
# when it changes.
VERSION = 6


def training_set(count: int, seed: int, directory=None, log=print) -> np.ndarray:
    """`count` negatives for training (uint8, (N, 28, 28)) in the `TRAINING_MIX` of families,
    made once and cached beside the datasets (`<data dir>/negatives-v<VERSION>-<count>-<seed>.npz`);
    the caches of older versions are removed when a new one is made."""
    from digitrec.data.datasets import cache_path, cached_images, older_versions

    families = TRAINING_MIX if fonts() else tuple(f for f in TRAINING_MIX if f not in FONT_FAMILIES)
    tag = "" if families == TRAINING_MIX else "-nofonts"
    name = f"negatives-v{VERSION}-{count}-{seed}{tag}"

    def draw() -> np.ndarray:
        if tag:
            log("note: no handwriting fonts (make setup installs them as root): training without letters and symbols")
        log(f"drawing {count} non-digit images for training (once; cached in {cache_path(name, directory)})")
        return generate(count, seed, families).images

    return cached_images(name, draw, directory, superseded=older_versions("negatives", VERSION))
