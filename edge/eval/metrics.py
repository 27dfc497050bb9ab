"""Per-file quality metrics. Inputs are aligned 48 kHz float signals of equal length.

PESQ-WB and DNSMOS are defined at 16 kHz, so both signals are resampled first; STOI and
SI-SDR run at 48 kHz (pystoi resamples internally to its 10 kHz). None of them sees the band
above 8 kHz, so hf_db reports it: the output's energy above 8 kHz relative to the reference's
(0 dB: the high band of speech kept; positive: noise left there; negative: speech lost)."""
from __future__ import annotations

import numpy as np

from edge.data.audio import resample
from edge.native import SAMPLE_RATE as RATE


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), means removed."""
    est = np.asarray(est, np.float64) - np.mean(est)
    ref = np.asarray(ref, np.float64) - np.mean(ref)
    target = ref * (np.dot(est, ref) / max(np.dot(ref, ref), 1e-12))
    noise = est - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-12) / max(np.dot(noise, noise), 1e-12)))


def pesq_wb(est16: np.ndarray, ref16: np.ndarray) -> float:
    from pesq import pesq, NoUtterancesError
    try:
        return float(pesq(16000, ref16, est16, "wb"))
    except NoUtterancesError:
        return float("nan")


def stoi(est: np.ndarray, ref: np.ndarray) -> float:
    from pystoi import stoi as _stoi
    return float(_stoi(ref, est, RATE, extended=False))


def dnsmos(est16: np.ndarray) -> dict:
    """DNSMOS P.835 (SIG, BAK, OVRL) with the ONNX models speechmos ships: runs offline."""
    from speechmos import dnsmos as _dnsmos
    r = _dnsmos.run(np.clip(est16, -1.0, 1.0).astype(np.float32), 16000)
    return {"dnsmos_sig": float(r["sig_mos"]), "dnsmos_bak": float(r["bak_mos"]),
            "dnsmos_ovrl": float(r["ovrl_mos"])}


HIGH_BAND_HZ = 8000.0


def high_band_db(x: np.ndarray) -> float:
    """Mean-square energy above HIGH_BAND_HZ, dB re full scale (a full-scale sine: -3 dB)."""
    spec = np.abs(np.fft.rfft(np.asarray(x, np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(10 * np.log10(2 * spec[f >= HIGH_BAND_HZ].sum() / max(len(x), 1) ** 2 + 1e-15))


def score(est: np.ndarray, ref: np.ndarray) -> dict:
    """All metrics of one enhanced signal against its clean reference."""
    n = min(len(est), len(ref))
    est, ref = np.asarray(est[:n], np.float64), np.asarray(ref[:n], np.float64)
    est16, ref16 = resample(est, RATE, 16000), resample(ref, RATE, 16000)
    out = {"pesq_wb": pesq_wb(est16, ref16), "stoi": stoi(est, ref), "si_sdr": si_sdr(est, ref),
           "hf_db": high_band_db(est) - high_band_db(ref)}
    out.update(dnsmos(est16))
    return out
