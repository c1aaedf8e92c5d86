"""Speaker clustering of one call's embeddings, re-clustered as the call grows.

Input: one speaker feature vector per 0.8 s slot of speech (`embedder.speaker_features`: the
256-d d-vector + the mean and spread of 19 cepstral coefficients).
Output: an integer speaker id per slot, stable over the call (ids are never reused).

Why not plain cosine on d-vectors: the wheel's d-vectors of two people on one line are still ~0.9
cosine apart at the centroid level (channel and language dominate a 0.8 s window). Each part is
normalised with the call's own statistics (d-vectors centred, cepstral statistics z-scored), which
removes what every speaker of the call shares; the cepstral part adds channel/timbre cues
(agent headset vs customer handset on a mixed mono call).

Every new full slot is added to the memory (the latest `memory` slots) and the memory is
re-clustered (spectral clustering as in Wang et al. 2018: cosine affinity, row-wise top-p
pruning, symmetrisation, diffusion, normalised Laplacian, speaker count from the largest eigengap
up to `max_speakers`, k-means on the eigenvectors); the new clusters inherit the old ids by
maximum member overlap (Hungarian), and the slot takes its cluster's id. Until the memory holds
`min_memory` slots a slot joins the nearest speaker, or founds one when its raw d-vector cosine to
all is below `new_speaker_threshold`. Short pieces (repeated to fill the window) never enter the
memory; they join the nearest speaker.

Within-speaker covariance normalisation (`wccn_reg`, processors/diarization/wccn.py) learnt on
24 other speakers shrinks the directions in which one voice's windows move with what is said.

`final_clustering()` clusters the whole memory once more, apart from the online state, for
relabelling speech already emitted (see labeler.py), with its own cepstral weight
(`final_cepstral_weight`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg import eigh
from scipy.optimize import linear_sum_assignment

DVEC = 256


@dataclass
class ClusteringConfig:
    """Chosen defaults come from bench/der_select.py --selection-set two_party: the lowest pooled DER
    (no collar) of 24 synthetic two-party calls (bench/two_party_calls.py), `sample`, AMI and the
    demo calls never taking part (record: bench/results/der_select_two_party.json). The earlier
    AMI-only choice (bench/results/der_select.json) split late, the wrong prior for a two-party call."""

    new_speaker_threshold: float = 0.5
    min_speakers: int = 2
    """A mono call has an agent and a customer: the memory is split in at least this many (a product
    decision, not tuned: the AMI meetings would rather not be split at all, see __init__.py)."""
    max_speakers: int = 2
    memory: int = 150
    """Slots kept for re-clustering (float16 in the state: ~0.6 KB each)."""
    min_memory: int = 12
    """Slots (0.8 s each) of speech before the first clustering; until then a slot joins the nearest
    speaker or founds one (raw cosine below `new_speaker_threshold`, which this embedder's
    d-vectors of two people on one line hardly ever reach). Chosen on the two-party calls from
    5 / 8 / 12 / 16 (AMI chose 16): an early forced split cuts the first voice in two; a late one
    leaves a second voice heard in the first ~10 s of speech unrecognised live."""
    min_cluster_slots: int = 3
    """The memory must hold this many slots per speaker before a split into that many is tried."""
    prune_keep: float = 0.3
    """Share of each row's affinities kept before diffusion (the rest scaled by 0.01)."""
    cepstral_weight: float = 0.0
    """Weight of the cepstral part against the d-vector part (both unit-normalised), online.
    Chosen on the two-party calls from 0 / 0.5 / 1 / 2 (jointly with `wccn_reg`, `min_memory`,
    smoothing; AMI chose 0 too)."""
    wccn_reg: float | None = 1.0
    """Within-speaker covariance normalisation of both parts (processors/diarization/wccn.py),
    regularised by this share of the mean eigenvalue; None: off. Chosen on the two-party calls
    from None / 0.1 / 0.3 / 1 (AMI chose 0.3)."""
    first_split: str = "forced"
    """Speaker-count decision before a call's first split: "forced" (split in `min_speakers` as
    soon as `min_memory` slots are in) or "eigengap" (stay one speaker until the eigengap says two;
    from then on at least `min_speakers`). AMI chose "eigengap" (pooled as-emitted DER 47.6% vs
    48.7%) but its leave-one-clip-out DER was worse (49.1%): kept "forced". The eigengap of a
    call-centred memory is no real count test: it also splits one voice of random spread."""
    single_speaker_gap: float = 0.0
    """Eigengap margin a split must win by over staying one speaker."""
    method: str = "spectral"
    """"spectral", or "kmeans" (directly on the normalised features; only when min = max speakers)."""
    final_cepstral_weight: float = 0.0
    """Cepstral weight of the re-clustering that relabels emitted speech (`final_clustering`).
    Chosen on the two-party calls (relabelled DER, with `relabel_context` 1) from 0 / 0.5 / 0.75 /
    1 / 1.5 / 2: 0 with context 1 gave 30.7% pooled, 32.0% leave-one-call-out, against 32.1% for
    context 0 (AMI had chosen 1)."""


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


