"""Assemble the demo calls in demo/calls/ from RAVDESS speech clips (CC BY-NC-SA 4.0, see CREDITS.md).

Each call alternates an "agent" actor and a "customer" actor, clip by clip, with short pauses; the
customer's clips follow a scripted emotional arc (calm, or turning upset). Stereo calls keep the agent
on channel 0 and the customer on channel 1; mono calls mix both. Output: 8 kHz 16-bit FLAC (telephone
bandwidth, small enough to commit) plus `<call>.transcript.json` with what each clip says, and
`<call>.script.json` recording which clip went where (the provenance of every second of audio).

Usage: python demo/make_calls.py [RAVDESS_DIR]   (default ../shared/data/ser/ravdess, 16 kHz copies)
Deterministic: the same corpus gives the same files.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "calls"
RATE_IN = 16_000
RATE_OUT = 8_000
STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
EMOTION = {"neutral": "01", "calm": "02", "happy": "03", "sad": "04", "angry": "05", "fearful": "06"}


@dataclass(frozen=True)
class CallScript:
    name: str
    stereo: bool
    agent_actor: int
    customer_actor: int
    turns: tuple[tuple[str, str, str], ...]
    """(speaker, emotion, intensity "01"/"02") in order; consecutive customer clips make long turns."""


A, C = "agent", "customer"
CALLS = (
    CallScript("calm_stereo", True, 1, 2, (
        (A, "neutral", "01"), (C, "neutral", "01"), (A, "happy", "01"), (C, "calm", "01"),
        (C, "neutral", "01"), (A, "neutral", "01"), (C, "happy", "01"), (A, "calm", "01"),
        (C, "neutral", "01"), (A, "happy", "02"), (C, "happy", "01"), (A, "neutral", "01"),
    )),
    CallScript("upset_stereo", True, 3, 4, (
        (A, "neutral", "01"), (C, "neutral", "01"), (A, "happy", "01"), (C, "sad", "01"),
        (A, "neutral", "01"), (C, "angry", "01"), (C, "angry", "02"), (A, "neutral", "01"),
        (C, "angry", "02"), (C, "angry", "02"), (A, "sad", "01"), (C, "angry", "02"),
        (C, "fearful", "02"), (A, "neutral", "01"), (C, "angry", "02"), (C, "angry", "01"),
        (A, "neutral", "01"), (C, "angry", "02"), (A, "sad", "01"), (C, "angry", "02"),
        (C, "fearful", "02"), (A, "neutral", "01"), (C, "angry", "01"), (A, "neutral", "01"),
    )),
    CallScript("upset_mono", False, 5, 6, (
        (A, "neutral", "01"), (C, "neutral", "01"), (A, "happy", "01"), (C, "angry", "01"),
        (A, "neutral", "01"), (C, "angry", "02"), (C, "angry", "02"), (A, "neutral", "01"),
        (C, "fearful", "02"), (C, "angry", "02"), (A, "sad", "01"), (C, "angry", "02"),
        (C, "angry", "02"), (A, "neutral", "01"), (C, "sad", "02"), (A, "neutral", "01"),
        (C, "angry", "02"), (A, "neutral", "01"), (C, "angry", "02"), (C, "fearful", "02"),
        (A, "sad", "01"), (C, "angry", "01"), (A, "neutral", "01"),
    )),
    CallScript("calm_mono", False, 7, 8, (
        (A, "neutral", "01"), (C, "neutral", "01"), (A, "happy", "01"), (C, "happy", "01"),
        (A, "neutral", "01"), (C, "neutral", "01"), (C, "happy", "02"), (A, "happy", "01"),
        (C, "neutral", "01"), (A, "neutral", "01"),
    )),
)


def clips_of(corpus: Path, actor: int, emotion: str, intensity: str) -> list[Path]:
    """The actor's clips of one emotion and intensity (RAVDESS has no strong neutral; this copy lacks a few)."""
    code = EMOTION[emotion]
    found = sorted((corpus / f"Actor_{actor:02d}").glob(f"03-01-{code}-{intensity}-*-{actor:02d}.flac"))
    if not found:
        found = sorted((corpus / f"Actor_{actor:02d}").glob(f"03-01-{code}-*-{actor:02d}.flac"))
    if not found:
        raise FileNotFoundError(f"no {emotion} clip of actor {actor} in {corpus}")
    return found


