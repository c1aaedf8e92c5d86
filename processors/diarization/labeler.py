"""Mono calls: label each stretch of speech with a speaker, as the speech arrives.

Input: the speech gate's events of the (single) channel: region start, audio, region end.
Output: (audio, speaker label) pieces for the turn assembler, which starts a new turn whenever
the label changes.

Speech is labelled in slots of `slot_s` (0.8 s): each slot's label comes from one embedding of the
0.82 s window starting at the slot (so a speaker change is found within one slot, ~0.8 s late);
the end of a region is labelled from the region's last 0.82 s (regions shorter than that are
repeated to fill the window and may only join an existing speaker). One embedding per slot costs
~13-18 ms per second of speech; `slot_s` trades change resolution for CPU.

Every emitted piece is logged (start, end, its slot in the clusterer's memory, or its features
when it never entered the memory) for as long as its slot stays in the memory, so that
`current_segments()` can relabel the emitted speech by a fresh clustering of the whole memory
(`OnlineClusterer.final_clustering`): the relabelled hypothesis of bench/der.py and
`callpulse diarize --relabel`. The log is part of the state (bounded by the memory horizon).

Online revisions (`take_revisions`, `revision_source`): while a piece's slot is still in the
memory, a later clustering may put it with another speaker; each such change is reported once as
(start, end, new label), for the stream to publish as a revision of the turn that holds it
(`relabel.revisions_by_turn`). Emitted turns are never held back for it. Measured on AMI they did
not help within 5 s (off by default, see `DiarizationConfig.revision_source`).

Overlap: one label per slot; the quieter voice of an overlap is not labelled (see __init__.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from processors.diarization.clustering import (
    ClusteringConfig,
    OnlineClusterer,
    Projection,
)
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
    smooth_slots: bool = True
    """Without look-ahead: label a slot from its features averaged with the previous slot's.
    Chosen on the two-party calls (bench/der_select.py --selection-set two_party, jointly with the
    online clustering settings); AMI had preferred off (48.7% vs 48.9%)."""
    lookahead: bool = False
    """Label a slot once the next one is embedded, from the mean features of the slots before, at
    and after it (same stretch of speech): a change is placed at the right slot, for one more slot
    (0.8 s) of latency when a turn ends by a change of speaker -- outside the latency budget, so
    off and not part of the selection. Measured with the AMI-chosen settings (as-emitted DER, no
    collar): AMI pooled 48.4% -> 48.0%, sample 40.1% -> 33.9%; relabelled unchanged."""
    revision_source: str = "online"
    """Online revisions of emitted labels (`SpeakerLabeler.take_revisions`): "final" (a fresh
    clustering of the memory with the end-of-call weights), "online" (the online clustering's
    labels) or "off". "online" with context 1 chosen on the two-party calls (DER after revisions
    within 5 s: 31.4% vs 32.4% off, leave-one-call-out 31.7%); AMI had rejected revisions (held
    out 1.5 points worse; on 30 s clips early clusterings are unstable). Revisions are a separate
    output: what is emitted is unchanged (on `sample` the revised DER is worse: 31.8% vs 25.7%)."""
    revision_min_memory: int = 0
    """No revisions before the memory holds this many slots (early clusterings are unstable)."""
    revision_every: int = 1
    """New memory slots between two revision passes (each "final" pass is one more clustering)."""
    revision_context: int = 1
    """Revisions label each piece from the mean of its features and of up to this many
    neighbouring slots' on each side (same continuous speech); 0: each slot by its cluster."""
    relabel_context: int = 1
    """The same for the end-of-call relabelling (`current_segments`); 1 chosen on the two-party calls."""
    revision_smoothing: bool = True
    """Revisions also give a lone one-slot flip inside continuous speech its neighbours' label."""

    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)
    """Speaker-clustering settings (processors/diarization/clustering.py)."""

    @classmethod
    def from_overrides(cls, overrides: dict | None) -> DiarizationConfig:
        """Flat overrides: a name of this class or of ClusteringConfig (e.g. "max_speakers")."""
        overrides = dict(overrides or {})
        own = {f.name for f in fields(cls)} - {"clustering"}
        clustering = {f.name for f in fields(ClusteringConfig)}
        unknown = set(overrides) - own - clustering
        if unknown:
            raise ValueError(f"unknown diarization settings: {sorted(unknown)}")
        return cls(**{k: v for k, v in overrides.items() if k in own},
                   clustering=ClusteringConfig(**{k: v for k, v in overrides.items() if k in clustering}))