def _kmeans(x: np.ndarray, k: int, iters: int = 30) -> np.ndarray:
    """Deterministic k-means (farthest-point init) on rows of x."""
    centers = [x[0]]
    for _ in range(1, k):
        d = np.min([np.sum((x - c) ** 2, axis=1) for c in centers], axis=0)
        centers.append(x[int(np.argmax(d))])
    c = np.stack(centers)
    labels = np.full(len(x), -1)
    for _ in range(iters):
        new = np.argmin(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            if np.any(labels == j):
                c[j] = x[labels == j].mean(axis=0)
    return labels


class Projection:
    """Call-normalised view of raw speaker features (see module docstring)."""

    def __init__(self, memory: np.ndarray, cepstral_weight: float, wccn_reg: float | None = None):
        self.w = cepstral_weight
        self.d_mean = memory[:, :DVEC].mean(axis=0)
        self.c_mean = memory[:, DVEC:].mean(axis=0)
        self.c_std = memory[:, DVEC:].std(axis=0) + 1e-3
        if wccn_reg is None:
            self.wccn = None
        else:
            from processors.diarization.wccn import (
                transforms,  # lazy: `python -m ...wccn` runs it as __main__
            )

            self.wccn = transforms(float(wccn_reg))

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.atleast_2d(raw)
        d = raw[:, :DVEC] - self.d_mean
        if self.wccn is not None:
            d = d @ self.wccn[0]
        d = _unit(d)
        if raw.shape[1] == DVEC or self.w == 0:
            return d
        if self.wccn is not None:
            c = _unit((raw[:, DVEC:] - self.c_mean) @ self.wccn[1])
        else:
            c = _unit((raw[:, DVEC:] - self.c_mean) / self.c_std)
        return np.hstack([d, self.w * c]) / np.sqrt(1 + self.w ** 2)


def _best_kmeans(x: np.ndarray, k: int, tries: int = 5) -> np.ndarray:
    """k-means from several deterministic starts (farthest-point from rows 0, n/5, ...), least inertia."""
    best, best_inertia = None, np.inf
    n = len(x)
    for t in range(min(tries, n)):
        start = (t * n) // tries
        order = np.r_[start, np.delete(np.arange(n), start)]
        labels = np.empty(n, int)
        labels[order] = _kmeans(x[order], k)
        inertia = sum(float(((x[labels == j] - x[labels == j].mean(axis=0)) ** 2).sum()) for j in set(labels.tolist()))
        if inertia < best_inertia - 1e-9:
            best, best_inertia = labels, inertia
    return best


def spectral_clusters(x: np.ndarray, cfg: ClusteringConfig) -> np.ndarray:
    """Cluster ids 0..k-1 for rows of x (unit vectors, already call-normalised)."""
    n = len(x)
    if n < 4:
        return np.zeros(n, int)
    if cfg.method == "kmeans" and cfg.min_speakers == cfg.max_speakers:
        return _best_kmeans(x, cfg.max_speakers) if n >= 2 * cfg.max_speakers else np.zeros(n, int)
    aff = (np.clip(x @ x.T, -1.0, 1.0) + 1.0) / 2.0
    keep = max(2, int(np.ceil(cfg.prune_keep * n)))
    thresh = -np.sort(-aff, axis=1)[:, keep - 1:keep]
    aff = np.where(aff >= thresh, aff, aff * 0.01)
    aff = np.maximum(aff, aff.T)
    aff = aff @ aff.T
    aff = aff / aff.max(axis=1, keepdims=True)
    d = 1.0 / np.sqrt(aff.sum(axis=1))
    lap = np.eye(n) - d[:, None] * aff * d[None, :]
    kmax = max(1, min(cfg.max_speakers, n // cfg.min_cluster_slots))
    kmin = min(cfg.min_speakers, kmax)
    if kmax == 1:
        return np.zeros(n, int)
    # only the kmax + 1 smallest eigenpairs are used: ~3x cheaper than a full eigh at 150 slots
    vals, vecs = eigh(lap, subset_by_index=[0, min(n - 1, kmax)], driver="evr")
    gaps = np.diff(vals[: kmax + 1])
    gaps[0] -= cfg.single_speaker_gap
    gaps[: kmin - 1] = -np.inf
    k = int(np.argmax(gaps)) + 1
    if k == 1:
        return np.zeros(n, int)
    return _kmeans(_unit(vecs[:, :k]), k)


class OnlineClusterer:
    def __init__(self, cfg: ClusteringConfig | None = None):
        self.cfg = cfg or ClusteringConfig()
        self.memory = np.zeros((0, 0), np.float16)
        self.memory_labels: list[int] = []
        self.next_id = 0
        self.centroids_raw: dict[int, np.ndarray] = {}
        """Mean raw feature of each active speaker (from the latest clustering)."""
        self.added = 0
        """Slots ever added to the memory: slot `serial` is memory row serial - (added - len(memory))."""
        self.last_serial: int | None = None
        """Serial of the slot the latest `assign` added to the memory (None: it was not added)."""

    def label_of(self, serial: int) -> int | None:
        """The latest clustering's speaker of a slot still in the memory (None once it has left)."""
        row = serial - (self.added - len(self.memory))
        return self.memory_labels[row] if 0 <= row < len(self.memory_labels) else None

    def _update_centroids(self) -> None:
        mem = self.memory.astype(np.float32)
        labels = np.asarray(self.memory_labels)
        self.centroids_raw = {int(i): mem[labels == i].mean(axis=0) for i in sorted(set(self.memory_labels))}

    def similarities(self, dvector: np.ndarray) -> dict[int, float]:
        """Raw d-vector cosine of `dvector` with each active speaker (voiceprint matching)."""
        v = _unit(np.asarray(dvector, np.float32)[:DVEC])
        return {i: float(_unit(c[:DVEC]) @ v) for i, c in self.centroids_raw.items()}

    def nearest(self, raw: np.ndarray) -> int:
        """The active speaker closest to these features (call-normalised space)."""
        ids = list(self.centroids_raw)
        if len(ids) == 1 or len(self.memory) < 2:
            sims = [float(_unit(self.centroids_raw[i][:DVEC]) @ _unit(raw[:DVEC])) for i in ids]
        else:
            proj = Projection(self.memory.astype(np.float32), self.cfg.cepstral_weight, self.cfg.wccn_reg)
            cents = proj(np.stack([self.centroids_raw[i] for i in ids]))
            sims = (cents @ proj(raw)[0]).tolist()
        return ids[int(np.argmax(sims))]

    def assign(self, raw: np.ndarray, full: bool, context: np.ndarray | None = None) -> int:
        """Speaker id of a slot. `context`: the previous slot's features in the same stretch of speech;
        when given, the slot is labelled from the mean of both (1.6 s of evidence instead of 0.8 s)."""
        raw = np.asarray(raw, np.float32)
        self.last_serial = None
        if not self.centroids_raw:
            label = self.next_id
            self.next_id += 1
        elif not full:
            return self.nearest(raw)
        elif len(self.memory) + 1 < self.cfg.min_memory:
            sims = self.similarities(raw)
            if max(sims.values()) < self.cfg.new_speaker_threshold and len(sims) < self.cfg.max_speakers:
                label = self.next_id
                self.next_id += 1
            else:
                label = self.nearest(raw)
        else:
            label = -1
        row = raw[None, :].astype(np.float16)
        self.memory = row if len(self.memory) == 0 else np.vstack([self.memory, row])
        self.memory_labels.append(label)
        self.last_serial = self.added
        self.added += 1
        if len(self.memory) > self.cfg.memory:
            self.memory = self.memory[-self.cfg.memory:]
            self.memory_labels = self.memory_labels[-self.cfg.memory:]
        if len(self.memory) >= self.cfg.min_memory:
            self.recluster()
            label = self.memory_labels[-1]
            if context is not None and len(self.centroids_raw) > 1:
                label = self.nearest((raw + np.asarray(context, np.float32)) / 2)
        else:
            self._update_centroids()
        return label

    def _inherit_ids(self, new: np.ndarray, next_id: int) -> tuple[dict[int, int], int]:
        """Map clusters 0..k-1 of the memory to speaker ids: each takes the old id it shares most
        slots with (Hungarian); the others get fresh ids from `next_id`."""
        old = np.asarray(self.memory_labels)
        old_ids = sorted(i for i in set(old.tolist()) if i >= 0)
        k = int(new.max()) + 1 if len(new) else 0
        overlap = np.array([[np.sum((new == j) & (old == i)) for i in old_ids] for j in range(k)]).reshape(k, len(old_ids))
        mapping: dict[int, int] = {}
        if overlap.size:
            rows, cols = linear_sum_assignment(-overlap)
            mapping = {int(r): old_ids[c] for r, c in zip(rows, cols) if overlap[r, c] > 0}
        for j in range(k):
            if j not in mapping:
                mapping[j] = next_id
                next_id += 1
        return mapping, next_id

    def recluster(self) -> None:
        mem = self.memory.astype(np.float32)
        x = Projection(mem, self.cfg.cepstral_weight, self.cfg.wccn_reg)(mem)
        cfg = self.cfg
        if cfg.first_split == "eigengap" and len(self.centroids_raw) < 2:
            cfg = replace(cfg, min_speakers=1)
        new = spectral_clusters(x, cfg)
        mapping, self.next_id = self._inherit_ids(new, self.next_id)
        self.memory_labels = [mapping[int(j)] for j in new]
        self._update_centroids()

    def final_clustering(self) -> tuple[list[int], Projection | None, dict[int, np.ndarray]]:
        """A fresh clustering of the whole memory for relabelling speech already emitted (the
        online one stays as it is): cepstral part weighted `final_cepstral_weight`, ids inherited
        from the online labels. Returns the label of each memory row, the projection used and
        the projected centroid of each speaker (to place pieces that never entered the memory)."""
        mem = self.memory.astype(np.float32)
        if len(mem) < self.cfg.min_memory:
            return list(self.memory_labels), None, {}
        proj = Projection(mem, self.cfg.final_cepstral_weight, self.cfg.wccn_reg)
        x = proj(mem)
        new = spectral_clusters(x, self.cfg)
        mapping, _ = self._inherit_ids(new, self.next_id)
        labels = [mapping[int(j)] for j in new]
        centroids = {mapping[j]: _unit(x[new == j].mean(axis=0)) for j in sorted(set(new.tolist()))}
        return labels, proj, centroids

    def to_state(self) -> dict:
        return {"memory": self.memory, "memory_labels": self.memory_labels, "next_id": self.next_id,
                "added": self.added}

    def load_state(self, st: dict) -> None:
        self.memory = np.asarray(st["memory"], np.float16)
        self.memory_labels = [int(v) for v in st["memory_labels"]]
        self.next_id = int(st["next_id"])
        self.added = int(st.get("added", len(self.memory)))
        if len(self.memory):
            self._update_centroids()
