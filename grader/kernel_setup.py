"""Runs first in every graded kernel (the pipeline's preamble cell), before any student cell."""

from __future__ import annotations

import os


def prepare_kernel() -> None:
    """Quiet TensorFlow's C++ logs, serve Keras' dataset loaders offline, let GPUs grow memory.

    Memory growth matters when several jobs share one GPU: without it the first TensorFlow process
    takes almost all of the device's memory.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from grader.datasets import serve_keras_offline

    serve_keras_offline(os.environ.get("GRADER_DATA_DIR") or None)
    if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() not in ("", "-1"):
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
