"""Pure metric functions shared by the reference solutions and the grader's checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# scikit-image is imported by image_quality only: the students' package (the public checks) has no
# scikit-image (it is in the 'instructor' and 'notebook' extras).


def accuracy(predicted_labels: np.ndarray, labels: np.ndarray) -> float:
    predicted_labels = np.asarray(predicted_labels).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if predicted_labels.shape != labels.shape:
        raise ValueError(f"{predicted_labels.shape[0]} predictions for {labels.shape[0]} labels")
    return float(np.mean(predicted_labels == labels))


BINARY_THRESHOLD = 0.5  # a single sigmoid unit: class 1 above it (as keras.metrics.BinaryAccuracy)


def labels_from_scores(scores: np.ndarray) -> np.ndarray:
    """Class labels from probabilities or logits (n, classes), from the probabilities of one sigmoid
    unit (n, 1) (class 1 above 0.5), or integer labels (n,) or (n, 1) passed through."""
    scores = np.asarray(scores)
    if scores.ndim == 2 and scores.shape[1] == 1:
        if scores.dtype.kind in "iub":
            return scores[:, 0].astype("int64")
        return (scores[:, 0] > BINARY_THRESHOLD).astype("int64")
    if scores.ndim == 1:
        return scores.astype("int64")
    return np.argmax(scores.reshape(len(scores), -1), axis=1)


@dataclass(frozen=True)
class ImageQuality:
    """Mean per-image quality of ``images`` against ``clean``, both in [0, 1]."""

    mse: float
    psnr: float
    ssim: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def grayscale_planes(images: np.ndarray) -> np.ndarray:
    """(n, h, w, 1) grayscale images as (n, h, w), the form image metrics and figures take; any
    other shape as it is."""
    images = np.asarray(images)
    return images[..., 0] if images.ndim == 4 and images.shape[-1] == 1 else images


def image_quality(clean: np.ndarray, images: np.ndarray) -> ImageQuality:
    """Grayscale images (n, h, w) or (n, h, w, 1) of the same size."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    clean = grayscale_planes(np.asarray(clean, dtype="float64"))
    images = grayscale_planes(np.asarray(images, dtype="float64"))
    if clean.shape != images.shape:
        raise ValueError(f"images of shape {images.shape} for references of shape {clean.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError("images contain NaN or infinite values")
    mse = float(np.mean((clean - images) ** 2))
    psnr = float(np.mean([peak_signal_noise_ratio(c, i, data_range=1.0) for c, i in zip(clean, images)]))
    ssim = float(np.mean([structural_similarity(c, i, data_range=1.0) for c, i in zip(clean, images)]))
    return ImageQuality(mse=mse, psnr=psnr, ssim=ssim)
