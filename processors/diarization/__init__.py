"""Who is speaking on a mono call: ONNX speaker embeddings, online clustering with spectral
re-clustering, and a role (agent / customer) per cluster.

Overlapping speech on a mono channel is not separated: each 0.8 s slot gets the one speaker its
embedding is closest to (the dominant voice), so the quieter voice of an overlap is missed (it
counts as missed speech in DER) and mono turns are never flagged `overlap`. Stereo calls need
none of this: each side has its own channel and overlap is flagged from the other channel's VAD.

Two hypotheses, both from the same streaming run (`python -m bench.der`, 20 ms frames):
* as emitted: each turn with the cluster label it came out with -- what a streaming consumer (and
  the role it was given) saw at the time;
* relabelled (`FrontEnd.speaker_segments()` + `relabel_turns`, `callpulse diarize --relabel`):
  after the call, the same emitted speech, each 0.8 s slot relabelled by one fresh clustering of the
  clusterer's memory (the last 150 slots, 2 min of speech); speech boundaries never move, a turn
  whose slots now disagree is split at the slot edge. Re-clustering as the call grows, applied to
  labels already emitted; it needs no audio and no look-ahead beyond the end of the call.
Measured, no collar / 0.25 s collar: sample.flac (2 speakers) as emitted 20.2% / 7.1%, relabelled
13.2% / 2.6% (7.8% of the 13.2 is overlapped speech missed, 1.9% false alarm at turn edges, 3.5%
confusion: two short replies of the second voice inside the first one's turn); the 13 AMI clips
pooled as emitted 56.1% / 50.8%, relabelled 55.3% / 49.0% (far-field meetings of 3-4 people: the
VAD misses quiet distant talkers -- the references count their pauses as speech -- and
`max_speakers=2`, right for agent + customer, merges the rest; where one voice dominates, the
forced two-way split cuts it). The limit is the embedder: the wheel's d-vectors of two people on
one line differ little over a 0.8 s window (centroid cosine 0.93 on the sample's two voices,
0.86-0.87 between the two halves a forced split makes of one AMI voice); see clustering.py for what the cepstral statistics
and per-call normalisation add.
"""

from processors.diarization.clustering import (
    ClusteringConfig,
    OnlineClusterer,
    spectral_clusters,
)
from processors.diarization.labeler import DiarizationConfig, SpeakerLabeler, label_name
from processors.diarization.relabel import relabel_turns
from processors.diarization.roles import RoleAssigner

__all__ = ["ClusteringConfig", "DiarizationConfig", "OnlineClusterer", "RoleAssigner", "SpeakerLabeler",
           "label_name", "relabel_turns", "spectral_clusters"]
