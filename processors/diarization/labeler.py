"""Mono calls: label each stretch of speech with a speaker, as the speech arrives.

Input: the speech gate's events of the (single) channel: region start, audio, region end.
Output: (audio, speaker label) pieces for the turn assembler, which starts a new turn whenever
the label changes.

Speech is labelled in slots of `slot_s` (0.8 s): each slot's label comes from one embedding of the
0.82 s window starting at the slot (so a speaker change is found within one slot, ~0.8 s late);
the end of a region is labelled from the region's last 0.82 s (regions shorter than that are
repeated to fill the window and may only join an existing speaker). One embedding per slot costs
~13-18 ms per second of speech; `slot_s` trades change resolution for CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from processors.diarization.clustering import ClusteringConfig, OnlineClusterer
from processors.diarization.embedder import EMBED_WINDOW, fit_window, speaker_features
from processors.diarization.roles import RoleAssigner
from processors.types import SAMPLE_RATE, CallInfo


@dataclass
class DiarizationConfig:
    slot_s: float = 0.8
    """Speech labelled per embedding (speaker-change resolution)."""
    tail_reuse_s: float = 0.3
    """A region's unlabelled tail shorter than this reuses the previous slot's label (no embedding)."""
    voiceprint_threshold: float = 0.6
    new_speaker_threshold: float = 0.5
    min_speakers: int = 2
    max_speakers: int = 2
    memory: int = 150
    min_memory: int = 4
    prune_keep: float = 0.3
    cepstral_weight: float = 3.0
    single_speaker_gap: float = 0.0
    method: str = "spectral"
    smooth_slots: bool = True
    """Label a slot from its features averaged with the previous slot's (same stretch of speech)."""

    @classmethod
    def from_overrides(cls, overrides: dict | None) -> "DiarizationConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(overrides or {}) - known
        if unknown:
            raise ValueError(f"unknown diarization settings: {sorted(unknown)}")
        return cls(**(overrides or {}))

    def clustering(self) -> ClusteringConfig:
        names = {f.name for f in fields(ClusteringConfig)}
        return ClusteringConfig(**{k: getattr(self, k) for k in names})


def label_name(cluster: int) -> str:
    return f"spk{cluster}"


class SpeakerLabeler:
    def __init__(self, call: CallInfo, overrides: dict | None = None):
        self.cfg = DiarizationConfig.from_overrides(overrides)
        self.slot = int(round(self.cfg.slot_s * SAMPLE_RATE))
        self.tail_reuse = int(round(self.cfg.tail_reuse_s * SAMPLE_RATE))
        self.clusterer = OnlineClusterer(self.cfg.clustering())
        self.roles = RoleAssigner(call.agent_voiceprint, self.cfg.voiceprint_threshold)
        self.region_start = 0
        self.buf = np.zeros(0, np.float32)
        self.buf_start = 0
        """Call sample of buf[0]; buf keeps up to EMBED_WINDOW samples before `labeled` as context."""
        self.labeled = 0
        self.last_label: int | None = None
        self.prev_feature: np.ndarray | None = None
        """Features of the previous slot of the current stretch of speech (slot smoothing)."""
        self.embeddings = 0

    def on_start(self, sample: int) -> None:
        self.region_start = self.buf_start = self.labeled = sample
        self.buf = np.zeros(0, np.float32)
        self.last_label = None
        self.prev_feature = None

    def _piece(self, a: int, b: int) -> np.ndarray:
        return self.buf[a - self.buf_start:b - self.buf_start]

    def on_audio(self, audio: np.ndarray) -> list[tuple[np.ndarray, str]]:
        self.buf = np.concatenate([self.buf, np.asarray(audio, np.float32)])
        end = self.buf_start + len(self.buf)
        starts = []
        s = self.labeled
        while s + max(self.slot, EMBED_WINDOW) <= end:
            starts.append(s)
            s += self.slot
        if not starts:
            return []
        emb = speaker_features(np.stack([self._piece(s, s + EMBED_WINDOW) for s in starts]))
        self.embeddings += len(starts)
        out = []
        for s, e in zip(starts, emb):
            context = self.prev_feature if self.cfg.smooth_slots else None
            self.last_label = self.clusterer.assign(e, full=True, context=context)
            self.prev_feature = e
            out.append((self._piece(s, s + self.slot).copy(), label_name(self.last_label)))
        self.labeled = starts[-1] + self.slot
        self._trim()
        return out

    def on_end(self, sample: int) -> list[tuple[np.ndarray, str]]:
        end = self.buf_start + len(self.buf)
        if end <= self.labeled:
            return []
        rest = self._piece(self.labeled, end).copy()
        if self.last_label is not None and len(rest) < self.tail_reuse:
            label = self.last_label
        else:
            context = self._piece(max(self.region_start, end - EMBED_WINDOW), end)
            full = end - self.region_start >= EMBED_WINDOW
            e = speaker_features(fit_window(context)[None, :])[0]
            self.embeddings += 1
            label = self.clusterer.assign(e, full=full)
        self.labeled = end
        self.buf = np.zeros(0, np.float32)
        self.buf_start = end
        return [(rest, label_name(label))]

    def _trim(self) -> None:
        drop = max(0, self.labeled - EMBED_WINDOW - self.buf_start)
        if drop:
            self.buf = self.buf[drop:].copy()
            self.buf_start += drop

    def role(self, label: str) -> str:
        cluster = int(label[3:])
        sims = {}
        if self.roles.voiceprint is not None:
            sims = self.clusterer.similarities(self.roles.voiceprint)
        return self.roles.role(cluster, sims)

    @property
    def pending_samples(self) -> int:
        return max(0, self.buf_start + len(self.buf) - self.labeled)

    def to_state(self) -> dict:
        return {"clusterer": self.clusterer.to_state(), "roles": self.roles.to_state(),
                "region_start": self.region_start, "buf": self.buf, "buf_start": self.buf_start,
                "labeled": self.labeled, "last_label": self.last_label, "embeddings": self.embeddings,
                "prev_feature": self.prev_feature}

    def load_state(self, st: dict) -> None:
        self.clusterer.load_state(st["clusterer"])
        self.roles.load_state(st["roles"])
        self.region_start, self.buf_start, self.labeled = int(st["region_start"]), int(st["buf_start"]), int(st["labeled"])
        self.buf = np.asarray(st["buf"], np.float32)
        self.last_label = None if st["last_label"] is None else int(st["last_label"])
        self.embeddings = int(st["embeddings"])
        prev = st.get("prev_feature")
        self.prev_feature = None if prev is None else np.asarray(prev, np.float32)