def trim(x: np.ndarray, rate: int, pad_s: float = 0.12) -> np.ndarray:
    """Cut the clip's leading and trailing silence (20 ms frames 35 dB below the loudest)."""
    hop = rate // 50
    n = len(x) // hop
    energy = np.array([np.sqrt(np.mean(x[i * hop:(i + 1) * hop] ** 2)) + 1e-9 for i in range(n)])
    loud = np.nonzero(20 * np.log10(energy / energy.max()) > -35)[0]
    a = max(0, loud[0] * hop - int(pad_s * rate))
    b = min(len(x), (loud[-1] + 1) * hop + int(pad_s * rate))
    return x[a:b]


def build(script: CallScript, corpus: Path, rng: np.random.Generator) -> tuple[np.ndarray, list, list]:
    import soxr

    pieces = []
    t = 0.6
    transcript, provenance = [], []
    used: dict[tuple, int] = {}
    prev = None
    for speaker, emotion, intensity in script.turns:
        actor = script.agent_actor if speaker == A else script.customer_actor
        k = used.get((actor, emotion, intensity), 0)
        used[(actor, emotion, intensity)] = k + 1
        options = clips_of(corpus, actor, emotion, intensity)
        path = options[k % len(options)]
        statement = path.name.split("-")[4]
        x, rate = sf.read(path, dtype="float32")
        assert rate == RATE_IN, path
        x = trim(x, rate)
        x = x * (0.1 / (np.sqrt(np.mean(x ** 2)) + 1e-9))  # about -20 dBFS RMS
        gap = rng.uniform(0.25, 0.45) if speaker == prev else rng.uniform(0.5, 1.1)
        t += gap if prev is not None else 0.0
        pieces.append((speaker, t, x))
        transcript.append({"speaker": speaker, "start_s": round(t, 3), "end_s": round(t + len(x) / rate, 3),
                           "text": STATEMENTS[statement]})
        provenance.append({"speaker": speaker, "start_s": round(t, 3), "file": f"{path.parent.name}/{path.name}",
                           "emotion": emotion, "intensity": intensity})
        t += len(x) / rate
        prev = speaker
    n = int((t + 1.0) * RATE_IN)
    y = np.zeros((2, n), np.float32)
    for speaker, start, x in pieces:
        ch = 0 if speaker == A else 1
        i = int(start * RATE_IN)
        y[ch, i:i + len(x)] += x
    y += rng.normal(0.0, 10 ** (-70 / 20), y.shape).astype(np.float32)  # line noise, about -70 dBFS
    if not script.stereo:
        y = y.sum(axis=0, keepdims=True)
    y = np.stack([soxr.resample(c, RATE_IN, RATE_OUT, quality="HQ") for c in y])
    return np.clip(y, -1, 1), transcript, provenance


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else ROOT.parent.parent / "shared" / "data" / "ser" / "ravdess"
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261121)
    for script in CALLS:
        y, transcript, provenance = build(script, corpus, rng)
        path = OUT / f"{script.name}.flac"
        sf.write(path, y.T, RATE_OUT, subtype="PCM_16")
        (OUT / f"{script.name}.transcript.json").write_text(json.dumps(transcript, indent=1) + "\n")
        (OUT / f"{script.name}.script.json").write_text(json.dumps(
            {"stereo": script.stereo, "agent_channel": 0 if script.stereo else None,
             "agent_actor": script.agent_actor, "customer_actor": script.customer_actor,
             "clips": provenance}, indent=1) + "\n")
        print(f"{path.name}: {y.shape[1] / RATE_OUT:.1f} s, {'stereo' if script.stereo else 'mono'}, "
              f"{path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
