"""Within-class covariance normalisation (WCCN) of the speaker features, learnt on other speakers.

Input: raw speaker features (`embedder.speaker_features`: 256-d d-vector + 38 cepstral statistics).
Output: the same features with the directions in which one speaker's 0.82 s windows vary most
(what is said, how it is said) shrunk: x -> (x - mean) @ (S_w + r * I)^(-1/2), per part, S_w the
within-speaker covariance, r = `reg` times its mean eigenvalue.

Why: a 0.82 s d-vector of the wheel's embedder moves with the phonemes and the emotion of the
window about as much as with the speaker; clustering cosine then groups windows by content as much
as by voice. S_w is estimated once, offline, on acted emotional speech of 24 speakers who are in
none of the diarization clips (RAVDESS actors 09-18, SAVEE DC/JE/JK, TESS OAF, EmoDB's 10: every
emotion of each speaker, so emotion counts as within-speaker variation), windows of 0.82 s every
0.4 s. RAVDESS actors 01-08 are left out: the demo calls (demo/calls) are made of their voices,
so the demo calls stay a held-out two-party test of the diarization (bench/der.py). The
statistics ship as `wccn.npz` (~0.3 MB); rebuild them with

    python -m processors.diarization.wccn [--data ../shared/data/ser] [--out processors/diarization/wccn.npz]

`reg` is a diarization setting (ClusteringConfig.wccn_reg), chosen on the AMI clips
(bench/der_select.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

DVEC = 256
STATS_PATH = Path(__file__).with_name("wccn.npz")


def speaker_of(path: Path) -> str | None:
    """Speaker id from a file name of data/ser (see its README)."""
    name, folder = path.stem, path.parent.name
    if folder.startswith("Actor_"):
        return "ravdess" + folder[6:]
    corpus = path.parent.name
    if corpus == "savee":
        return "savee" + name.split("_")[0]
    if corpus == "tess":
        return "tessOAF"
    if corpus == "emodb":
        return "emodb" + name[:2]
    match = re.match(r"(\w+)", name)
    return match.group(1) if match else None


def within_speaker_stats(features: np.ndarray, speakers: list[str]) -> dict[str, np.ndarray]:
    """Mean and within-speaker covariance of each part (d-vector, cepstral statistics)."""
    speakers_arr = np.asarray(speakers)
    out = {}
    for part, cols in (("d", slice(0, DVEC)), ("c", slice(DVEC, None))):
        x = features[:, cols].astype(np.float64)
        centred = np.concatenate([x[speakers_arr == s] - x[speakers_arr == s].mean(axis=0)
                                  for s in sorted(set(speakers))])
        out[f"{part}_mean"] = x.mean(axis=0).astype(np.float32)
        out[f"{part}_within"] = (centred.T @ centred / len(centred)).astype(np.float32)
    return out


@lru_cache(maxsize=8)
def transforms(reg: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(256x256, 38x38) WCCN matrices for this regularisation; None when the statistics are absent."""
    if not STATS_PATH.exists():
        return None
    return transforms_from_stats(np.load(STATS_PATH), reg)


def transforms_from_stats(stats, reg: float) -> tuple[np.ndarray, np.ndarray]:
    """The WCCN matrices (d-vector, cepstral) of any within-speaker statistics (`within_speaker_stats`'s keys):
    the inverse square root of each within-speaker covariance, regularised by `reg` x its mean eigenvalue."""
    mats = []
    for part in ("d", "c"):
        sw = stats[f"{part}_within"].astype(np.float64)
        vals, vecs = np.linalg.eigh(sw)
        vals = np.maximum(vals, 0) + reg * max(float(vals.mean()), 1e-12)
        mats.append((vecs / np.sqrt(vals)) @ vecs.T)
    return mats[0].astype(np.float32), mats[1].astype(np.float32)


EXCLUDED = {f"ravdess{i:02d}" for i in range(1, 9)}
"""Speakers of the demo calls (demo/calls/*.script.json: RAVDESS actors 1-8)."""


def build(data: Path, step_s: float = 0.4) -> dict[str, np.ndarray]:
    from processors.audio.io import load_audio
    from processors.diarization.embedder import EMBED_WINDOW, speaker_features

    feats, speakers = [], []
    step = int(step_s * 16000)
    for path in sorted(data.rglob("*.flac")):
        speaker = speaker_of(path)
        if speaker is None or speaker in EXCLUDED:
            continue
        audio = load_audio(path).samples
        if len(audio) < EMBED_WINDOW:
            continue
        windows = np.stack([audio[s:s + EMBED_WINDOW] for s in range(0, len(audio) - EMBED_WINDOW + 1, step)])
        energy = np.sqrt(np.mean(windows ** 2, axis=1))
        windows = windows[energy > 0.1 * energy.max()]  # leading/trailing silence of the clips
        feats.append(speaker_features(windows))
        speakers += [speaker] * len(windows)
    features = np.concatenate(feats)
    stats = within_speaker_stats(features, speakers)
    stats["speakers"] = np.asarray(len(set(speakers)))
    stats["windows"] = np.asarray(len(features))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data" / "ser")
    parser.add_argument("--out", type=Path, default=STATS_PATH)
    args = parser.parse_args(argv)
    stats = build(args.data)
    np.savez_compressed(args.out, **stats)
    print(f"{int(stats['windows'])} windows of {int(stats['speakers'])} speakers -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
