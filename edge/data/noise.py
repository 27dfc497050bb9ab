"""Noise generators: coloured noise, mains hum, babble, transients, rustling, fans and engines,
wind, and the residual echo a linear echo canceller leaves on a speakerphone.

Each takes (n samples, rng[, speech list]) and returns 48 kHz float32 at roughly unit RMS;
the mixer sets the level."""
from __future__ import annotations

import numpy as np

from edge.native import SAMPLE_RATE as RATE


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-9)).astype(np.float32)


def coloured(n: int, rng: np.random.Generator, slope_db: float | None = None) -> np.ndarray:
    """Noise with a power spectrum sloping slope_db per octave (0 white, -3 pink, -6 brown)."""
    slope = rng.uniform(-7, 2) if slope_db is None else slope_db
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)
    spec *= (f / 1000.0) ** (slope / (2 * 10 * np.log10(2)))
    return _unit(np.fft.irfft(spec, n))


def hum(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and harmonics with random decaying levels, a little noise."""
    f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.995, 1.005)
    t = np.arange(n) / RATE
    x = sum(rng.uniform(0.1, 1) / k ** rng.uniform(0.3, 1.5) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3))
            for k in range(1, int(rng.integers(3, 30))))
    return _unit(x + 0.01 * rng.standard_normal(n))


def babble(n: int, rng: np.random.Generator, speech: list[np.ndarray]) -> np.ndarray:
    """3 to 8 talkers from the speech list, summed with random offsets."""
    x = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(3, 9))):
        s = speech[int(rng.integers(len(speech)))]
        s = np.tile(s, int(np.ceil(n / len(s))) + 1)
        start = int(rng.integers(0, len(s) - n))
        x += _unit(s[start:start + n])
    return _unit(x)


def transients(n: int, rng: np.random.Generator) -> np.ndarray:
    """Knocks, clicks and keyboard-like bursts: decaying filtered noise at random times."""
    x = 1e-3 * rng.standard_normal(n)
    for _ in range(int(rng.integers(2, 4 + n // RATE * 4))):
        length = int(rng.uniform(0.002, 0.15) * RATE)
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (length * rng.uniform(0.05, 0.4)))
        if rng.random() < 0.5:
            burst = np.cumsum(burst) * 0.05  # duller knock
        at = int(rng.integers(0, max(1, n - length)))
        x[at:at + length] += rng.uniform(0.2, 1) * burst
    return _unit(x)


def rustle(n: int, rng: np.random.Generator) -> np.ndarray:
    """Paper, clothing and handling: stretches of dense crackle (broadband, brighter than speech,
    with no pitch) whose level jumps from grain to grain, between quiet gaps. Fricatives look
    alike for a frame; the model must learn them apart by the voicing around them."""
    x = 3e-3 * coloured(n, rng, rng.uniform(-3, 0))
    for _ in range(int(rng.integers(1, 2 + n // RATE * 2))):
        length = int(rng.uniform(0.1, 1.0) * RATE)
        at = int(rng.integers(0, max(1, n - length)))
        length = min(length, n - at)
        grains = np.zeros(length)
        hits = rng.integers(0, length, int(rng.uniform(50, 600) * length / RATE))
        grains[hits] = np.minimum(rng.lognormal(0, 0.8, len(hits)), 6)
        decay = np.exp(-np.arange(int(0.004 * RATE)) / (rng.uniform(0.0003, 0.002) * RATE))
        envelope = np.convolve(grains, decay)[:length]
        stretch = envelope * coloured(length, rng, rng.uniform(-2, 3))
        if rng.random() < 0.5:  # a thump of the hand or the object with it
            stretch += 0.3 * np.cumsum(rng.standard_normal(length)) / np.sqrt(length) * np.hanning(length)
        x[at:at + length] += rng.uniform(0.3, 1) * stretch
    return _unit(x)


def wind(n: int, rng: np.random.Generator) -> np.ndarray:
    """Wind on the capsule: rumble falling 12 dB per octave above a 50-300 Hz corner, in gusts
    (a slow random envelope spanning 25-50 dB), buffeting into broadband crackle where a gust
    peaks. Its energy sits where a voice's pitch does: without it, a model took a real outdoor
    recording of it for a talker and kept it."""
    from scipy.signal import lfilter

    a = np.exp(-2 * np.pi * rng.uniform(50, 300) / RATE)
    rumble = _unit(lfilter([(1 - a) ** 2], [1, -2 * a, a * a], rng.standard_normal(n)))
    hops = n // 480 + 2                                   # the envelope at 100 Hz, then spread
    b = np.exp(-2 * np.pi * rng.uniform(0.3, 3) / 100)
    z = lfilter([1 - b], [1, -b], rng.standard_normal(hops + 200))[200:]
    env_db = rng.uniform(6, 12) * (z - z.mean()) / (z.std() + 1e-9)
    env = np.interp(np.arange(n), np.arange(hops) * 480, 10 ** (env_db / 20))
    peak = np.quantile(env, rng.uniform(0.85, 0.97))
    buffet = np.maximum(env - peak, 0) / peak * coloured(n, rng, rng.uniform(-4, 0))
    return _unit(env * rumble + rng.uniform(0.1, 1) * peak * buffet)


def machine(n: int, rng: np.random.Generator) -> np.ndarray:
    """Fan or engine: a drifting harmonic series, amplitude modulated, over coloured noise."""
    t = np.arange(n) / RATE
    f0 = rng.uniform(20, 200) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    tone = sum(np.sin(k * phase) / k ** rng.uniform(0.5, 2) for k in range(1, int(rng.integers(4, 20))))
    am = 1 + rng.uniform(0, 0.6) * np.sin(2 * np.pi * rng.uniform(0.5, 8) * t)
    return _unit(_unit(tone) * am * rng.uniform(0.3, 1) + coloured(n, rng, rng.uniform(-6, -2)))


def recording_lowpass(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The low-pass of a recording chain: anti-alias filters and lossy codecs cut at 11-22 kHz,
    falling over 0.2-1.5 kHz to a floor 40-90 dB down. Real fullband speech always has one;
    generated noise without it taught a model (session 7) that a spectrum ending below 24 kHz is speech
    (white noise: -94 dB above 8 kHz, the same cut at 20 kHz: -8 dB)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    cut, width = rng.uniform(11000, 22000), rng.uniform(200, 1500)
    floor = 10 ** (-rng.uniform(40, 90) / 20)
    ramp = np.clip((f - cut) / width, 0, 1)
    spec *= floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * ramp))
    return _unit(np.fft.irfft(spec, len(x)))


def residual_echo(far: np.ndarray, rir: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Far-end speech as a linear canceller leaves it: through a small loudspeaker (soft
    clipping that no linear filter models, a high-pass at 150-400 Hz) and the whole room
    response. The canceller's 10-30 dB of loss is the level the mixer sets."""
    from scipy.signal import butter, fftconvolve, lfilter
    drive = rng.uniform(1.0, 4.0)
    x = np.tanh(drive * _unit(far))  # the amplifier, then the driver's roll-off
    b, a = butter(2, rng.uniform(150.0, 400.0), "highpass", fs=RATE)
    return _unit(fftconvolve(lfilter(b, a, x), rir)[:len(far)])


def random_noise(n: int, rng: np.random.Generator, speech: list[np.ndarray],
                 recorded: list[np.ndarray]) -> np.ndarray:
    """One noise segment: one of the recorded noises when given, else a generator."""
    if recorded:
        s = recorded[int(rng.integers(len(recorded)))]
        s = np.tile(s, int(np.ceil(n / len(s))) + 1)
        start = int(rng.integers(0, len(s) - n))
        return _unit(s[start:start + n])
    kind = rng.choice(["white", "coloured", "hum", "babble", "transients", "rustle", "machine", "wind"],
                      p=[0.08, 0.17, 0.08, 0.2, 0.1, 0.15, 0.12, 0.1])
    if kind == "white":
        x = coloured(n, rng, 0.0)
    elif kind == "coloured":
        x = coloured(n, rng)
    elif kind == "hum":
        x = hum(n, rng)
    elif kind == "babble" and speech:
        x = babble(n, rng, speech)
    elif kind == "transients":
        x = transients(n, rng)
    elif kind == "rustle":
        x = rustle(n, rng)
    elif kind == "wind":
        x = wind(n, rng)
    else:
        x = machine(n, rng)
    if rng.random() < 0.3:  # layered noise scenes
        x = _unit(x + rng.uniform(0.1, 0.7) * coloured(n, rng))
    if rng.random() < 0.6:  # as recorded; the rest stays fullband, as some real noise is
        x = recording_lowpass(x, rng)
    return x
