"""Mono diarization: online label revisions, the WCCN statistics, the replay used to choose settings."""

from __future__ import annotations

import numpy as np
import pytest

from processors.audio.io import load_audio
from processors.diarization.labeler import SpeakerLabeler
from processors.types import SAMPLE_RATE, CallInfo
from tests.conftest import require_data


@pytest.fixture(scope="module")
def sample_regions():
    """sample.flac's speech regions (the reference turns, touching ones merged) and its audio."""
    folder = require_data("diarization")
    x = load_audio(folder / "sample.flac").samples
    turns = sorted((float(p[3]), float(p[3]) + float(p[4]))
                   for p in (line.split() for line in (folder / "sample.rttm").read_text().splitlines()))
    regions: list[list[float]] = []
    for s, e in turns:
        if regions and s <= regions[-1][1] + 0.3:
            regions[-1][1] = max(regions[-1][1], e)
        else:
            regions.append([s, e])
    return x, [(int(s * SAMPLE_RATE), int(e * SAMPLE_RATE)) for s, e in regions]


def drive(labeler_factory, x, regions, chunk=1024, resume_every=None):
    """Feed the regions to a labeler in chunks; pieces emitted and revisions taken after each call."""
    lab = labeler_factory()
    pieces, revisions, calls = [], [], 0
    for a, b in regions:
        lab.on_start(a)
        pos = a
        while pos < b:
            out = lab.on_audio(x[pos:min(b, pos + chunk)])
            pos = min(b, pos + chunk)
            pieces += [(len(p), label) for p, label in out]
            revisions += lab.take_revisions()
            calls += 1
            if resume_every and calls % resume_every == 0:
                state = lab.to_state()
                lab = labeler_factory()
                lab.load_state(state)
        pieces += [(len(p), label) for p, label in lab.on_end(b)]
        revisions += lab.take_revisions()
    return lab, pieces, revisions


def online_revisions():
    return SpeakerLabeler(CallInfo("m", stereo=False), {"revision_source": "online", "revision_min_memory": 0,
                                                        "min_memory": 4})


def test_revisions_name_emitted_pieces_and_change_their_label(sample_regions):
    x, regions = sample_regions
    _, pieces, revisions = drive(online_revisions, x, regions)
    assert revisions, "the online clustering revised nothing on a 2-speaker call"
    # emitted pieces tile the regions: each revision names one of them exactly
    spans = set()
    pos_iter = iter(pieces)
    for a, b in regions:
        pos = a
        while pos < b:
            n, _ = next(pos_iter)
            spans.add((pos, pos + n))
            pos += n
    assert all((a, b) in spans for a, b, _ in revisions)
    assert all(label.startswith("spk") for *_, label in revisions)
    # a piece revised twice changes its label each time (never re-sent unchanged)
    last = {}
    for a, b, label in revisions:
        assert last.get((a, b)) != label
        last[(a, b)] = label


def test_revisions_survive_a_state_round_trip(sample_regions):
    x, regions = sample_regions
    short = [r for r in regions if r[1] <= 22 * SAMPLE_RATE]
    _, pieces, revisions = drive(online_revisions, x, short)
    _, pieces2, revisions2 = drive(online_revisions, x, short, resume_every=23)
    assert pieces2 == pieces and revisions2 == revisions


def test_revisions_off_by_setting(sample_regions):
    x, regions = sample_regions
    off = lambda: SpeakerLabeler(CallInfo("m", stereo=False), {"revision_source": "off"})
    _, _, revisions = drive(off, x, regions[:4])
    assert revisions == []


def test_wccn_statistics_ship_and_shrink_within_speaker_directions():
    from processors.diarization.wccn import STATS_PATH, transforms

    assert STATS_PATH.exists()
    stats = np.load(STATS_PATH)
    assert int(stats["speakers"]) >= 20 and int(stats["windows"]) > 5000
    wd, wc = transforms(1.0)
    assert wd.shape == (256, 256) and wc.shape == (38, 38)
    sw = stats["d_within"].astype(np.float64)
    # after the transform, the within-speaker spread is at most 1 in every direction, and the
    # direction that varied most within a speaker is shrunk the most
    whitened = np.linalg.eigvalsh(wd @ sw @ wd)
    assert whitened.max() <= 1.0 + 1e-4
    _, vecs = np.linalg.eigh(sw)
    top, bottom = vecs[:, -1], vecs[:, 0]
    assert np.linalg.norm(top @ wd) / np.linalg.norm(bottom @ wd) < 1.0


def test_replay_gives_the_front_ends_turns():
    """bench/der_select.py chooses settings on a replay of the recorded speech events: it must give
    exactly the turns the streaming front end gives."""
    from bench.der_replay import check_against_frontend, record_events

    path = require_data("diarization", "trn03.flac")
    assert check_against_frontend(path, record_events(path))


def test_selection_keeps_the_baseline_unless_held_out_clips_agree():
    from bench.der_select import choose

    ami = ["a", "b", "c"]
    # candidate 1 wins on the pooled clips thanks to clip a alone; held out, clip a is not won
    scores = [
        {"a": {"emitted": (5.0, 10.0)}, "b": {"emitted": (5.0, 10.0)}, "c": {"emitted": (5.0, 10.0)}},
        {"a": {"emitted": (1.0, 10.0)}, "b": {"emitted": (5.5, 10.0)}, "c": {"emitted": (5.5, 10.0)}},
    ]
    result = choose([{"w": 0}, {"w": 1}], scores, "emitted", ami)
    assert result["best_on_ami"] == {"w": 1}
    assert result["chosen"] == {"w": 0}
    # a candidate better on every clip is taken
    scores[1] = {n: {"emitted": (4.0, 10.0)} for n in ami}
    assert choose([{"w": 0}, {"w": 1}], scores, "emitted", ami)["chosen"] == {"w": 1}


def test_revisions_map_to_the_turns_that_hold_them():
    from processors.diarization import revisions_by_turn

    turns = [("c:0:00000", 0.0, 2.4), ("c:0:00001", 2.4, 4.0), ("c:0:00002", 5.0, 6.0)]
    revisions = [(1.6, 2.4, "spk1"), (2.4, 3.2, "spk0"), (4.2, 4.6, "spk1")]
    assert revisions_by_turn(turns, revisions) == [("c:0:00000", 1.6, 2.4, "spk1"), ("c:0:00001", 2.4, 3.2, "spk0")]
