"""Speaker clustering of one call's embeddings: online assignment + periodic spectral re-clustering.

Input: unit-norm speaker embeddings as the call goes on.
Output: an integer speaker id per embedding, stable over the call (ids are never reused).

Why centring: the wheel's d-vectors of two different people on the same line are still ~0.9 cosine
apart at the centroid level (channel and language dominate a 0.8 s window); subtracting the call's
mean embedding removes that shared part and leaves the speaker (on `sample`, k-means purity of
0.8 s windows goes from 0.63 to 0.94).

* Online: an embedding joins the nearest speaker centroid (cosine in the centred space once two
  speakers exist); a full-length window founds a new speaker when its raw cosine to every
  centroid is below `new_speaker_threshold` (clearly another voice).
* Re-clustering: every `recluster_every` new full embeddings (every 2 while the call is young),
  spectral clustering of the remembered embeddings (the latest `memory`), centred: affinity
  pruned row-wise (keep the top `prune_keep`), symmetrised, diffused, normalised Laplacian,
  speaker count from the largest eigengap (1..`max_speakers`); a split is kept only if the raw
  cosine of the resulting centroids is below `merge_similarity`. The new clusters take over old
  ids by maximum member overlap (Hungarian), so ids stay stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

DIM = 256


@dataclass
class ClusteringConfig:
    new_speaker_threshold: float = 0.5
    max_speakers: int = 6
    recluster_every: int = 4
    memory: int = 120
    """Embeddings kept for re-clustering (float16, 512 bytes each in the state)."""
    prune_keep: float = 0.3
    """Share of each row's affinities kept before diffusion (the rest scaled by 0.01)."""
    merge_similarity: float = 0.97
    """Two clusters whose raw centroids are closer than this are one speaker."""


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


def _relabel(labels: np.ndarray) -> np.ndarray:
    _, inv = np.unique(labels, return_inverse=True)
    return inv


