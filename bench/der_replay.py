"""Fast replay of the mono diarization for choosing its settings (bench/der_select.py).

The speaker labeler's input (the speech gate's start / audio / end events) does not depend on any
diarization setting, so each clip is run once through `FrontEnd` to record those events; a setting
is then evaluated by feeding the recorded events to a fresh `SpeakerLabeler` and the same
`TurnAssembler` the front end uses (same short-turn dropping, same turn cuts), with the speaker
features of each 0.82 s window cached by content (they do not depend on settings either).
`check_against_frontend` confirms the replay gives the front end's own turns.

Input: the shared diarization clips. Output: per clip, the three hypotheses of bench/der.py
(as emitted, revised within `revision_horizon_s`, relabelled at the end of the call).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from processors.types import SAMPLE_RATE

Segment = tuple[float, float, str]


@dataclass
class Recording:
    name: str
    events: list[tuple[str, object]]
    min_turn_s: float
    max_turn_s: float
    duration_s: float


def record_events(path: Path, frame_ms: float = 20) -> Recording:
    """The speech gate's events of a mono clip fed frame by frame through the front end."""
    from processors.audio.io import load_audio
    from processors.frontend import FrontEnd, FrontEndConfig, frames_from_clip
    from processors.types import CallInfo

    clip = load_audio(path)
    call = CallInfo(call_id=path.stem, stereo=False)
    config = FrontEndConfig()
    fe = FrontEnd(call, config)
    events: list[tuple[str, object]] = []
    original = fe._apply_events

    def spy(ch, labeler, evs):
        for kind, value in evs:
            events.append((kind, np.array(value, np.float32) if kind == "audio" else int(value)))
        return original(ch, labeler, evs)

    fe._apply_events = spy
    for frame in frames_from_clip(call.call_id, clip.samples, frame_ms):
        fe.push(frame)
    fe.flush()
    return Recording(path.stem, events, config.min_turn_s, config.max_turn_s, clip.duration_s)


def front_end_hash() -> str:
    """Hash of the sources the speech gate's events depend on (not the diarization's)."""
    root = Path(__file__).resolve().parents[1] / "processors"
    h = hashlib.sha1()
    paths = [root / n for n in ("frontend.py", "turns.py", "vad.py", "types.py")]
    for sub in ("audio", "denoise"):
        paths += sorted((root / sub).glob("*.py"))
    for p in paths:
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()[:10]


def cached_record(path: Path, cache: Path | None = None) -> Recording:
    """`record_events`, kept under build/der_events/ (keyed by the clip's bytes and the front end's
    sources)."""
    import pickle

    cache = cache or Path(__file__).resolve().parents[1] / "build" / "der_events"
    key = hashlib.sha1(Path(path).read_bytes()).hexdigest()[:12] + front_end_hash()
    file = cache / f"{Path(path).stem}_{key}.pkl"
    if file.exists():
        return pickle.loads(file.read_bytes())
    rec = record_events(Path(path))
    cache.mkdir(parents=True, exist_ok=True)
    file.write_bytes(pickle.dumps(rec))
    return rec


_FEATURE_CACHE: dict[bytes, np.ndarray] = {}


def cached_speaker_features():
    """`speaker_features` with a content-keyed cache (installed into the labeler module)."""
    from processors.diarization import embedder

    real = embedder.speaker_features

    def features(windows: np.ndarray) -> np.ndarray:
        windows = np.asarray(windows, np.float32).reshape(-1, embedder.EMBED_WINDOW)
        keys = [hashlib.blake2b(w.tobytes(), digest_size=16).digest() for w in windows]
        missing = [i for i, k in enumerate(keys) if k not in _FEATURE_CACHE]
        if missing:
            for i, f in zip(missing, real(windows[missing])):
                _FEATURE_CACHE[keys[i]] = f
        return np.stack([_FEATURE_CACHE[k] for k in keys]) if keys else real(windows)

    return features


def replay(rec: Recording, overrides: dict | None = None, horizons: tuple[float, ...] = ()) -> dict[str, list[Segment]]:
    """Hypotheses of one recording under these diarization settings: "emitted", "relabelled",
    and "revised_<H>" for each horizon H in seconds (each piece's label as last revised no later
    than H seconds after the piece ended, see `SpeakerLabeler.take_revisions`)."""
    from bench.der import revised_at
    from processors.diarization import labeler as labeler_module
    from processors.diarization import relabel_turns
    from processors.diarization.labeler import SpeakerLabeler
    from processors.turns import TurnAssembler
    from processors.types import CallInfo

    saved = labeler_module.speaker_features
    labeler_module.speaker_features = cached_speaker_features()
    try:
        lab = SpeakerLabeler(CallInfo(rec.name, stereo=False), overrides)
        asm = TurnAssembler(rec.min_turn_s, rec.max_turn_s)
        turns = []
        history: list[tuple[int, int, int, str]] = []
        """(time revised in samples, start, end, label) of every label given or revised."""
        now = 0
        for kind, value in rec.events:
            if kind == "start":
                lab.on_start(value)
                asm.open(value)
                now = value
                continue
            if kind == "audio":
                now += len(value)
                pieces = lab.on_audio(value)
            else:
                pieces = lab.on_end(value)
            for a, b, label in lab.take_revisions():
                history.append((now, a, b, label))
            for audio, label in pieces:
                turns.extend(asm.add(audio, label))
            if kind == "end":
                turns.extend(asm.close())
    finally:
        labeler_module.speaker_features = saved
    emitted = [(t.start / SAMPLE_RATE, t.end / SAMPLE_RATE, t.label) for t in turns]
    out = {"emitted": emitted, "relabelled": relabel_turns(emitted, _seconds(lab.current_segments()))}
    for h in horizons:
        seconds = [(when / SAMPLE_RATE, a / SAMPLE_RATE, b / SAMPLE_RATE, label) for when, a, b, label in history]
        out[f"revised_{h:g}"] = relabel_turns(emitted, revised_at(seconds, h))
    return out


def _seconds(segments):
    return [(a / SAMPLE_RATE, b / SAMPLE_RATE, lab) for a, b, lab in segments]


def check_against_frontend(path: Path, rec: Recording) -> bool:
    """The replay's as-emitted turns equal the front end's (default settings)."""
    from bench.der import streaming_hypothesis

    hyp, _ = streaming_hypothesis(path)
    mine = replay(rec)["emitted"]
    return len(hyp) == len(mine) and all(
        abs(a[0] - b[0]) < 1e-6 and abs(a[1] - b[1]) < 1e-6 and a[2] == b[2] for a, b in zip(hyp, mine))
