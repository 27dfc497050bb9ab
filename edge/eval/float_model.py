"""Enhancement with a float Keras checkpoint (before int8 quantisation), to measure what
quantisation costs. The kernel does analysis and synthesis exactly as in edge.denoise; only
the network differs."""
from __future__ import annotations

from pathlib import Path

from edge.errors import EdgeError


def keras_enhancer(path: str | Path):
    """enhance(noisy, clean) -> aligned output, running the checkpoint's sequence model."""
    import keras
    from edge.denoise import denoise_with
    from edge.model.loss import custom_objects

    if not Path(path).is_file():
        raise EdgeError(f"{path}: no such model file")
    model = keras.models.load_model(path, custom_objects=custom_objects())

    def network(features):
        gains, strengths = model.predict(features[None], verbose=0)
        return gains[0], strengths[0]

    return lambda noisy, clean=None: denoise_with(noisy, network)
