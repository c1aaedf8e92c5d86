"""Who is speaking on a mono call: ONNX speaker embeddings, online clustering with spectral
re-clustering, and a role (agent / customer) per cluster.

Overlapping speech, what is and is not handled:
* Stereo calls (the norm on contact-center platforms): each side has its own channel, so both
  voices of an overlap are kept, each in its own turn, and a turn is flagged `overlap` when the
  other channel's VAD heard speech during it (processors/frontend.py). Nothing here is involved.
* Mono calls: overlap is NOT detected and NOT separated. Each 0.8 s slot gets exactly one speaker,
  the one its embedding is closest to (usually the louder voice), so during an overlap the
  quieter voice is missed speech in DER, and mono turns are never flagged `overlap`. A slot that
  straddles an overlap or a change of speaker gets a d-vector of the mix and may go to either
  speaker (confusion). No overlap detector ships: none is available offline from a wheel, and
  the wheel's d-vectors do not tell a mix from a single voice. All 1.89 s of missed speech on
  sample.flac (7.8% of its DER) is overlapped speech; on the AMI clips overlapped speech is
  0-49% of the reference (bench/der.py's `ovl` column).

Hypotheses, all from the same streaming run (`python -m bench.der`, 20 ms frames):
* as emitted: each turn with the cluster label it came out with -- what a streaming consumer
  (and the role it was given) saw at the time;
* revised: the emitted labels after the online revisions issued within 5 s of each piece's end
  (`SpeakerLabeler.take_revisions`; off by default, see labeler.py);
* relabelled (`FrontEnd.speaker_segments()` + `relabel_turns`, `callpulse diarize --relabel`):
  after the call, the same emitted speech, each 0.8 s slot relabelled by one fresh clustering of
  the clusterer's memory (the last 150 slots, 2 min of speech); speech boundaries never move.

Every tuned setting was chosen on the 13 AMI clips only (bench/der_select.py, record in
bench/results/der_select.json and in bench/results/der.json's `_selection`), never on
sample.flac. Measured with those settings, no collar / 0.25 s collar: sample.flac (2 speakers)
as emitted 46.7% / 43.0%, relabelled 13.4% / 5.8%; the 13 AMI clips pooled as emitted
48.7% / 40.9%, relabelled 53.4% / 47.4%; the four demo calls (synthetic two-party calls, held
out) as emitted 29.4% / 26.7%, relabelled 31.7% / 29.6% (most of it the VAD missing the shouting
customer of upset_mono). The settings chosen before with sample in view gave, no collar, sample
20.2% / 13.2% (emitted / relabelled), AMI 56.1% / 55.3%, demo 27.0% / 26.7%.
What AMI rewards: splitting the call late (`min_memory` 16: one voice dominates most 30 s
meeting excerpts, far-field talkers the VAD misses count as missed speech whatever the labels);
sample.flac needs its second voice found in its first 13 s of speech, which live labelling with
these settings does not do. Near-ties on AMI differ by 10 points on sample (bench/der_select.py's
table): one 30 s clip cannot tell settings apart. The limit is the embedder: the wheel's d-vectors
of two people on one line differ little over a 0.8 s window (raw cosine of sample's windows 0.75
same / 0.67 different speaker).
"""

from processors.diarization.clustering import (
    ClusteringConfig,
    OnlineClusterer,
    spectral_clusters,
)
from processors.diarization.labeler import DiarizationConfig, SpeakerLabeler, label_name
from processors.diarization.relabel import relabel_turns, revisions_by_turn
from processors.diarization.roles import RoleAssigner

__all__ = ["ClusteringConfig", "DiarizationConfig", "OnlineClusterer", "RoleAssigner", "SpeakerLabeler",
           "label_name", "relabel_turns", "revisions_by_turn", "spectral_clusters"]