def label_name(cluster: int) -> str:
    return f"spk{cluster}"


class SpeakerLabeler:
    def __init__(self, call: CallInfo, overrides: dict | None = None):
        self.cfg = DiarizationConfig.from_overrides(overrides)
        self.slot = int(round(self.cfg.slot_s * SAMPLE_RATE))
        self.tail_reuse = int(round(self.cfg.tail_reuse_s * SAMPLE_RATE))
        self.clusterer = OnlineClusterer(self.cfg.clustering)
        self.roles = RoleAssigner(call.agent_voiceprint, self.cfg.voiceprint_threshold)
        self.region_start = 0
        self.buf = np.zeros(0, np.float32)
        self.buf_start = 0
        """Call sample of buf[0]; buf keeps up to EMBED_WINDOW samples before `labeled` as context."""
        self.labeled = 0
        self.last_label: int | None = None
        self.prev_feature: np.ndarray | None = None
        """Features of the previous slot of the current stretch of speech (slot smoothing)."""
        self.pending: tuple[int, np.ndarray, int, int] | None = None
        """Look-ahead: (start, features, raw label, memory serial) of the slot waiting for its successor."""
        self.embeddings = 0
        self.revised_at = 0
        """Clusterer slot count at the latest revision pass."""
        self.log: list[list] = []
        """Emitted pieces still within the clusterer's memory horizon, for `current_segments` and
        `take_revisions`: [start, end, memory serial (-1: not in the memory), the cluster the
        consumer has now (emitted, or last revised), features (float16) or None]."""

    def on_start(self, sample: int) -> None:
        self.region_start = self.buf_start = self.labeled = sample
        self.buf = np.zeros(0, np.float32)
        self.last_label = None
        self.prev_feature = None
        self.pending = None

    def _piece(self, a: int, b: int) -> np.ndarray:
        return self.buf[a - self.buf_start:b - self.buf_start]

    def _decide(self, features: list[np.ndarray], fallback: int) -> int:
        """Label from the mean of neighbouring slots' features, once two speakers are known."""
        if len(self.clusterer.centroids_raw) < 2:
            return fallback
        return self.clusterer.nearest(np.mean(features, axis=0))

    def _emit_pending(self, next_feature: np.ndarray | None) -> tuple[np.ndarray, str]:
        start, feature, raw, serial = self.pending
        neighbours = [f for f in (self.prev_feature, feature, next_feature) if f is not None]
        label = self._decide(neighbours, raw) if self.cfg.lookahead else raw
        self.prev_feature, self.pending, self.last_label = feature, None, label
        self._record(start, start + self.slot, serial, label, feature)
        return self._piece(start, start + self.slot).copy(), label_name(label)

    def _record(self, start: int, end: int, serial: int | None, label: int, feature: np.ndarray | None) -> None:
        """Log an emitted piece; forget pieces whose slots have left the clusterer's memory."""
        in_memory = serial is not None and serial >= 0
        self.log.append([int(start), int(end), serial if in_memory else -1, int(label),
                         None if in_memory or feature is None else np.asarray(feature, np.float16)])
        oldest = self.clusterer.added - len(self.clusterer.memory)
        gone = [i for i, e in enumerate(self.log) if 0 <= e[2] < oldest]
        if gone:
            del self.log[: gone[-1] + 1]
        cap = 4 * self.clusterer.cfg.memory  # a call of only short pieces never fills the memory
        if len(self.log) > cap:
            del self.log[: len(self.log) - cap]

    def _relabelled(self, source: str, context: int = 0) -> list[int | None]:
        """The latest label of each log entry (None: no opinion). "final": a fresh clustering of the
        whole memory (`OnlineClusterer.final_clustering`), "online": the online clustering. With
        `context` 0 a slot takes its cluster and a piece that never entered the memory its nearest
        speaker; with `context` c every piece takes the speaker nearest to the mean of its own and
        up to c neighbours' features on each side within the same continuous speech."""
        if source == "online":
            if context == 0:
                return [self.clusterer.label_of(e[2]) if e[2] >= 0 else None for e in self.log]
            if len(self.clusterer.centroids_raw) < 2 or len(self.clusterer.memory) < 2:
                return [None] * len(self.log)
            proj = Projection(self.clusterer.memory.astype(np.float32), self.clusterer.cfg.cepstral_weight,
                              self.clusterer.cfg.wccn_reg)
            ids = list(self.clusterer.centroids_raw)
            centroids = dict(zip(ids, proj(np.stack([self.clusterer.centroids_raw[i] for i in ids]))))
            labels = None
        else:
            labels, proj, centroids = self.clusterer.final_clustering()
        if proj is None or not centroids:
            return [None] * len(self.log)
        offset = self.clusterer.added - len(self.clusterer.memory)
        ids = list(centroids)
        cents = np.stack([centroids[i] for i in ids])
        memory = self.clusterer.memory
        raw = []
        for _, _, serial, _, feature in self.log:
            row = serial - offset if serial >= 0 else -1
            raw.append(memory[row] if 0 <= row < len(memory) else feature)
        known = [i for i, f in enumerate(raw) if f is not None]
        x = np.zeros((len(raw), cents.shape[1]), np.float32)
        if known:
            x[known] = proj(np.stack([np.asarray(raw[i], np.float32) for i in known]))
        out: list[int | None] = []
        for i, (_, _, serial, _, _) in enumerate(self.log):
            row = serial - offset if serial >= 0 else -1
            if context == 0 and labels is not None and 0 <= row < len(labels):
                out.append(int(labels[row]) if labels[row] >= 0 else None)
                continue
            if raw[i] is None:
                out.append(None)
                continue
            members = [i]
            for step in (-1, 1):
                j = i
                while abs(j - i) < context:
                    k = j + step
                    if not 0 <= k < len(self.log) or raw[k] is None:
                        break
                    touching = self.log[k][1] == self.log[j][0] if step < 0 else self.log[k][0] == self.log[j][1]
                    if not touching:
                        break
                    j = k
                    members.append(j)
            out.append(ids[int(np.argmax(cents @ x[members].mean(axis=0)))])
        return out

    def _smooth_flips(self, labels: list[int | None]) -> list[int | None]:
        """A piece of at most one slot, inside continuous speech, whose neighbours on both sides
        agree with each other and not with it, takes their label (a lone 0.8 s flip is more often
        a bad window than a reply that short)."""
        out = list(labels)
        log = self.log
        for i in range(1, len(log) - 1):
            before, here, after = labels[i - 1], labels[i], labels[i + 1]
            if (before is not None and before == after and here != before
                    and log[i][1] - log[i][0] <= self.slot
                    and log[i - 1][1] == log[i][0] and log[i][1] == log[i + 1][0]):
                out[i] = before
        return out

    def current_segments(self) -> list[tuple[int, int, str]]:
        """(start, end, label) of the emitted speech still in the clusterer's memory horizon (the
        last `memory` slots), each labelled by a fresh clustering of the whole memory: a slot by
        its cluster, a piece that never entered the memory (short tail or region) by its nearest
        speaker now. Older speech keeps the label the consumer has (emitted or revised)."""
        labels = self._relabelled("final", self.cfg.relabel_context)
        return [(e[0], e[1], label_name(e[3] if lab is None else lab)) for e, lab in zip(self.log, labels)]

    def take_revisions(self) -> list[tuple[int, int, str]]:
        """(start sample, end sample, new label) of emitted pieces still in the clusterer's memory
        whose speaker the latest clustering (`revision_source`) now puts elsewhere, each reported
        once per change; older pieces are final. A stream publishes these as label revisions of
        the turns that hold those samples (a turn may be split). Call after each `on_audio` /
        `on_end`: a re-clustering for revisions runs every `revision_every` new slots."""
        source = self.cfg.revision_source
        if (source == "off" or not self.log or len(self.clusterer.memory) < self.cfg.revision_min_memory
                or self.clusterer.added - self.revised_at < self.cfg.revision_every):
            return []
        self.revised_at = self.clusterer.added
        labels = self._relabelled(source, self.cfg.revision_context)
        if self.cfg.revision_smoothing:
            labels = self._smooth_flips(labels)
        out: list[tuple[int, int, str]] = []
        for entry, now in zip(self.log, labels):
            if now is not None and now != entry[3]:
                entry[3] = now
                out.append((entry[0], entry[1], label_name(now)))
        return out

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
            if self.cfg.lookahead:
                raw = self.clusterer.assign(e, full=True)
                serial = self.clusterer.last_serial
                if self.pending is not None:
                    out.append(self._emit_pending(e))
                self.pending = (s, e, raw, -1 if serial is None else serial)
            else:
                context = self.prev_feature if self.cfg.smooth_slots else None
                self.last_label = self.clusterer.assign(e, full=True, context=context)
                self._record(s, s + self.slot, self.clusterer.last_serial, self.last_label, e)
                self.prev_feature = e
                out.append((self._piece(s, s + self.slot).copy(), label_name(self.last_label)))
        self.labeled = starts[-1] + self.slot
        self._trim()
        return out

    def on_end(self, sample: int) -> list[tuple[np.ndarray, str]]:
        end = self.buf_start + len(self.buf)
        out = []
        rest = self._piece(self.labeled, end).copy() if end > self.labeled else None
        tail_feature = None
        tail_raw = None
        if rest is not None and (len(rest) >= self.tail_reuse or (self.pending is None and self.last_label is None)):
            context = self._piece(max(self.region_start, end - EMBED_WINDOW), end)
            full = end - self.region_start >= EMBED_WINDOW
            tail_feature = speaker_features(fit_window(context)[None, :])[0]
            self.embeddings += 1
            tail_raw = self.clusterer.assign(tail_feature, full=full)
            tail_serial = self.clusterer.last_serial
        if self.pending is not None:
            out.append(self._emit_pending(tail_feature))
        if rest is not None:
            if tail_feature is None:
                label = self.last_label
                # the previous slot's label: follow that slot's latest clustering
                prev = self.log[-1] if self.log else None
                serial, feature = (prev[2], prev[4]) if prev else (-1, None)
            else:
                label = self._decide([f for f in (self.prev_feature, tail_feature) if f is not None], tail_raw) \
                    if self.cfg.lookahead else tail_raw
                serial, feature = (-1 if tail_serial is None else tail_serial), tail_feature
            self._record(self.labeled, end, None if serial < 0 else serial, label, feature)
            out.append((rest, label_name(label)))
            self.last_label = label
        self.labeled = end
        self.buf = np.zeros(0, np.float32)
        self.buf_start = end
        self.prev_feature = None
        return out

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
        first = self.pending[0] if self.pending is not None else self.labeled
        return max(0, self.buf_start + len(self.buf) - first)

    def to_state(self) -> dict:
        return {"clusterer": self.clusterer.to_state(), "roles": self.roles.to_state(),
                "region_start": self.region_start, "buf": self.buf, "buf_start": self.buf_start,
                "labeled": self.labeled, "last_label": self.last_label, "embeddings": self.embeddings,
                "revised_at": self.revised_at,
                "prev_feature": self.prev_feature,
                "pending": None if self.pending is None else list(self.pending),
                "log": [list(e) for e in self.log]}

    def load_state(self, st: dict) -> None:
        self.clusterer.load_state(st["clusterer"])
        self.roles.load_state(st["roles"])
        self.region_start, self.buf_start, self.labeled = int(st["region_start"]), int(st["buf_start"]), int(st["labeled"])
        self.buf = np.asarray(st["buf"], np.float32)
        self.last_label = None if st["last_label"] is None else int(st["last_label"])
        self.embeddings = int(st["embeddings"])
        self.revised_at = int(st.get("revised_at", 0))
        prev = st.get("prev_feature")
        self.prev_feature = None if prev is None else np.asarray(prev, np.float32)
        pend = st.get("pending")
        self.pending = None if pend is None else (int(pend[0]), np.asarray(pend[1], np.float32), int(pend[2]),
                                                  int(pend[3]) if len(pend) > 3 else -1)
        self.log = [[int(a), int(b), int(c), int(d), None if f is None else np.asarray(f, np.float16)]
                    for a, b, c, d, f in st.get("log", [])]
