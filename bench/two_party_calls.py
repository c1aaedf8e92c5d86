"""Synthetic two-party mono calls for choosing the diarization settings (bench/der_select.py).

Input: the acted speech clips of /work/shared/data/ser (file names give corpus and speaker).
Output: `TwoPartyCall`s (mono 16 kHz audio, exact reference segments from the construction) and,
per selection fold, within-speaker (WCCN) statistics learnt on the other fold's speakers only.

Why: a contact-center call always has exactly two parties (agent and customer) taking turns; the
AMI excerpts are 1-4 far-field speakers where one voice often dominates 30 s, a different prior
(they reward splitting late). These calls look like the product's input without touching
`sample` or the demo calls.

Construction (deterministic, `seed`): each call is 60-80 s, agent first, then alternating turns
of one to three clips of the same speaker (0.1-0.35 s gaps inside a turn), pauses of 0.2-1.5 s
between turns, ~15 % short back-channels (0.35-0.7 s of the listener's speech) and ~8 % overlaps
(the next turn starts 0.2-0.6 s before the last one ends). The customer's level differs from the
agent's by -6..+3 dB. Every second call of a fold is telephone-degraded as a whole
(`models.emotion.augment.telephone_degrade`: cafe noise of the evaluation part at 15-25 dB SNR,
300-3400 Hz, 8 kHz, mu-law). Reference: each clip's speech (frames within 30 dB of its loudest,
bench/assembled_calls.speech_span) where it was placed, with the overlaps as they are.

Speakers: RAVDESS actors 01-08 are never used (the demo calls' voices). All 24 other speakers of
data/ser are the ones the shipped WCCN statistics were learnt on (processors/diarization/wccn.py),
so they are split into two folds of 12 (`FOLDS`): calls of one fold are only made of that fold's
speakers and are scored with WCCN statistics rebuilt on the other fold's speakers
(`fold_wccn_stats`, at most `WCCN_CLIPS_PER_SPEAKER` clips each): no statistic is fitted on the
voices it is tested on. Audio, references and statistics are cached under build/two_party_calls/.

    python -m bench.two_party_calls [--calls 24] [--seed 7]   # builds the cache and prints a summary
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.assembled_calls import clip_audio, speech_span

SR = 16000
REPO = Path(__file__).resolve().parents[1]
SER = REPO.parent / "shared" / "data" / "ser"
CACHE = REPO / "build" / "two_party_calls"
VERSION = "v1"

FOLDS = {
    0: ["ravdess09", "ravdess10", "ravdess11", "ravdess12", "ravdess13", "saveeDC", "tessOAF",
        "emodb03", "emodb08", "emodb09", "emodb10", "emodb11"],
    1: ["ravdess14", "ravdess15", "ravdess16", "ravdess17", "ravdess18", "saveeJE", "saveeJK",
        "emodb12", "emodb13", "emodb14", "emodb15", "emodb16"],
}
"""The 24 speakers of data/ser outside RAVDESS 01-08, in two folds of 12 (corpora spread evenly)."""

DEMO_SPEAKERS = {f"ravdess{i:02d}" for i in range(1, 9)}
WCCN_CLIPS_PER_SPEAKER = 120
Segment = tuple[float, float, str]


@dataclass
class TwoPartyCall:
    name: str
    fold: int
    agent: str
    customer: str
    telephone: bool
    audio: Path
    reference: list[Segment]


def speaker_clips(data: Path = SER) -> dict[str, list[Path]]:
    from processors.diarization.wccn import speaker_of

    out: dict[str, list[Path]] = {}
    for path in sorted(data.rglob("*.flac")):
        speaker = speaker_of(path)
        if speaker is not None and speaker not in DEMO_SPEAKERS:
            out.setdefault(speaker, []).append(path)
    return out


def _level(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-12))


def compose(index: int, seed: int, clips: dict[str, list[Path]]) -> tuple[dict, np.ndarray, list[Segment]]:
    """One call: (description, mono audio, reference segments)."""
    rng = np.random.default_rng([seed, index])
    fold = index % 2
    agent, customer = (str(s) for s in rng.choice(FOLDS[fold], size=2, replace=False))
    telephone = bool((index // 2) % 2)
    target = float(rng.uniform(60.0, 80.0))
    gain = {agent: 0.05, customer: 0.05 * 10 ** (rng.uniform(-6.0, 3.0) / 20)}
    queues = {s: list(rng.permutation(len(clips[s]))) for s in (agent, customer)}

    def take(speaker: str) -> np.ndarray:
        if not queues[speaker]:
            queues[speaker] = list(rng.permutation(len(clips[speaker])))
        x = clip_audio(str(clips[speaker][queues[speaker].pop()]))
        return (x * (gain[speaker] / _level(x))).astype(np.float32)

    placed: list[tuple[float, np.ndarray, str]] = []
    t = float(rng.uniform(0.3, 1.0))
    talker, other = agent, customer
    last_end = t
    while t < target:
        kind = "backchannel" if placed and rng.random() < 0.15 else "turn"
        if kind == "backchannel":
            x = take(other)
            a, _ = speech_span(x)
            n = int((a + rng.uniform(0.35, 0.7)) * SR)
            x = x[:n].copy()
            fade = min(len(x), SR // 50)
            x[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
            start = last_end + rng.uniform(0.2, 0.6)
            placed.append((start, x, other))
            last_end = start + len(x) / SR
            t = last_end + rng.uniform(0.2, 0.6)
            continue
        overlap = bool(placed) and rng.random() < 0.08
        start = last_end - rng.uniform(0.2, 0.6) if overlap else t
        for k in range(int(rng.integers(1, 4))):
            x = take(talker)
            placed.append((start, x, talker))
            start += len(x) / SR + rng.uniform(0.1, 0.35)
        last_end = start
        t = last_end + rng.uniform(0.2, 1.5)
        talker, other = other, talker

    n = int(max(s + len(x) / SR for s, x, _ in placed) * SR) + SR // 2
    mix = np.zeros(n, np.float32)
    reference: list[Segment] = []
    for start, x, speaker in placed:
        i = int(round(start * SR))
        mix[i:i + len(x)] += x
        a, b = speech_span(x)
        reference.append((i / SR + a, i / SR + b, "agent" if speaker == agent else "customer"))
    if telephone:
        from models.emotion.augment import load_noise, telephone_degrade

        mix = telephone_degrade(mix, rng, noise=load_noise("cafe_short", part="eval"), snr_db=float(rng.uniform(15, 25)))
    peak = float(np.abs(mix).max())
    if peak > 0.99:
        mix = mix / peak * 0.9
    info = {"fold": fold, "agent": agent, "customer": customer, "telephone": telephone,
            "duration_s": n / SR, "turn_pieces": len(placed)}
    return info, mix, sorted(reference)


def build_calls(n_calls: int = 24, seed: int = 7, data: Path = SER, cache: Path = CACHE) -> list[TwoPartyCall]:
    """The calls, rendered once into `cache` (flac + reference json)."""
    import soundfile as sf

    folder = cache / f"{VERSION}_seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    clips = None
    calls = []
    for index in range(n_calls):
        name = f"tp{seed}_{index:02d}"
        audio, meta = folder / f"{name}.flac", folder / f"{name}.json"
        if not (audio.exists() and meta.exists()):
            clips = clips or speaker_clips(data)
            info, mix, ref = compose(index, seed, clips)
            sf.write(str(audio), mix, SR, subtype="PCM_16")
            meta.write_text(json.dumps({**info, "reference": ref}))
        d = json.loads(meta.read_text())
        calls.append(TwoPartyCall(name, d["fold"], d["agent"], d["customer"], d["telephone"], audio,
                                  [tuple(r) for r in d["reference"]]))
    return calls


def fold_wccn_stats(fold: int, data: Path = SER, cache: Path = CACHE) -> dict[str, np.ndarray]:
    """WCCN statistics learnt on the speakers of the *other* fold only (same recipe as
    processors/diarization/wccn.build, at most WCCN_CLIPS_PER_SPEAKER clips per speaker)."""
    from processors.diarization.wccn import within_speaker_stats

    path = cache / f"wccn_without_fold{fold}.npz"
    if path.exists():
        return dict(np.load(path))
    from processors.audio.io import load_audio
    from processors.diarization.embedder import EMBED_WINDOW, speaker_features

    clips = speaker_clips(data)
    feats, speakers = [], []
    step = int(0.4 * SR)
    for speaker in FOLDS[1 - fold]:
        paths = clips[speaker]
        rng = np.random.default_rng(int(hashlib.sha1(speaker.encode()).hexdigest()[:8], 16))
        if len(paths) > WCCN_CLIPS_PER_SPEAKER:
            paths = [paths[i] for i in sorted(rng.choice(len(paths), WCCN_CLIPS_PER_SPEAKER, replace=False))]
        for p in paths:
            audio = load_audio(p).samples
            if len(audio) < EMBED_WINDOW:
                continue
            windows = np.stack([audio[s:s + EMBED_WINDOW] for s in range(0, len(audio) - EMBED_WINDOW + 1, step)])
            energy = np.sqrt(np.mean(windows ** 2, axis=1))
            windows = windows[energy > 0.1 * energy.max()]
            feats.append(speaker_features(windows))
            speakers += [speaker] * len(windows)
    stats = within_speaker_stats(np.concatenate(feats), speakers)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **stats)
    return stats


def transforms_from(stats: dict[str, np.ndarray]):
    """A replacement for `processors.diarization.wccn.transforms` using these statistics."""
    from functools import lru_cache

    from processors.diarization.wccn import transforms_from_stats

    @lru_cache(maxsize=8)
    def transforms(reg: float):
        return transforms_from_stats(stats, reg)

    return transforms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    calls = build_calls(args.calls, args.seed)
    for c in calls:
        speech = sum(b - a for a, b, _ in c.reference)
        print(f"{c.name} fold {c.fold} {c.agent:>10} / {c.customer:<10} {'telephone' if c.telephone else 'clean':9} "
              f"{len(c.reference):3d} pieces, {speech:5.1f} s speech")
    for fold in FOLDS:
        fold_wccn_stats(fold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
