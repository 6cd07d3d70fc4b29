"""What training reads: a tf.data pipeline of shuffled, batched images, each batch changed at
random the ways real handwriting differs from MNIST (`augment_batch`)."""

from __future__ import annotations

import numpy as np

from digitrec._tf import tensorflow as _tensorflow

__all__ = ["augment_batch", "changed", "training_dataset"]

ROTATION_DEGREES = 10.0
SHIFT = 0.1  # of the image's side
ZOOM = 0.1
THICKER_SHARE = 0.25  # a pen a pixel wider
# Of each batch (shuffled, so any images), these shares change further, each its own images:
BOLD_SHARE = 0.15  # a marker: strokes two to three times MNIST's width
BLOCKS_SHARE = 0.1  # the 8x8 block counts of older digit datasets, blown up
LOW_RES_SHARE = 0.2  # a digit a few pixels tall, blown up again
BLOCKS_SIDE = 11  # the 28x28 frame in blocks: its 20-pixel digit 8 blocks tall, as those datasets'
LOW_RES_SIDES = (7, 21)  # the 28x28 frame shrunk to this side: its 20-pixel digit to 5-15 pixels
LOW_RES_BLOCKY = 0.35  # of the small ones, blown up in blocks (a low-DPI scan zoomed in), the rest smoothly
DRAWS = 7  # random numbers an image's changes take


def augment_batch(images, seed):
    """Random changes that real handwriting shows and MNIST lacks, for one batch: small rotations
    (+-10 degrees), shifts (+-10 %) and zoom (+-10 %) as one affine transform per image, and a
    thicker pen for a quarter of the images; then, each for images of its own, a marker (15 %),
    the 8x8 block counts of older digit datasets (10 %), and a digit 5-15 pixels tall blown up
    again (20 %: a thumbnail, a far photo, a low-DPI scan), smoothly or in blocks, its brightest
    pixel back at full ink as the preprocessing leaves it. Non-digits in the batch change the same
    ways, so that a small or bold letter is still one.

    Args:
      images: float images (N, H, W, C), in the order of a shuffled dataset.
      seed: two int32 (or int64) numbers; the same seed gives the same changes.
    """
    tf = _tensorflow()
    return changed(images, tf.random.stateless_uniform([DRAWS, tf.shape(images)[0]], seed=seed, minval=0.0, maxval=1.0))


def changed(images, draws):
    """`augment_batch`'s changes, decided by `draws` (DRAWS x N uniform numbers in [0, 1): the
    rotation, zoom and shifts, the thicker pen, the low resolution's side (the first number
    only) and which small digits are blown up in blocks); `batches.changed` makes the same
    images with numpy and OpenCV."""
    tf = _tensorflow()
    n = tf.shape(images)[0]
    images = _moved(images, draws[:4] * 2.0 - 1.0)
    thicker = tf.nn.max_pool2d(images, ksize=2, strides=1, padding="SAME")
    images = tf.where(tf.reshape(draws[4] < THICKER_SHARE, [-1, 1, 1, 1]), thicker, images)
    # The batch is shuffled: its first images are as random as any, so each change takes a slice
    # of its own and nothing is computed for the images it does not change.
    ends = [tf.cast(tf.round(tf.cast(n, tf.float32) * share), tf.int32) for share in _cumulative_shares()]
    bold, blocks, small, rest = tf.split(images, [ends[0], ends[1] - ends[0], ends[2] - ends[1], n - ends[2]])
    return tf.concat(
        [
            tf.nn.max_pool2d(bold, ksize=4, strides=1, padding="SAME"),
            _blocks(blocks),
            _low_resolution(small, draws[5][0], draws[6][: ends[2] - ends[1]]),
            rest,
        ],
        axis=0,
    )


def _cumulative_shares() -> tuple[float, float, float]:
    return BOLD_SHARE, BOLD_SHARE + BLOCKS_SHARE, BOLD_SHARE + BLOCKS_SHARE + LOW_RES_SHARE


def shares_end(n: int) -> list[int]:
    """Where each change's images end in a batch of `n`: the marker's, the blocks', the small ones'."""
    return [int(np.round(np.float32(n) * np.float32(share))) for share in _cumulative_shares()]


def affine(draws, w, h, cos, sin) -> tuple:
    """The affine transform of draws in [-1, 1] (rotation, zoom, shift x, shift y) on a w x h image,
    as (a0, a1, a2, b0, b1, b2): output pixel (x, y) reads the input at (a0 x + a1 y + a2,
    b0 x + b1 y + b2), that is at rotate(x - c, y - c) / zoom + c - shift. Arithmetic only, on
    TensorFlow's values or numpy's, with that library's `cos` and `sin`."""
    angle = draws[0] * ROTATION_DEGREES * np.pi / 180
    scale = 1.0 / (1.0 + draws[1] * ZOOM)  # input pixels per output pixel
    dx, dy = draws[2] * SHIFT * w, draws[3] * SHIFT * h
    cos, sin = cos(angle) * scale, sin(angle) * scale
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return cos, -sin, cx - cos * cx + sin * cy - dx, sin, cos, cy - sin * cx - cos * cy - dy


def _moved(images, draws):
    """One affine transform per image: rotation, zoom, shift (draws in [-1, 1])."""
    tf = _tensorflow()
    h, w = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
    rows = affine(draws, w, h, tf.cos, tf.sin)
    zeros = tf.zeros_like(rows[0])
    transforms = tf.stack([*rows, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _peak(images):
    tf = _tensorflow()
    return tf.maximum(tf.reduce_max(images, axis=[1, 2, 3], keepdims=True), 1e-6)


def _blocks(images):
    """Each image as an 8x8-per-digit grid of block counts (17 levels), blown up in blocks."""
    tf = _tensorflow()
    peak = _peak(images)
    counts = tf.round(tf.image.resize(images / peak, [BLOCKS_SIDE, BLOCKS_SIDE], method="area") * 16.0) / 16.0
    blocks = tf.image.resize(counts, tf.shape(images)[1:3], method="nearest")
    return blocks / _peak(blocks) * peak


def _low_resolution(images, side_draw, blocky_draws):
    """The frame shrunk to one side per batch (LOW_RES_SIDES) and blown up again, smoothly or, for
    LOW_RES_BLOCKY of the images, in blocks; its brightest pixel back at the original's."""
    tf = _tensorflow()
    low, high = LOW_RES_SIDES
    side = tf.cast(tf.round(low + (high - low) * side_draw), tf.int32)
    size = tf.shape(images)[1:3]
    small = tf.image.resize(images, [side, side], method="area")
    blocky = tf.reshape(blocky_draws < LOW_RES_BLOCKY, [-1, 1, 1, 1])
    soft = tf.where(
        blocky, tf.image.resize(small, size, method="nearest"), tf.image.resize(small, size, method="bilinear")
    )
    return soft / _peak(soft) * _peak(images)


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool = True):
    """A tf.data pipeline: shuffle each epoch (seeded), batch, augment in parallel, prefetch.

    Each batch's augmentation has a seed of its own from a seeded stream that changes every
    epoch, so the same seed gives the same images in the same order, however the map is run.
    (On another Keras backend, `batches.batches` makes such batches without TensorFlow.)"""
    tf = _tensorflow()
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, s: (augment_batch(batch[0], s), batch[1]), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
