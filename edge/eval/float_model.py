"""Enhancement with a float Keras checkpoint (before int8 quantisation), to measure what
quantisation costs. The kernel does analysis and synthesis exactly as in edge.denoise; only
the network differs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EdgeError


def keras_enhancer(path: str | Path):
    """enhance(noisy, clean) -> aligned output, running the checkpoint's sequence model."""
    import keras
    from edge.denoise import _aligned, _padded_hops
    from edge.kernel import Kernel
    from edge.model.train import _custom_objects

    if not Path(path).is_file():
        raise EdgeError(f"{path}: no such model file")
    model = keras.models.load_model(path, custom_objects=_custom_objects())

    def enhance(noisy, clean=None):
        noisy = np.asarray(noisy, np.float32)
        with Kernel() as k:
            hops = _padded_hops(noisy, k.latency)
            feats = np.stack([k.analyze(h) for h in hops])
        gains, strengths = model.predict(feats[None], verbose=0)
        with Kernel() as k:
            out = []
            for h, g, r in zip(hops, gains[0], strengths[0]):
                k.analyze(h)
                out.append(k.synthesize(g, r))
            return _aligned(out, len(noisy), k.latency)

    return enhance
