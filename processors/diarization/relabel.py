"""Lay the latest speaker clustering over turns already emitted.

Input: emitted turns (start_s, end_s, label) and `FrontEnd.speaker_segments()` (the emitted
speech still in the clusterer's memory, each 0.8 s slot labelled by the latest clustering).
Output: the same speech, relabelled where the latest clustering says otherwise; a turn whose slots
now belong to different speakers is split at the slot edge. Speech boundaries never move and no
speech is added: only labels change. Speech outside every segment (older than the memory
horizon) keeps the label it was emitted with.

Why: early in a call, with a few slots of evidence, a voice is easily put with the wrong speaker;
spectral re-clustering as the call grows corrects the memory, and a consumer that reads the call
afterwards (the RTTM of `callpulse diarize --relabel`, the DER bench's "relabelled" rows) gets
the corrected labels. Streaming consumers keep the labels as emitted.
"""

from __future__ import annotations

Segment = tuple[float, float, str]


def relabel_turns(turns: list[Segment], segments: list[Segment]) -> list[Segment]:
    """Emitted turns -> relabelled, split where needed, adjacent same-label pieces merged."""
    segments = sorted(segments)
    out: list[Segment] = []
    for start, end, label in sorted(turns):
        pieces: list[Segment] = []
        cursor = start
        for a, b, new in segments:
            if b <= cursor or a >= end:
                continue
            if a > cursor:
                pieces.append((cursor, a, label))
            pieces.append((max(a, cursor), min(b, end), new))
            cursor = min(b, end)
        if cursor < end:
            pieces.append((cursor, end, label))
        for a, b, lab in pieces:
            if b - a <= 1e-9:
                continue
            if out and out[-1][2] == lab and abs(out[-1][1] - a) < 1e-6:
                out[-1] = (out[-1][0], b, lab)
            else:
                out.append((a, b, lab))
    return out


def revisions_by_turn(turns: list[tuple[str, float, float]], revisions: list[Segment]) -> list[tuple[str, float, float, str]]:
    """Online revisions (`SpeakerLabeler.take_revisions`, in seconds) -> (turn_id, start_s, end_s,
    new label) for each emitted turn (turn_id, start_s, end_s) a revision overlaps: the part of the
    turn whose speaker changed. A stream publishes these as revisions of those turns; a revision of
    speech no emitted turn holds (a piece dropped as too short) is ignored."""
    out = []
    for a, b, label in revisions:
        for turn_id, start, end in turns:
            lo, hi = max(a, start), min(b, end)
            if hi - lo > 1e-9:
                out.append((turn_id, lo, hi, label))
    return out
