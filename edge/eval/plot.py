"""Spectrogram figure: noisy, enhanced and clean of one file, stacked."""
from __future__ import annotations

import numpy as np


def plot_spectrograms(path: str, noisy: np.ndarray, enhanced: np.ndarray, clean: np.ndarray,
                      title: str = "", rate: int = 48000) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True, constrained_layout=True)
    for ax, (name, x) in zip(axes, (("noisy", noisy), ("enhanced", enhanced), ("clean", clean))):
        x = np.asarray(x, np.float64) + 1e-9  # keep log finite on digital silence
        ax.specgram(x, NFFT=960, Fs=rate, noverlap=480, cmap="magma", vmin=-150, vmax=-20)
        ax.set_ylabel(f"{name}\nHz")
    axes[-1].set_xlabel("s")
    if title:
        axes[0].set_title(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
