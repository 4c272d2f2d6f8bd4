"""Autoencoder checks: output shape and range (public), and quality gains over the noisy input."""

from __future__ import annotations

import numpy as np

from grader.i18n import joined, msg
from grader.checks.outcome import CheckOutcome, linear_credit
from grader.metrics import grayscale_planes, image_quality

EXAMPLES_IN_REPORT = 6


def with_channel_axis(output: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """``output`` with the single channel axis of ``noisy`` added when the model drops it: a
    (n, 28, 28) output (a dense autoencoder ending in ``Reshape((28, 28))``) is the same images as
    (n, 28, 28, 1). Any other shape is returned as it is."""
    output = np.asarray(output)
    if noisy.ndim == output.ndim + 1 and noisy.shape[-1] == 1 and output.shape == noisy.shape[:-1]:
        return output[..., np.newaxis]
    return output


def check_autoencoder_output(noisy: np.ndarray, output: np.ndarray) -> CheckOutcome:
    """Same images as the input (with or without the channel axis), finite, in [0, 1], and not the
    input passed through."""
    noisy = np.asarray(noisy)
    output = with_channel_axis(output, noisy)
    if output.shape != noisy.shape:
        got = "(None, " + ", ".join(map(str, output.shape[1:])) + ")"
        expected = "(None, " + ", ".join(map(str, noisy.shape[1:])) + ")"
        return CheckOutcome(0.0, msg("ae_shape", got=got, expected=expected))
    if not np.all(np.isfinite(output)):
        return CheckOutcome(0.0, msg("not_finite"))
    low, high = float(output.min()), float(output.max())
    if low < -1e-4 or high > 1 + 1e-4:
        return CheckOutcome(0.0, msg("ae_range", low=low, high=high))
    if np.allclose(output, noisy, atol=1e-3):
        return CheckOutcome(0.0, msg("ae_identity"))
    return CheckOutcome(1.0, msg("ae_ok", shape="x".join(map(str, output.shape[1:]))))


def check_denoising(clean: np.ndarray, noisy: np.ndarray, output: np.ndarray, zero_at: float,
                    full_at: float) -> CheckOutcome:
    """Credit grows with the PSNR gain over the noisy input; the SSIM must improve too."""
    noisy = np.asarray(noisy)
    output = with_channel_axis(output, noisy)
    if output.shape != noisy.shape or not np.all(np.isfinite(output)):
        return check_autoencoder_output(noisy, output)  # explains the shape or NaN problem
    before = image_quality(clean, noisy)
    after = image_quality(clean, np.clip(output, 0.0, 1.0))
    psnr_gain, ssim_gain = after.psnr - before.psnr, after.ssim - before.ssim
    examples = {name: np.round(grayscale_planes(images[:EXAMPLES_IN_REPORT]), 3).tolist()
                for name, images in (("clean", clean), ("noisy", noisy), ("denoised", output))}
    details = {"noisy": before.as_dict(), "denoised": after.as_dict(), "psnr_gain": round(psnr_gain, 4),
               "ssim_gain": round(ssim_gain, 4), "zero_at": round(zero_at, 4), "full_at": round(full_at, 4),
               "examples": examples}
    text = msg("denoise", noisy_psnr=before.psnr, denoised_psnr=after.psnr, psnr_gain=psnr_gain,
                   noisy_ssim=before.ssim, denoised_ssim=after.ssim, full_at=full_at, zero_at=zero_at)
    if ssim_gain <= 0:
        return CheckOutcome(0.0, joined([msg("ssim_worse"), text]), details)
    return CheckOutcome(linear_credit(psnr_gain, zero_at, full_at), text, details)