def spectral_clusters(emb: np.ndarray, cfg: ClusteringConfig) -> np.ndarray:
    """Cluster ids 0..k-1 for each row of `emb` (unit vectors, raw: centring is done here)."""
    n = len(emb)
    if n < 4:
        return np.zeros(n, int)
    centred = _unit(emb - emb.mean(axis=0))
    sim = np.clip(centred @ centred.T, -1.0, 1.0)
    aff = (sim + 1.0) / 2.0
    keep = max(2, int(np.ceil(cfg.prune_keep * n)))
    thresh = -np.sort(-aff, axis=1)[:, keep - 1:keep]
    aff = np.where(aff >= thresh, aff, aff * 0.01)
    aff = np.maximum(aff, aff.T)
    aff = aff @ aff.T
    aff = aff / aff.max(axis=1, keepdims=True)
    d = 1.0 / np.sqrt(aff.sum(axis=1))
    lap = np.eye(n) - d[:, None] * aff * d[None, :]
    vals, vecs = np.linalg.eigh(lap)
    kmax = max(1, min(cfg.max_speakers, n // 2))
    k = int(np.argmax(np.diff(vals[: kmax + 1]))) + 1 if kmax > 1 else 1
    if k == 1:
        return np.zeros(n, int)
    labels = _kmeans(_unit(vecs[:, :k]), k)
    # merge clusters whose raw centroids say "same voice"
    while True:
        ids = np.unique(labels)
        if len(ids) < 2:
            break
        cents = _unit(np.stack([emb[labels == i].mean(axis=0) for i in ids]))
        sim_c = cents @ cents.T
        np.fill_diagonal(sim_c, -1)
        a, b = np.unravel_index(np.argmax(sim_c), sim_c.shape)
        if sim_c[a, b] < cfg.merge_similarity:
            break
        labels[labels == ids[b]] = ids[a]
    return _relabel(labels)


class OnlineClusterer:
    def __init__(self, cfg: ClusteringConfig | None = None):
        self.cfg = cfg or ClusteringConfig()
        self.ids: list[int] = []
        """Active speaker ids, in the order of `sums`."""
        self.sums = np.zeros((0, DIM), np.float32)
        self.counts: list[int] = []
        self.next_id = 0
        self.memory = np.zeros((0, DIM), np.float16)
        self.memory_labels: list[int] = []
        self.since_recluster = 0

    def centroids(self) -> np.ndarray:
        return _unit(self.sums)

    def similarities(self, e: np.ndarray) -> dict[int, float]:
        """Raw cosine of `e` with each active speaker's centroid."""
        if not self.ids:
            return {}
        return dict(zip(self.ids, (self.centroids() @ np.asarray(e, np.float32)).tolist()))

    def _found(self, e: np.ndarray) -> int:
        label = self.next_id
        self.next_id += 1
        self.ids.append(label)
        self.sums = np.vstack([self.sums, e[None, :]])
        self.counts.append(1)
        return label

    def assign(self, e: np.ndarray, full: bool) -> int:
        e = np.asarray(e, np.float32)
        if not self.ids:
            label = self._found(e)
        else:
            raw = self.centroids() @ e
            if full and len(self.ids) < self.cfg.max_speakers and raw.max() < self.cfg.new_speaker_threshold:
                label = self._found(e)
            else:
                if len(self.ids) >= 2 and len(self.memory) >= 2:
                    mean = self.memory.astype(np.float32).mean(axis=0)
                    scores = _unit(self.sums / np.asarray(self.counts, np.float32)[:, None] - mean) @ _unit(e - mean)
                else:
                    scores = raw
                best = int(np.argmax(scores))
                label = self.ids[best]
                self.sums[best] += e
                self.counts[best] += 1
        if full:
            self.memory = np.vstack([self.memory, e[None, :].astype(np.float16)])[-self.cfg.memory:]
            self.memory_labels = (self.memory_labels + [label])[-self.cfg.memory:]
            self.since_recluster += 1
            every = 2 if len(self.memory) < 20 else self.cfg.recluster_every
            if self.since_recluster >= every:
                self.recluster()
        return label

    def recluster(self) -> None:
        self.since_recluster = 0
        emb = self.memory.astype(np.float32)
        if len(emb) < 4:
            return
        new = spectral_clusters(emb, self.cfg)
        old = np.asarray(self.memory_labels)
        old_ids = sorted(set(old.tolist()))
        k = int(new.max()) + 1
        overlap = np.array([[np.sum((new == j) & (old == i)) for i in old_ids] for j in range(k)])
        rows, cols = linear_sum_assignment(-overlap)
        mapping = {int(r): old_ids[c] for r, c in zip(rows, cols) if overlap[r, c] > 0}
        for j in range(k):
            if j not in mapping:
                mapping[j] = self.next_id
                self.next_id += 1
        labels = np.array([mapping[int(j)] for j in new])
        self.ids = sorted(set(labels.tolist()))
        self.sums = np.stack([emb[labels == i].sum(axis=0) for i in self.ids]).astype(np.float32)
        self.counts = [int(np.sum(labels == i)) for i in self.ids]
        self.memory_labels = labels.tolist()

    def to_state(self) -> dict:
        return {"ids": self.ids, "sums": self.sums, "counts": self.counts, "next_id": self.next_id,
                "memory": self.memory, "memory_labels": self.memory_labels, "since": self.since_recluster}

    def load_state(self, st: dict) -> None:
        self.ids = [int(i) for i in st["ids"]]
        self.sums = np.asarray(st["sums"], np.float32).reshape(-1, DIM)
        self.counts = [int(c) for c in st["counts"]]
        self.next_id = int(st["next_id"])
        self.memory = np.asarray(st["memory"], np.float16).reshape(-1, DIM)
        self.memory_labels = [int(v) for v in st["memory_labels"]]
        self.since_recluster = int(st["since"])
