"""Who is speaking on a mono call: ONNX speaker embeddings, online clustering with spectral
re-clustering, and a role (agent / customer) per cluster.

Overlapping speech on a mono channel is not separated: each 0.8 s slot gets the one speaker its
embedding is closest to (the dominant voice), so the quieter voice of an overlap is missed (it
counts as missed speech in DER) and mono turns are never flagged `overlap`. Stereo calls need
none of this: each side has its own channel and overlap is flagged from the other channel's VAD.

Measured (`python -m bench.der`, streaming, 20 ms frames, cluster labels as emitted, no collar /
0.25 s collar): sample.flac (2 speakers) 20.2% / 7.1% (7.8% missed is mostly overlapped speech, 10.5%
confusion); the 13 AMI clips pooled 60.7% / 55.9% (far-field meetings of 3-4 people: the VAD misses
quiet distant talkers and the default `max_speakers=2`, right for agent + customer, merges the rest).
The limit is the embedder: the wheel's d-vectors of two people on one line differ little over a
0.8 s window; see clustering.py for what the cepstral statistics and per-call normalisation add.
"""

from processors.diarization.clustering import ClusteringConfig, OnlineClusterer, spectral_clusters
from processors.diarization.labeler import DiarizationConfig, SpeakerLabeler, label_name
from processors.diarization.relabel import relabel_turns
from processors.diarization.roles import RoleAssigner

__all__ = ["ClusteringConfig", "DiarizationConfig", "OnlineClusterer", "RoleAssigner", "SpeakerLabeler",
           "label_name", "relabel_turns", "spectral_clusters"]
