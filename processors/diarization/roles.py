"""Which speaker cluster of a mono call is the agent.

Input: cluster ids as they are emitted, the clusterer's centroids, the call's optional enrolled
agent voiceprint. Output: AGENT or CUSTOMER per cluster id.

* Voiceprint given: the cluster whose centroid is most similar to it is the agent when that cosine
  is at least `voiceprint_threshold` (0.6: the embedder gives ~0.9 same / ~0.35 different
  speaker); every other cluster is a customer. Re-evaluated at each turn, so early mistakes heal.
* No voiceprint: the cluster of the first emitted turn is the agent (agents open the call with a
  greeting); every other cluster is a customer. Wrong on calls where the customer speaks first
  (e.g. after an IVR hand-over): supply a voiceprint there.
"""

from __future__ import annotations

import numpy as np

from processors.types import AGENT, CUSTOMER


class RoleAssigner:
    def __init__(self, voiceprint: tuple[float, ...] | None, voiceprint_threshold: float = 0.6):
        self.voiceprint = None
        self.problem = ""
        """Why a given voiceprint was not used (wrong size, not finite): the heuristic applies."""
        if voiceprint is not None:
            v = np.asarray(voiceprint, np.float32).reshape(-1)
            if v.size != 256 or not np.all(np.isfinite(v)) or not np.any(v):
                self.problem = f"agent_voiceprint ignored: expected 256 finite values, got {v.size}"
            else:
                self.voiceprint = v / (np.linalg.norm(v) + 1e-12)
        self.threshold = voiceprint_threshold
        self.first_label: int | None = None

    def role(self, label: int, similarities: dict[int, float]) -> str:
        """similarities: cluster id -> cosine of its centroid with the voiceprint (if any)."""
        if self.first_label is None:
            self.first_label = label
        if self.voiceprint is not None:
            if not similarities:
                return CUSTOMER
            best = max(similarities, key=similarities.get)
            return AGENT if best == label and similarities[best] >= self.threshold else CUSTOMER
        return AGENT if label == self.first_label else CUSTOMER

    def to_state(self) -> dict:
        return {"first": self.first_label}

    def load_state(self, st: dict) -> None:
        self.first_label = None if st["first"] is None else int(st["first"])
