"""Training batches for a Keras backend without TensorFlow (`KERAS_BACKEND=jax`, as on a GPU
machine that has no TensorFlow): the same shuffle each epoch and the same changes as
`augment.augment_batch`, made on the host with numpy and OpenCV, a few batches ahead on threads of
Keras's `PyDataset` while the model trains. No TensorFlow here."""

from __future__ import annotations

import math
import os
from typing import Any

import cv2
import numpy as np

from digitrec._tf import keras as _keras
from digitrec.training import augment as a

__all__ = ["batches", "changed"]


def changed(images: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """`augment.changed` in numpy and OpenCV: float32 images (N, H, W, 1), the same draws
    (DRAWS x N in [0, 1)). The same images, to float rounding."""
    images = np.stack([_moved(image[..., 0], draws[:4, k] * 2.0 - 1.0) for k, image in enumerate(images)])
    for k in np.flatnonzero(draws[4] < a.THICKER_SHARE).tolist():
        images[k] = _max_filter(images[k], 2)
    first, second, third = a.shares_end(len(images))
    side = round(a.LOW_RES_SIDES[0] + (a.LOW_RES_SIDES[1] - a.LOW_RES_SIDES[0]) * float(draws[5][0]))
    for k in range(third):
        if k < first:
            images[k] = _max_filter(images[k], 4)
        elif k < second:
            images[k] = _blocks(images[k])
        else:
            images[k] = _low_resolution(images[k], side, bool(draws[6][k - second] < a.LOW_RES_BLOCKY))
    return images[..., None]


def _moved(image: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """`augment._moved` for one image: its affine transform (bilinear, zero outside)."""
    h, w = image.shape
    inverse = np.array(a.affine(draws, w, h, np.cos, np.sin), np.float64).reshape(2, 3)
    return cv2.warpAffine(
        image, inverse, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT
    )


def _max_filter(image: np.ndarray, size: int) -> np.ndarray:
    """TensorFlow's max pool of `size`, stride 1, "SAME": the window reaches (size - 1) // 2
    pixels back and the rest ahead."""
    back = (size - 1) // 2
    return cv2.dilate(image, np.ones((size, size), np.uint8), anchor=(back, back))


def _peak(image: np.ndarray) -> float:
    return max(float(image.max()), 1e-6)


def _blocks(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    peak = _peak(image)
    small = cv2.resize(image / peak, (a.BLOCKS_SIDE, a.BLOCKS_SIDE), interpolation=cv2.INTER_AREA)
    counts = np.round(small * 16.0) / 16.0
    blocks = cv2.resize(counts, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
    return blocks / _peak(blocks) * peak


def _low_resolution(image: np.ndarray, side: int, blocky: bool) -> np.ndarray:
    h, w = image.shape
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    soft = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST_EXACT if blocky else cv2.INTER_LINEAR)
    return soft / _peak(soft) * _peak(image)


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool = True, epoch: int = 0) -> Any:
    """A `keras.utils.PyDataset` of (images, targets) batches: shuffled anew each epoch, each
    batch changed by draws of its own; the same seed gives the same batches. `epoch`: the
    epochs already trained (a resumed run goes on with the batches of the epochs it has left)."""
    keras = _keras()

    class Batches(keras.utils.PyDataset):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__(workers=min(8, os.cpu_count() or 1), use_multiprocessing=False, max_queue_size=16)
            self.epoch = epoch
            self.order = self._shuffled()

        def _shuffled(self) -> np.ndarray:
            return np.random.default_rng([seed, self.epoch]).permutation(len(x))

        def __len__(self) -> int:
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            picked = self.order[index * batch_size : (index + 1) * batch_size]
            images = np.asarray(x[picked], np.float32)
            if augment:
                draws = np.random.default_rng([seed, self.epoch, index]).random((a.DRAWS, len(picked)), np.float32)
                images = changed(images, draws)
            return images, y[picked]

        def on_epoch_end(self) -> None:  # Keras has stopped fetching this epoch's batches
            self.epoch += 1
            self.order = self._shuffled()

    return Batches()
