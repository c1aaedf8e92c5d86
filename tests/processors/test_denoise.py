"""Denoisers behind one interface: aligned output, exact resume from state, real noise reduced."""

from __future__ import annotations

import numpy as np
import pytest

from processors.audio.io import load_audio
from processors.audio.statepack import pack_state, unpack_state
from processors.denoise import available_denoisers, make_denoiser
from processors.vad import VAD_WINDOW, VadState, speech_probs
from tests.conftest import require_data


def _installed(name: str) -> bool:
    try:
        make_denoiser(name)
    except RuntimeError:
        return False
    return True


NAMES = [n for n in available_denoisers() if _installed(n)]


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = ref - ref.mean(), est - est.mean()
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return float(10 * np.log10(np.dot(target, target) / np.dot(est - target, est - target)))


@pytest.fixture(scope="module")
def noisy_speech():
    clean = load_audio(require_data("ser", "ravdess", "Actor_03", "03-01-05-02-01-01-03.flac")).samples
    noise = load_audio(require_data("noise", "cafe_short.flac")).samples
    n = len(clean) // VAD_WINDOW * VAD_WINDOW
    clean = clean[:n]
    noise = np.tile(noise, -(-n // len(noise)))[:n]
    gain = np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** (5 / 10))  # 5 dB SNR
    noisy = (clean + gain * noise).astype(np.float32)
    return clean, noisy, speech_probs(noisy.reshape(-1, VAD_WINDOW), VadState())


def run(name, blocks, probs, split=None, via_state=False):
    d = make_denoiser(name)
    if split is None:
        out = d.process(blocks, probs)
    else:
        first = d.process(blocks[:split], probs[:split])
        if via_state:
            st = unpack_state(pack_state(d.to_state()))
            d = make_denoiser(name)
            d.load_state(st)
        out = np.concatenate([first, d.process(blocks[split:], probs[split:])])
    out = np.concatenate([out, d.flush()])
    return out[d.latency:d.latency + blocks.size]


def test_unknown_denoiser_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown denoiser 'nope'"):
        make_denoiser("nope")


@pytest.mark.parametrize("name", NAMES)
def test_block_splits_and_state_resume_are_exact(name, noisy_speech):
    _, noisy, probs = noisy_speech
    blocks = noisy.reshape(-1, VAD_WINDOW)[:60]
    whole = run(name, blocks, probs[:60])
    assert np.array_equal(whole, run(name, blocks, probs[:60], split=17))
    assert np.array_equal(whole, run(name, blocks, probs[:60], split=23, via_state=True))


@pytest.mark.parametrize("name", [n for n in NAMES if n != "off"])
def test_reduces_real_noise_and_stays_aligned(name, noisy_speech):
    clean, noisy, probs = noisy_speech
    out = run(name, noisy.reshape(-1, VAD_WINDOW), probs)
    gain = si_sdr(clean, out) - si_sdr(clean, noisy)
    assert gain > 2.0, f"{name}: SI-SDR improvement only {gain:.1f} dB at 5 dB SNR"
    # the output is aligned with the input: shifting it by a few samples makes it worse
    shifted = np.concatenate([np.zeros(8, np.float32), out[:-8]])
    assert si_sdr(clean, out) > si_sdr(clean, shifted) + 3.0
