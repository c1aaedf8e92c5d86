"""Who is speaking on a mono call: ONNX speaker embeddings, online clustering with spectral
re-clustering, and a role (agent / customer) per cluster.

Overlapping speech on a mono channel is not separated: each 0.8 s slot gets the one speaker its
embedding is closest to (the dominant voice), so the quieter voice of an overlap is missed (it
counts as missed speech in DER) and mono turns are never flagged `overlap`. Stereo calls need
none of this: each side has its own channel and overlap is flagged from the other channel's VAD.
"""

from processors.diarization.clustering import ClusteringConfig, OnlineClusterer, spectral_clusters
from processors.diarization.labeler import DiarizationConfig, SpeakerLabeler, label_name
from processors.diarization.roles import RoleAssigner

__all__ = ["ClusteringConfig", "DiarizationConfig", "OnlineClusterer", "RoleAssigner", "SpeakerLabeler",
           "label_name", "spectral_clusters"]
