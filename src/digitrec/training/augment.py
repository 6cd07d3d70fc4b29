"""What training reads: a tf.data pipeline of shuffled, batched images, each batch changed at
random the ways real handwriting differs from MNIST (`augment_batch`)."""

from __future__ import annotations

import numpy as np

from digitrec._tf import tensorflow as _tensorflow

__all__ = ["augment_batch", "training_dataset"]

ROTATION_DEGREES = 10.0
SHIFT = 0.1  # of the image's side
ZOOM = 0.1
THICKER_SHARE = 0.25
LOW_RES_SHARE = 0.15
LOW_RES_SIDES = (13, 21)  # the 28x28 frame shrunk to this side: its 20-pixel digit to 9-15 pixels


def augment_batch(images, seed):
    """Random changes that real handwriting shows and MNIST lacks, for one batch: small rotations
    (+-10 degrees), shifts (+-10 %) and zoom (+-10 %) as one affine transform per image, a
    thicker pen for a quarter of the images, and for 15 % the softness of a low-resolution digit
    (a far photo, a thumbnail, a fax): shrunk to 9-15 pixels wide and blown up again, its
    brightest pixel back at full ink as the preprocessing leaves it.

    Args:
      images: float images (N, H, W, C).
      seed: two int32 (or int64) numbers; the same seed gives the same changes.
    """
    tf = _tensorflow()
    n = tf.shape(images)[0]
    h, w = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
    draws = tf.random.stateless_uniform([7, n], seed=seed, minval=-1.0, maxval=1.0)
    angle = draws[0] * ROTATION_DEGREES * np.pi / 180
    scale = 1.0 / (1.0 + draws[1] * ZOOM)  # input pixels per output pixel
    dx, dy = draws[2] * SHIFT * w, draws[3] * SHIFT * h
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # Each output pixel (x, y) reads the input at rotate(x - c, y - c) / zoom + c - shift.
    zeros = tf.zeros_like(cos)
    transforms = tf.stack(
        [cos, -sin, cx - cos * cx + sin * cy - dx, sin, cos, cy - sin * cx - cos * cy - dy, zeros, zeros], axis=1
    )
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    thicker = tf.nn.max_pool2d(moved, ksize=2, strides=1, padding="SAME")
    pick = tf.reshape((draws[4] + 1) / 2 < THICKER_SHARE, [-1, 1, 1, 1])
    images = tf.where(pick, thicker, moved)
    low, high = LOW_RES_SIDES
    side = tf.cast(tf.round(low + (high - low) * (draws[6][0] + 1) / 2), tf.int32)  # one per batch
    size = tf.shape(images)[1:3]
    soft = tf.image.resize(tf.image.resize(images, [side, side], method="area"), size, method="bilinear")
    soft = soft / tf.maximum(tf.reduce_max(soft, axis=[1, 2, 3], keepdims=True), 1e-6)
    soft = soft * tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    pick = tf.reshape((draws[5] + 1) / 2 < LOW_RES_SHARE, [-1, 1, 1, 1])
    return tf.where(pick, soft, images)


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool = True):
    """A tf.data pipeline: shuffle each epoch (seeded), batch, augment in parallel, prefetch.

    Each batch's augmentation has a seed of its own from a seeded stream that changes every
    epoch, so the same seed gives the same images in the same order, however the map is run."""
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
