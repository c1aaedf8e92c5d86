"""Assembled-call evaluation of the whole per-call chain on real emotional speech.

What it does (all deterministic from --seed):
1. Calls.  For every fold of the speaker-held-out emotion models (`build/folds/folds.json`), every
   held-out speaker becomes the customer of 4 calls: calm/upset x clean/telephone.  The agent is
   another held-out speaker of the same fold (so the fold model has heard neither voice).  A call
   alternates agent and customer clips with 0.3-0.8 s gaps, 10 customer turns: calm calls use the
   customer's neutral/calm/happy clips throughout; upset calls use 5 of those, then 5 angry / sad /
   fear / disgust clips.  The agent only speaks neutral/happy clips.  One call in four per customer is
   mono (agent + customer mixed, speakers told apart by the front end's voice clustering), the others
   stereo with the customer on channel 0 or 1.  Telephone calls go through
   `models.emotion.augment.telephone_degrade` per channel (cafe noise, evaluation part, 10 dB SNR,
   300-3400 Hz, 8 kHz, mu-law).  The upset onset is the start of speech (energy) in the first upset clip.
2. Audio chain.  Each call runs through the real `FrontEnd` (20 ms frames) and the fold's
   `EmotionModel` (`build/folds/fold{k}.onnx`, which never saw the customer), customer turns only
   (agent emotion off, as the EU AI Act asks; it does not change customer alerts).  Turns and scores are
   cached in build/assembled/ so step 3 can replay the chain many times.
3. Words (synthetic pairing, stated plainly): the corpora's sentences are emotionally neutral
   ("Kids are talking by the door", "Say the word ..."), so each customer clip gets one transcript
   segment (its speech span) whose text is a held-out airline tweet (models.polarity.data split, never
   seen by the polarity model): a *negative* tweet for an upset clip, a *neutral or positive* one for a
   calm clip.  This measures what fusion does when words and voice agree in label, with the
   polarity model's real errors; it says nothing about how often real customers' words match their voice.
4. Chain + metrics.  `processors.offline.chain_records` (fused, voice-only and words-only), then per
   call: upset calls are detected when an alert fires at or after the onset (latency = at_s - onset);
   a calm call with any alert, or an upset call alerting before the onset, is a false alert.
   Thresholds are tuned by grid search on the *tuning folds* only and reported on the *test folds*.
   Late events are measured by replaying turns in the front end's emission order.

   The grid: escalation knobs (threshold, share, min turns 2/3, consecutive windows) x fusion (voice weight
   0.35/0.5/0.65, per-call voice baseline off/4 turns).  To keep it fast, tuning fuses each call once per
   fusion setting and replays only windows + rule per escalation setting (`replay_outcome`; the chosen
   knobs are re-run through the real chain and must give the same summary); test figures use the chain.
   The escalation grid includes early firing (the rule also evaluated at each customer turn's end).
5. Rule ceiling: the window rule fed perfect turn labels, to separate the rule's latency from the
   classifier's errors.
6. Latency at emission: at_s is event time; a streaming chain emits the alert later (it waits for the
   watermark).  `stream_replay` replays each test call as a streaming worker would see it (turns delivered
   at their end, transcripts at theirs, progress marks as the frames stage sends them today) and records
   when the alert comes out ("emit" columns); "exact" columns replay the proposed alternative (exact
   progress marks, 2 s lateness for the words, `watermark_from_turns` off).  `latency_parts` splits the latency of each
   detected upset call into stages (turn end, classifier, second upset turn, share, step point, emission).
7. False alerts: every one taken apart (`explain_false_alert`): evidence turns with raw and
   baseline-relative voice score and polarity, and which changes (baseline off, one modality, 2 windows,
   early firing) would remove it.

Run:  OMP_NUM_THREADS=1 nice -n 10 python bench/assembled_calls.py --folds-dir build/folds4   (prints
tables, writes bench/results/assembled_calls.json; the printout is kept in assembled_calls.txt).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import itertools
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processors.call_chain import ChainConfig  # noqa: E402
from processors.escalation import EscalationConfig  # noqa: E402
from processors.fusion import FusionConfig  # noqa: E402
from processors.offline import ScoredTurn, chain_records  # noqa: E402
from processors.types import (  # noqa: E402
    AGENT,
    CUSTOMER,
    Alert,
    EmotionResult,
    FusedTurn,
    SpeechTurn,
    TranscriptSegment,
)

DATA = Path(os.environ.get("CALLPULSE_DATA", REPO.parent / "shared" / "data"))
CACHE = REPO / "build" / "assembled"
RESULTS = REPO / "bench" / "results" / "assembled_calls.json"
CALM_LABELS = ("neutral", "happy")
UPSET_LABELS = ("angry", "sad", "fear", "disgust")
SR = 16_000


# ---------------------------------------------------------------------------------------------- calls
@dataclass(frozen=True)
class Placed:
    speaker: str  # AGENT / CUSTOMER
    path: str
    label: str
    start_s: float
    speech_start_s: float
    speech_end_s: float


@dataclass(frozen=True)
class CallSpec:
    call_id: str
    fold: int
    customer: str
    agent: str
    kind: str  # "calm" / "upset"
    telephone: bool
    stereo: bool
    customer_channel: int
    duration_s: float
    onset_s: float | None
    placed: tuple[Placed, ...]

    @property
    def condition(self) -> str:
        return f"{'telephone' if self.telephone else 'clean'}/{'stereo' if self.stereo else 'mono'}"


def load_folds(folds_dir: Path) -> list[dict]:
    """[{fold, held_out: [corpus:speaker...], model: path}] from folds.json (a few layouts accepted)."""
    raw = json.loads((folds_dir / "folds.json").read_text())
    entries = raw.get("folds", raw) if isinstance(raw, dict) else raw
    if isinstance(entries, dict):
        entries = [{"fold": int("".join(c for c in k if c.isdigit())), "held_out": v} for k, v in entries.items()]
    folds = []
    for i, e in enumerate(entries):
        k = int(e.get("fold", e.get("index", i)))
        held = e.get("held_out") or e.get("held_out_speakers") or e.get("test_speakers") or e.get("speakers")
        model = e.get("model") or e.get("onnx") or f"fold{k}.onnx"
        model_path = Path(model) if Path(model).is_absolute() else folds_dir / Path(model).name
        folds.append({"fold": k, "held_out": list(held), "model": model_path})
    return sorted(folds, key=lambda f: f["fold"])


MARGIN_S = 0.1


@lru_cache(maxsize=4096)
def clip_audio(path: str) -> np.ndarray:
    """The clip cut to its speech (energy) plus 0.1 s each side: the corpora pad clips with up to 1 s of
    silence, which would turn "short gaps" between turns into 2-3 s pauses."""
    from processors.audio.io import load_audio

    x = load_audio(path).samples
    a, b = speech_span(x)
    i, j = max(0, int((a - MARGIN_S) * SR)), min(len(x), int((b + MARGIN_S) * SR))
    return x[i:j].copy()


def speech_span(x: np.ndarray) -> tuple[float, float]:
    """First and last 10 ms frame within 30 dB of the loudest frame (the speech inside the clip)."""
    hop = SR // 100
    n = max(1, len(x) // hop)
    rms = np.sqrt(np.mean(np.square(x[: n * hop].reshape(n, hop)), axis=1) + 1e-12)
    active = np.nonzero(rms >= rms.max() * 10 ** (-30 / 20))[0]
    return float(active[0] * hop / SR), float((active[-1] + 1) * hop / SR)


def build_calls(seed: int) -> list[CallSpec]:
    """4 calls per speaker of data/ser with enough clips.  The agent is the next speaker of the same corpus
    (TESS, a single speaker: a RAVDESS actor).  Calls do not depend on the folds, so the front end can run
    before the fold models exist; `assign_folds` then gives each call the fold holding out its customer."""
    from models.emotion.corpora import list_clips

    clips = list_clips(DATA / "ser")
    by_spk: dict[str, dict[str, list[str]]] = {}
    for c in clips:
        by_spk.setdefault(c.speaker_key, {}).setdefault(c.label, []).append(str(c.path))

    def n_calm(o: str) -> int:
        return sum(len(by_spk[o].get(lab, [])) for lab in CALM_LABELS)

    calls: list[CallSpec] = []
    speakers = sorted(by_spk)
    for spk_index, s in enumerate(speakers):
        calm = sorted(p for lab in CALM_LABELS for p in by_spk[s].get(lab, []))
        upset = sorted(p for lab in UPSET_LABELS for p in by_spk[s].get(lab, []))
        if len(calm) < 5 or len(upset) < 5:
            continue
        corpus = s.split(":")[0]
        same = [o for o in speakers if o.startswith(corpus + ":") and n_calm(o) >= 3]
        if len(same) > 1:
            agent = same[(same.index(s) + 1) % len(same)]
        else:
            agent = next(o for o in speakers if o.startswith("ravdess:") and n_calm(o) >= 3)
        agent_clips = sorted(p for lab in CALM_LABELS for p in by_spk[agent].get(lab, []))
        mono_slot = spk_index % 4
        for v, (kind, tel) in enumerate(itertools.product(("calm", "upset"), (False, True))):
            name = f"{s.replace(':', '_')}-{kind}-{'tel' if tel else 'clean'}"
            h = int.from_bytes(hashlib.sha1(f"{seed}:{name}".encode()).digest()[:8], "big")
            rng = np.random.default_rng(h)
            calls.append(_place(name, -1, s, agent, kind, tel, v != mono_slot, int(spk_index % 2 == 0),
                                calm, upset, agent_clips, rng))
    return calls


def assign_folds(calls: list[CallSpec], folds: list[dict]) -> list[CallSpec]:
    """Each call gets the fold whose model did not see its customer; calls of unheld speakers are dropped."""
    fold_of = {spk: f["fold"] for f in folds for spk in f["held_out"]}
    return [dataclasses.replace(c, fold=fold_of[c.customer]) for c in calls if c.customer in fold_of]


def _pick(pool: list[str], n: int, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        out.extend(pool[i] for i in rng.permutation(len(pool)))
    return out[:n]


def _place(name, fold, customer, agent, kind, tel, stereo, cust_ch, calm, upset, agent_clips, rng) -> CallSpec:
    from models.emotion.corpora import parse_name

    n_turns = 10
    cust = _pick(calm, n_turns, rng) if kind == "calm" else _pick(calm, n_turns // 2, rng) + _pick(upset, n_turns - n_turns // 2, rng)
    agent_seq = _pick(agent_clips, n_turns, rng)
    t = 0.3
    placed: list[Placed] = []
    onset = None
    for i in range(n_turns):
        for who, path in ((AGENT, agent_seq[i]), (CUSTOMER, cust[i])):
            x = clip_audio(path)
            a, b = speech_span(x)
            label = parse_name(Path(path)).label
            placed.append(Placed(who, path, label, round(t, 4), round(t + a, 4), round(t + b, 4)))
            if who == CUSTOMER and kind == "upset" and onset is None and label in UPSET_LABELS:
                onset = round(t + a, 4)
            t += len(x) / SR + float(rng.uniform(0.3, 0.8))
    return CallSpec(name, fold, customer, agent, kind, tel, stereo, cust_ch, round(t, 4), onset, tuple(placed))


def render(spec: CallSpec) -> np.ndarray:
    """(2, n) stereo (agent / customer channels) or (1, n) mono mix, telephone-degraded if asked."""
    n = int(math.ceil(spec.duration_s * SR)) + SR // 2
    chans = np.zeros((2, n), np.float32)
    for p in spec.placed:
        x = clip_audio(p.path)
        ch = spec.customer_channel if p.speaker == CUSTOMER else 1 - spec.customer_channel
        i = int(round(p.start_s * SR))
        chans[ch, i : i + len(x)] += x
    out = chans if spec.stereo else chans.sum(axis=0, keepdims=True)
    if spec.telephone:
        from models.emotion.augment import load_noise, telephone_degrade

        noise = load_noise("cafe_short", part="eval")
        h = int.from_bytes(hashlib.sha1(spec.call_id.encode()).digest()[:8], "big")
        rng = np.random.default_rng(h)
        out = np.stack([telephone_degrade(c, rng, noise=noise, snr_db=10.0) for c in out])
    peak = float(np.abs(out).max())
    return out / peak * 0.9 if peak > 0.99 else out


# ------------------------------------------------------------------------------------ audio chain (cached)
@lru_cache(maxsize=1)
def front_end_code_hash() -> str:
    """Hash of the front end's sources: a changed front end invalidates the cached turns."""
    h = hashlib.sha1()
    paths = [REPO / "processors" / n for n in ("frontend.py", "turns.py", "vad.py")]
    for sub in ("audio", "diarization", "denoise"):
        paths += sorted((REPO / "processors" / sub).glob("*.py"))
    for p in paths:
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()[:8]


def _spec_key(spec: CallSpec) -> str:
    d = dataclasses.asdict(dataclasses.replace(spec, fold=-1))
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12] + front_end_code_hash()


def front_end_stage(spec: CallSpec, frame_ms: float = 20.0) -> dict:
    """Front end only (cached): turns, and the audio of customer turns (the only ones scored)."""
    from processors.offline import cut_and_score

    path = CACHE / "fe" / f"{spec.call_id}.{_spec_key(spec)}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        meta["audio"] = {tid: z[f"a{i}"] for i, tid in enumerate(meta["audio_ids"])}
        return meta
    audio: dict[str, np.ndarray] = {}

    def keep(turn: SpeechTurn) -> None:
        if turn.speaker == CUSTOMER:
            audio[turn.turn_id] = np.round(np.clip(turn.audio, -1, 1) * 32767).astype(np.int16)

    t0 = time.process_time()
    turns = cut_and_score(spec.call_id, render(spec), None, stereo=spec.stereo,
                          customer_channel=spec.customer_channel, agent_emotion=False, frame_ms=frame_ms,
                          on_turn=keep)
    meta = {
        "cpu_s": time.process_time() - t0,
        "turns": [{"turn_id": st.turn.turn_id, "speaker": st.turn.speaker, "channel": st.turn.channel,
                   "start_s": st.turn.start_s, "end_s": st.turn.end_s, "arrival": st.arrival} for st in turns],
        "audio_ids": sorted(audio),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, meta=json.dumps(meta), **{f"a{i}": audio[t] for i, t in enumerate(meta["audio_ids"])})
    tmp.rename(path)
    meta["audio"] = audio
    return meta


def score_stage(spec: CallSpec, fe: dict, model, model_path: Path) -> dict:
    """Scores of the customer turns by the call's fold model (cached per model file)."""
    mkey = hashlib.sha1(f"{model_path}:{model_path.stat().st_mtime_ns}".encode()).hexdigest()[:10]
    path = CACHE / "scores" / f"{spec.call_id}.{_spec_key(spec)}.{mkey}.json"
    if path.exists():
        return json.loads(path.read_text())
    ids = fe["audio_ids"]
    t0 = time.process_time()
    results = model().score_many([fe["audio"][t].astype(np.float32) / 32767.0 for t in ids]) if ids else []
    scores = {t: (dataclasses.asdict(r) if isinstance(r, EmotionResult) else None) for t, r in zip(ids, results)}
    out = {"cpu_s": time.process_time() - t0, "scores": scores}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def spec_from_dict(d: dict) -> CallSpec:
    d = dict(d)
    d["placed"] = tuple(Placed(**p) for p in d["placed"])
    return CallSpec(**d)


def scored_turns(call_id: str, fe: dict, scores: dict) -> list[ScoredTurn]:
    out = []
    for t in fe["turns"]:
        d = scores["scores"].get(t["turn_id"])
        em = EmotionResult(**d) if d else None
        st = SpeechTurn(call_id, t["turn_id"], t["speaker"], t["channel"], t["start_s"], t["end_s"], np.zeros(0, np.float32))
        out.append(ScoredTurn(st, em, t["arrival"]))
    return out


# ------------------------------------------------------------------------------------------------ words
def held_out_texts() -> dict[str, list[str]]:
    """Held-out airline tweets by label (the polarity model's held-out split), @handles and links removed."""
    try:
        from models.polarity.data import is_held_out
    except ImportError:  # same rule: 1 of 5 hash buckets of the text
        def is_held_out(text: str) -> bool:
            return int.from_bytes(hashlib.sha1(text.lower().encode()).digest()[:8], "big") % 5 == 0
    by: dict[str, list[str]] = {"negative": [], "neutral": [], "positive": []}
    with open(DATA / "text" / "airline_tweets.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not is_held_out(row["text"]):
                continue
            words = [w for w in row["text"].split() if not w.startswith("@") and not w.startswith("http")]
            if len(words) >= 3:
                by[row["label"]].append(" ".join(words))
    return by


def transcript_for(spec: CallSpec, texts: dict[str, list[str]]) -> list[TranscriptSegment]:
    h = int.from_bytes(hashlib.sha1(("words:" + spec.call_id).encode()).digest()[:8], "big")
    rng = np.random.default_rng(h)
    calm_pool = texts["neutral"] + texts["positive"]
    segs = []
    for i, p in enumerate(spec.placed):
        if p.speaker != CUSTOMER:
            continue
        pool = texts["negative"] if p.label in UPSET_LABELS else calm_pool
        segs.append(TranscriptSegment(spec.call_id, f"{spec.call_id}:w{i:03d}", CUSTOMER, p.speech_start_s,
                                      p.speech_end_s, pool[int(rng.integers(len(pool)))]))
    return segs


# -------------------------------------------------------------------------------------------- metrics
@dataclass
class CallOutcome:
    call_id: str
    fold: int
    kind: str
    condition: str
    detected: bool
    false_alert: bool
    latency_s: float | None
    alerts: int
    late: int
    customer_turns: int
    emitted_latency_s: float | None = None
    """Emission time of the detecting alert in a streaming replay minus the onset (`emission_latency`)."""
    emitted_exact_latency_s: float | None = None
    """The same with exact progress marks and 2 s lateness (`stream_replay`'s `exact_marks`)."""


def evaluate_call(entry: dict, config: ChainConfig, segments, polarity, arrival_order=False) -> CallOutcome:
    spec = entry["_spec"]
    records = chain_records(spec.call_id, entry["_turns"], segments, config=config, polarity=polarity,
                            duration_s=spec.duration_s, arrival_order=arrival_order)
    alerts = [r for r in records if isinstance(r, Alert)]
    summary = records[-1]
    detected, false_alert, latency = False, False, None
    if spec.kind == "calm":
        false_alert = bool(alerts)
    else:
        before = [a for a in alerts if a.at_s < spec.onset_s]
        after = [a for a in alerts if a.at_s >= spec.onset_s]
        false_alert = bool(before)
        if after:
            detected = True
            latency = after[0].at_s - spec.onset_s
    return CallOutcome(spec.call_id, spec.fold, spec.kind, spec.condition, detected, false_alert, latency,
                       len(alerts), summary.late_events_dropped, summary.customer_turns)


def final_fused_turns(entry: dict, config: ChainConfig, segments, polarity) -> list[FusedTurn]:
    """The last revision of every turn when the call runs through the chain in offline order."""
    spec = entry["_spec"]
    records = chain_records(spec.call_id, entry["_turns"], segments, config=config, polarity=polarity,
                            duration_s=spec.duration_s)
    return list({r.turn_id: r for r in records if isinstance(r, FusedTurn)}.values())


def replay_outcome(entry: dict, fused: list[FusedTurn], esc: EscalationConfig) -> CallOutcome:
    """`evaluate_call` for tuning only: windows and the rule replayed over already fused turns (offline
    order has no late events, so this equals the chain's windows; checked against `evaluate_call` in
    `main`).  Lets the grid fuse once per fusion setting instead of once per escalation setting."""
    spec = entry["_spec"]
    alerts = replay_alerts(spec.call_id, fused, esc, max([spec.duration_s] + [t.end_s for t in fused]))
    detected, false_alert, latency = False, False, None
    if spec.kind == "calm":
        false_alert = bool(alerts)
    else:
        false_alert = any(a.at_s < spec.onset_s for a in alerts)
        after = [a for a in alerts if a.at_s >= spec.onset_s]
        if after:
            detected, latency = True, after[0].at_s - spec.onset_s
    return CallOutcome(spec.call_id, spec.fold, spec.kind, spec.condition, detected, false_alert, latency,
                       len(alerts), 0, sum(t.speaker == CUSTOMER for t in fused))


def replay_alerts(call_id: str, fused: list[FusedTurn], esc: EscalationConfig, duration: float) -> list[Alert]:
    """The chain's rule in offline order (hopping windows, and with `early_firing` the spans ending at
    customer turn ends, merged in time order) over customer turns only: the rule reads nothing else, and
    leaving out agent turns skips the conversation metrics nobody reads here."""
    from processors.escalation import EscalationState, observe_point, observe_window
    from processors.windows import (
        aggregate_span,
        aggregate_window,
        is_window_end,
        last_window_starting_before,
        window_bounds,
    )

    customer = [t for t in fused if t.speaker == CUSTOMER]
    points = sorted({t.end_s for t in customer if not is_window_end(t.end_s, esc)}) if esc.early_firing else []
    state = EscalationState()
    alerts: list[Alert] = []

    def point(t: float) -> None:
        window, turns = aggregate_span(call_id, max(0.0, round(t - esc.window_s, 6)), t, customer, esc)
        a = observe_point(state, window, turns, esc)
        if a is not None:
            alerts.append(a)

    i = 0
    for k in range(last_window_starting_before(duration, esc) + 1):
        end = window_bounds(k, esc)[1]
        while i < len(points) and points[i] < end:
            point(points[i])
            i += 1
        window, turns = aggregate_window(call_id, k, customer, esc)
        a = observe_window(state, window, turns, esc)
        if a is not None:
            alerts.append(a)
    for t in points[i:]:
        point(t)
    return alerts


PROGRESS_MARGIN_S = 1.0
"""The frames stage's safety margin behind the audio it still holds (streams/agents/frames.py)."""
EXACT_MARK_EVERY_S = 0.5
EXACT_LATENESS_S = 2.0
"""Lateness with exact marks: no longer the longest turn, only the transcripts' allowance (platform ASR
finals come after the turn; here each segment arrives at its speech end, up to ~0.6 s after the turn's
end as the front end cut it: with no lateness at all 57 of them, over the fused and shipped test calls, arrived after their turn was evaluated)."""


def stream_replay(entry: dict, config: ChainConfig, segments, polarity,
                  exact_marks: bool = False) -> tuple[list[tuple[float, Alert]], int]:
    """(alerts with the event time at which a streaming chain emits them, late events).  What a streaming
    worker sees: turns in the front end's emission order, each delivered at its end (or at the latest end
    delivered before it: emission is in order); transcript segments at their end; a progress mark at every
    window close point (window end + allowed lateness) as the frames stage sends them (its hold-back for an
    open turn ignored: optimistic by up to the open turn's length minus the lateness); the call's end.
    Scoring time (milliseconds) is left out.

    `exact_marks`: the proposed alternative.  The chain runs with `watermark_from_turns` off and a lateness
    of `EXACT_LATENESS_S` (for the transcripts), and the source sends a progress mark with every turn it emits and every 0.5 s, computed as
    the frames stage does (audio time minus the audio it still holds minus a 1 s margin), the held audio
    being the turns not yet delivered."""
    from processors.call_chain import CallChain

    spec = entry["_spec"]
    if exact_marks:
        config = dataclasses.replace(config, escalation=dataclasses.replace(
            config.escalation, allowed_lateness_s=EXACT_LATENESS_S, watermark_from_turns=False))
    esc = config.escalation
    events: list[tuple[float, int, int, object]] = []
    delivered = 0.0
    held: list[tuple[float, float]] = []  # (start, delivery time) of every turn
    for st in sorted(entry["_turns"], key=lambda s: s.arrival):
        delivered = max(delivered, st.turn.end_s)
        events.append((delivered, 0, st.arrival, st))
        held.append((st.turn.start_s, delivered))
    for i, seg in enumerate(segments):
        events.append((seg.end_s, 1, i, seg))
    if exact_marks:
        times = sorted({d for _, d in held} | {round(k * EXACT_MARK_EVERY_S, 6)
                                               for k in range(int(spec.duration_s / EXACT_MARK_EVERY_S) + 1)})
        for k, a in enumerate(times):
            oldest = min([a] + [s0 for s0, d in held if s0 < a < d])
            events.append((a, 2, k, a - max(0.0, a - oldest + PROGRESS_MARGIN_S - esc.allowed_lateness_s)))
    else:
        k = 0
        while (mark := esc.window_s + esc.allowed_lateness_s + k * esc.step_s) < spec.duration_s:
            events.append((mark, 2, k, mark))
            k += 1
    chain = CallChain(spec.call_id, config, polarity)
    out: list[tuple[float, Alert]] = []
    for at, kind, _, ev in sorted(events, key=lambda e: e[:3]):
        recs = (chain.add_turn(ev.turn, ev.emotion) if kind == 0 else
                chain.add_transcript(ev) if kind == 1 else chain.advance_to(ev))
        out += [(at, r) for r in recs if isinstance(r, Alert)]
    recs = chain.end_call("ended", spec.duration_s)
    out += [(spec.duration_s, r) for r in recs if isinstance(r, Alert)]
    return out, recs[-1].late_events_dropped


def emission_latency(entry: dict, config: ChainConfig, segments, polarity,
                     exact_marks: bool = False) -> tuple[float | None, int]:
    """(emission time of the first alert at or after the onset minus the onset, late events); None when
    no such alert or a calm call."""
    spec = entry["_spec"]
    emitted, late = stream_replay(entry, config, segments, polarity, exact_marks)
    if spec.kind != "upset":
        return None, late
    after = [at for at, a in emitted if a.at_s >= spec.onset_s]
    return (round(after[0] - spec.onset_s, 4) if after else None), late


def latency_parts(entry: dict, config: ChainConfig, segments, polarity) -> dict | None:
    """Where the latency of one detected upset call goes (event-time seconds after the onset):
      first_turn_end     the first customer turn reaching past the onset ends (a turn is scored at its end)
      first_upset_end    the first of those turns scored upset (>= threshold) ends (classifier misses)
      second_upset_end   the second one ends (the min-upset-turns requirement; None with 1 turn required)
      rule_at_turn_end   the first customer turn end at which the span rule holds (what early firing gives)
      alert_at_s         the alert's at_s with this config (hopping windows: the next step point)
      info_complete      when everything that alert read was over: max(at_s, end of the turns in its window)
      emitted_exact      when a streaming chain emits it with exact progress marks and 2 s lateness
                         (`stream_replay` with `exact_marks`: the proposed streams change)
      emitted            when a streaming chain emits it today (`stream_replay`: + lateness, + waiting for
                         the watermark to move)"""
    spec = entry["_spec"]
    if spec.kind != "upset":
        return None
    esc = config.escalation
    records = chain_records(spec.call_id, entry["_turns"], segments, config=config, polarity=polarity,
                            duration_s=spec.duration_s)
    fused = list({r.turn_id: r for r in records if isinstance(r, FusedTurn)}.values())
    alert = next((r for r in records if isinstance(r, Alert) and r.at_s >= spec.onset_s), None)
    if alert is None:
        return None
    cust = sorted((t for t in fused if t.speaker == CUSTOMER and t.end_s > spec.onset_s), key=lambda t: t.start_s)
    ups = [t for t in cust if t.negativity >= esc.upset_threshold]
    early = dataclasses.replace(esc, early_firing=True)
    rule = [a.at_s for a in replay_alerts(spec.call_id, fused, early, spec.duration_s) if a.at_s >= spec.onset_s]
    in_window = [t.end_s for t in fused if t.speaker == CUSTOMER and t.start_s < alert.at_s
                 and t.end_s > alert.at_s - esc.window_s]
    emitted, _ = emission_latency(entry, config, segments, polarity)
    emitted_exact, _ = emission_latency(entry, config, segments, polarity, exact_marks=True)

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - spec.onset_s, 4)

    return {
        "first_turn_end": rel(cust[0].end_s) if cust else None,
        "first_upset_end": rel(ups[0].end_s) if ups else None,
        "second_upset_end": rel(ups[1].end_s) if len(ups) > 1 and esc.min_upset_turns > 1 else None,
        "rule_at_turn_end": rel(rule[0]) if rule else None,
        "alert_at_s": rel(alert.at_s),
        "info_complete": rel(max([alert.at_s] + in_window)),
        "emitted_exact": emitted_exact,
        "emitted": emitted,
    }


def explain_false_alert(entry: dict, config: ChainConfig, segments, polarity, split: str) -> dict:
    """A false alert (calm call, or an upset call alerting before the onset) taken apart: the evidence turns
    with their raw voice score, the voice score read against the caller's baseline, the words' polarity and
    the fused negativity; and whether the call still alerts falsely with the baseline off, voice only,
    words only, 2 windows in a row, early firing toggled."""
    spec = entry["_spec"]
    recs = chain_records(spec.call_id, entry["_turns"], segments, config=config, polarity=polarity,
                         duration_s=spec.duration_s)
    alert = next(r for r in recs if isinstance(r, Alert) and (spec.kind == "calm" or r.at_s < spec.onset_s))
    voice_cfg = dataclasses.replace(config, fusion=dataclasses.replace(config.fusion, mode="voice"))
    rel_voice = {t.turn_id: t.negativity for t in final_fused_turns(entry, voice_cfg, (), polarity)}
    final = {r.turn_id: r for r in recs if isinstance(r, FusedTurn)}
    evidence = []
    for ev in alert.evidence:
        t = final[ev.turn_id]
        evidence.append({"start_s": t.start_s, "end_s": t.end_s, "voice_raw": round(t.voice_upset, 3) if t.voice_upset is not None else None,
                         "voice_vs_baseline": round(rel_voice.get(t.turn_id, float("nan")), 3),
                         "polarity": round(t.polarity, 3) if t.polarity is not None else None,
                         "negativity": round(t.negativity, 3)})

    def still(change_fusion: dict | None = None, change_esc: dict | None = None, with_words: bool = True) -> bool:
        cfg = dataclasses.replace(config, fusion=dataclasses.replace(config.fusion, **(change_fusion or {})),
                                  escalation=dataclasses.replace(config.escalation, **(change_esc or {})))
        return evaluate_call(entry, cfg, segments if with_words else (), polarity).false_alert

    return {
        "call_id": spec.call_id, "split": split, "kind": spec.kind, "condition": spec.condition,
        "at_s": alert.at_s, "severity": alert.severity, "evidence": evidence,
        "still_false_with": {
            "baseline_off": still({"baseline_turns": 0}),
            "voice_only": still({"mode": "voice"}, with_words=False),
            "words_only": still({"mode": "words"}),
            "two_windows": still(None, {"consecutive_windows": 2}),
            "early_firing_toggled": still(None, {"early_firing": not config.escalation.early_firing}),
            "rearm_share_0": still(None, {"rearm_share": 0.0}),
        },
    }


PART_NAMES = ("first_turn_end", "first_upset_end", "second_upset_end", "rule_at_turn_end", "alert_at_s",
              "info_complete", "emitted_exact", "emitted")


def summarize_parts(parts: list[dict]) -> dict:
    """Per stage of `latency_parts`: median seconds after the onset, share of detected calls within 10 s,
    and the median step from the previous stage (calls where both are known)."""
    out: dict = {"detected_calls": len(parts)}
    prev = None
    for name in PART_NAMES:
        xs = [p[name] for p in parts if p[name] is not None]
        row = {"n": len(xs), "median_s": round(statistics.median(xs), 2) if xs else None,
               "within_10s": round(sum(x <= 10.0 for x in xs) / len(parts), 4) if parts else None}
        if prev is not None:
            steps = [p[name] - p[prev] for p in parts if p[name] is not None and p[prev] is not None]
            row["median_step_s"] = round(statistics.median(steps), 2) if steps else None
        out[name] = row
        if xs:
            prev = name
    return out


def perfect_turns(entry: dict, fused: list[FusedTurn]) -> list[FusedTurn]:
    """The call's turns with negativity 1 for customer turns over an upset clip, 0 otherwise: what the
    window rule can do with a perfect turn classifier (its ceiling on recall and latency)."""
    spec = entry["_spec"]
    out = []
    for t in fused:
        label, best = None, 0.0
        for p in spec.placed:
            ov = min(t.end_s, p.speech_end_s) - max(t.start_s, p.speech_start_s)
            if p.speaker == CUSTOMER and ov > best:
                best, label = ov, p.label
        upset = t.speaker == CUSTOMER and label in UPSET_LABELS
        out.append(dataclasses.replace(t, negativity=1.0 if upset else 0.0))
    return out


def summarize(outcomes: list[CallOutcome], max_latency: float = 10.0) -> dict:
    upset = [o for o in outcomes if o.kind == "upset"]
    calm = [o for o in outcomes if o.kind == "calm"]
    lat = [o.latency_s for o in upset if o.detected]
    return {
        "calls": len(outcomes),
        "upset_calls": len(upset),
        "calm_calls": len(calm),
        "recall": round(sum(o.detected for o in upset) / len(upset), 4) if upset else None,
        "recall_within_10s": round(sum(o.detected and o.latency_s <= max_latency for o in upset) / len(upset), 4) if upset else None,
        "false_alert_rate_calm": round(sum(o.false_alert for o in calm) / len(calm), 4) if calm else None,
        "early_alerts_upset": sum(o.false_alert for o in upset),
        "latency_median_s": round(statistics.median(lat), 2) if lat else None,
        "latency_max_s": round(max(lat), 2) if lat else None,
        "late_events": sum(o.late for o in outcomes),
        **emitted_summary(upset, max_latency),
    }


def emitted_summary(upset: list[CallOutcome], max_latency: float) -> dict:
    """Latency at emission (streaming replays), when measured for these outcomes."""
    out = {}
    for name, field_ in (("emitted", "emitted_latency_s"), ("emitted_exact", "emitted_exact_latency_s")):
        lat = [getattr(o, field_) for o in upset if o.detected]
        if not lat or any(x is None for x in lat):
            continue
        out[f"recall_{name}_within_10s"] = round(sum(x <= max_latency for x in lat) / len(upset), 4)
        out[f"{name}_latency_median_s"] = round(statistics.median(lat), 2)
    return out


def objective(s: dict) -> tuple:
    """Recall within 10 s minus twice the false-alert rates; ties: fewer false alerts, lower median latency."""
    fa = (s["false_alert_rate_calm"] or 0.0) + s["early_alerts_upset"] / max(1, s["upset_calls"])
    return (round(s["recall_within_10s"] - 2.0 * fa, 6), -fa, -(s["latency_median_s"] or 99.0))


def tie_break(esc: EscalationConfig) -> tuple:
    """Among equal objectives prefer the stricter rule (more upset turns or seconds, higher share, fewer
    windows, higher threshold, hopping windows only)."""
    return (esc.min_upset_turns, esc.min_upset_speech_s, esc.upset_share, -esc.consecutive_windows,
            esc.upset_threshold, not esc.early_firing)


def turn_scores(entries: list[dict], config: ChainConfig, seg_by_call, polarity) -> tuple[list[float], list[float]]:
    """Final negativity of customer turns, split by the label of the clip under the turn (upset / calm)."""
    pos, neg = [], []
    for e in entries:
        spec = e["_spec"]
        records = chain_records(spec.call_id, e["_turns"], seg_by_call.get(spec.call_id, ()), config=config,
                                polarity=polarity, duration_s=spec.duration_s)
        final = {r.turn_id: r for r in records if isinstance(r, FusedTurn) and r.speaker == CUSTOMER}
        for ft in final.values():
            best, label = 0.0, None
            for p in spec.placed:
                if p.speaker != CUSTOMER:
                    continue
                ov = min(ft.end_s, p.speech_end_s) - max(ft.start_s, p.speech_start_s)
                if ov > best:
                    best, label = ov, p.label
            if label is not None:
                (pos if label in UPSET_LABELS else neg).append(ft.negativity)
    return pos, neg


def auc(pos: list[float], neg: list[float]) -> float | None:
    """Mann-Whitney AUC (ties count half)."""
    if not pos or not neg:
        return None
    n = np.asarray(neg)
    wins = sum(float(np.sum(n < p) + 0.5 * np.sum(n == p)) for p in pos)
    return round(wins / (len(pos) * len(neg)), 4)


VOICE_WEIGHTS = (0.35, 0.5, 0.65)
BASELINE_TURNS = (0, 4)
"""Per-call customer baseline off / on (`FusionConfig.baseline_turns`; prior and its weight fixed below,
not tuned: 0.5 is the model's decision midpoint, 2 pseudo-turns a mild shrinkage)."""
BASELINE_PRIOR, BASELINE_PRIOR_WEIGHT = 0.5, 2.0


UPSET_RULES = {
    # at least 2 upset turns: "a single angry sentence is not an escalation" is a requirement, not a knob
    # (the min-turns sweep below shows what 1 would buy)
    "turns": ((2, 0.0), (3, 0.0)),
    # the alternative (--upset-rule seconds, its own results file): 1 upset turn and this much upset speech
    "seconds": ((1, 2.0), (1, 3.0), (1, 4.0)),
}


def escalation_grid(upset_rule: str = "turns"):
    base = EscalationConfig()
    for thr, share, (turns, seconds), consec, early in itertools.product(
        (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8), (0.1, 0.15, 0.2, 0.25, 0.3, 0.4),
        UPSET_RULES[upset_rule], (1, 2), (False, True),
    ):
        yield dataclasses.replace(base, upset_threshold=thr, upset_share=share, min_upset_turns=turns,
                                  min_upset_speech_s=seconds, consecutive_windows=consec,
                                  rearm_share=min(base.rearm_share, share), early_firing=early)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds-dir", type=Path, default=REPO / "build" / "folds")
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--tune-folds", default="", help="comma-separated fold numbers used for tuning "
                    "(default: the first half of the folds)")
    ap.add_argument("--single-model", type=Path,
                    help="score every call with this one model (NOT speaker-held-out: for smoke runs only; the fold "
                         "split of models/emotion/evaluate.py still separates tuning from test calls)")
    ap.add_argument("--front-end-only", action="store_true",
                    help="run (and cache) the front end for every call, then stop (needs no fold models)")
    ap.add_argument("--limit", type=int, default=0, help="process at most this many calls (smoke runs)")
    ap.add_argument("--no-tune", action="store_true", help="evaluate the shipped defaults only")
    ap.add_argument("--upset-rule", choices=sorted(UPSET_RULES), default="turns",
                    help="what makes a window upset besides the share: >= 2 (or 3) upset turns, or 1 upset turn "
                         "and >= 2-4 s of upset speech (writes assembled_calls_seconds.json)")
    args = ap.parse_args()
    results_path = RESULTS if args.upset_rule == "turns" else RESULTS.with_name(f"assembled_calls_{args.upset_rule}.json")

    calls = build_calls(args.seed)
    if args.limit:
        calls = calls[: args.limit]
    print(f"{len(calls)} calls: {sum(c.kind == 'upset' for c in calls)} upset, "
          f"{sum(c.telephone for c in calls)} telephone, {sum(not c.stereo for c in calls)} mono", flush=True)
    fes = {}
    for i, spec in enumerate(calls):
        fe = front_end_stage(spec)
        fes[spec.call_id] = fe
        if (i + 1) % 8 == 0:
            print(f"  front end {i + 1}/{len(calls)}", flush=True)
    if args.front_end_only:
        return 0

    from processors.emotion.model import EmotionModel

    if args.single_model:
        from models.emotion.evaluate import FIXED_FOLDS

        folds = [{"fold": k, "held_out": list(f), "model": args.single_model.resolve()} for k, f in enumerate(FIXED_FOLDS)]
    else:
        folds = load_folds(args.folds_dir)
    calls = assign_folds(calls, folds)
    print(f"{len(calls)} calls whose customer is held out by one of {len(folds)} folds", flush=True)
    models: dict[int, EmotionModel] = {}
    entries = []
    for spec in calls:
        fold = next(f for f in folds if f["fold"] == spec.fold)

        def model(k=spec.fold, path=fold["model"]):
            if k not in models:
                models[k] = EmotionModel(path)
            return models[k]

        scores = score_stage(spec, fes[spec.call_id], model, fold["model"])
        entries.append({"_spec": spec, "_turns": scored_turns(spec.call_id, fes[spec.call_id], scores),
                        "cpu_s": fes[spec.call_id]["cpu_s"] + scores["cpu_s"]})

    from processors.text.polarity import (
        load_default_scorer,  # the real model, no fallback, for the figures
    )

    polarity = lru_cache(maxsize=None)(load_default_scorer().score)
    texts = held_out_texts()
    words = {e["_spec"].call_id: transcript_for(e["_spec"], texts) for e in entries}
    fold_ids = sorted({f["fold"] for f in folds})
    first = ({int(x) for x in args.tune_folds.split(",") if x} if args.tune_folds
             else set(fold_ids[: max(1, len(fold_ids) // 2)]))
    second = set(fold_ids) - first
    # two-way cross-tuning: every call is reported with knobs tuned on the *other* folds
    splits = {"A": (first, second), "B": (second, first)}

    def subset(folds_: set[int]) -> list[dict]:
        return [e for e in entries if e["_spec"].fold in folds_]

    def outcomes(es, cfg, with_words, arrival=False):
        return [evaluate_call(e, cfg, words[e["_spec"].call_id] if with_words else (), polarity, arrival) for e in es]

    late_exact = [0]

    def streamed(es, cfg, with_words) -> tuple[list[CallOutcome], int]:
        """`outcomes` with the emission latency of a streaming replay attached (and its late events)."""
        outs, late = [], 0
        for e in es:
            segs = words[e["_spec"].call_id] if with_words else ()
            o = evaluate_call(e, cfg, segs, polarity)
            o.emitted_latency_s, n = emission_latency(e, cfg, segs, polarity)
            o.emitted_exact_latency_s, n_exact = emission_latency(e, cfg, segs, polarity, exact_marks=True)
            outs.append(o)
            late_exact[0] += n_exact
            late += n
        return outs, late

    def cfg_of(esc: EscalationConfig, mode: str, vw: float, bt: int = 0) -> ChainConfig:
        return ChainConfig(fusion=FusionConfig(voice_weight=vw, words_weight=round(1.0 - vw, 6), mode=mode,
                                               baseline_turns=bt, baseline_prior=BASELINE_PRIOR,
                                               baseline_prior_weight=BASELINE_PRIOR_WEIGHT),
                           escalation=esc, agent_emotion=False)

    t0 = time.time()
    chosen: dict[str, dict[str, ChainConfig]] = {m: {} for m in ("voice", "words", "fused", "shipped")}
    tuning_summaries: dict = {m: {} for m in chosen}
    for split, (tune_f, _test_f) in splits.items():
        tune_es = subset(tune_f)
        if args.no_tune:
            for m in chosen:
                d = FusionConfig()
                chosen[m][split] = ChainConfig(fusion=dataclasses.replace(d, mode="fused" if m == "shipped" else m),
                                               agent_emotion=False)
            continue
        voice_s, words_s, fused_s = {}, {}, {}
        base_esc = EscalationConfig()

        def fused_of(mode: str, vw: float, bt: int, with_words: bool) -> list[list[FusedTurn]]:
            cfg = cfg_of(base_esc, mode, vw, bt)
            return [final_fused_turns(e, cfg, words[e["_spec"].call_id] if with_words else (), polarity) for e in tune_es]

        def replayed(fused: list[list[FusedTurn]], esc: EscalationConfig) -> dict:
            return summarize([replay_outcome(e, f, esc) for e, f in zip(tune_es, fused)])

        grid = list(escalation_grid(args.upset_rule))
        f_words = fused_of("words", 0.5, 0, True)
        for esc in grid:
            words_s[esc] = replayed(f_words, esc)
        for bt in BASELINE_TURNS:
            f_voice = fused_of("voice", 0.5, bt, False)
            for esc in grid:
                voice_s[(esc, bt)] = replayed(f_voice, esc)
            for vw in VOICE_WEIGHTS:
                f_fused = fused_of("fused", vw, bt, True)
                for esc in grid:
                    fused_s[(esc, vw, bt)] = replayed(f_fused, esc)
        # ties: the stricter rule, then no baseline (the simpler chain), then the larger voice weight
        best_v = max(voice_s, key=lambda k: (objective(voice_s[k]), tie_break(k[0]), -k[1]))
        best_w = max(words_s, key=lambda k: (objective(words_s[k]), tie_break(k)))
        best_f = max(fused_s, key=lambda k: (objective(fused_s[k]), tie_break(k[0]), -k[2], k[1]))
        # shipped defaults: one config for calls with and without transcripts (mean of both objectives)
        best_j = max(fused_s, key=lambda k: (tuple((a + b) / 2 for a, b in zip(objective(fused_s[k]),
                                                                                 objective(voice_s[(k[0], k[2])]))),
                                             tie_break(k[0]), -k[2], k[1]))
        chosen["voice"][split] = cfg_of(best_v[0], "voice", 0.5, best_v[1])
        chosen["words"][split] = cfg_of(best_w, "words", 0.5)
        chosen["fused"][split] = cfg_of(best_f[0], "fused", best_f[1], best_f[2])
        chosen["shipped"][split] = cfg_of(best_j[0], "fused", best_j[1], best_j[2])
        tuning_summaries["voice"][split] = voice_s[best_v]
        tuning_summaries["words"][split] = words_s[best_w]
        tuning_summaries["fused"][split] = fused_s[best_f]
        tuning_summaries["shipped"][split] = {"with_words": fused_s[best_j], "without_words": voice_s[(best_j[0], best_j[2])]}
        # the replay shortcut must agree with the real chain (offline order) on the chosen knobs
        for m, with_words in (("voice", False), ("words", True), ("fused", True)):
            real = summarize(outcomes(tune_es, chosen[m][split], with_words))
            if real != tuning_summaries[m][split]:
                raise AssertionError(f"replay and chain disagree for {m}: {real} vs {tuning_summaries[m][split]}")
        print(f"split {split}: tuned on folds {sorted(tune_f)} in {time.time() - t0:.0f} s", flush=True)

    results: dict = {"speaker_held_out": not args.single_model,
                     "models": sorted({str(f["model"]) for f in folds}),
                     "calls": len(entries), "splits": {k: {"tune_folds": sorted(v[0]), "test_folds": sorted(v[1])}
                                                      for k, v in splits.items()},
                     "calls_per_fold": {str(k): sum(e["_spec"].fold == k for e in entries) for k in fold_ids},
                     "modes": {}}
    variants = (("voice", "voice", False), ("words", "words", True), ("fused", "fused", True),
                ("shipped/with words", "shipped", True), ("shipped/no words", "shipped", False))
    for name, mode, with_words in variants:
        pooled: list[CallOutcome] = []
        late = 0
        stream_late = 0
        late_exact[0] = 0
        pos: list[float] = []
        neg: list[float] = []
        for split, (_tune_f, test_f) in splits.items():
            cfg = chosen[mode][split]
            if mode == "shipped" and not with_words:
                cfg = dataclasses.replace(cfg, fusion=dataclasses.replace(cfg.fusion, mode="fused"))
            es = subset(test_f)
            outs, n = streamed(es, cfg, with_words)
            pooled += outs
            stream_late += n
            late += sum(o.late for o in outcomes(es, cfg, with_words, arrival=True))
            p_, n_ = turn_scores(es, cfg, words if with_words else {}, polarity)
            pos += p_
            neg += n_
        per_cond = {c: summarize([o for o in pooled if o.condition == c]) for c in sorted({o.condition for o in pooled})}
        results["modes"][name] = {
            "configs": {split: {"fusion": dataclasses.asdict(chosen[mode][split].fusion),
                                "escalation": dataclasses.asdict(chosen[mode][split].escalation)} for split in splits},
            "tuning": tuning_summaries[mode],
            "test_pooled": summarize(pooled),
            "test_by_condition": per_cond,
            "arrival_order_late_events": late,
            "stream_replay_late_events": stream_late,
            "exact_marks_replay_late_events": late_exact[0],
            "turn_auc": auc(pos, neg),
            "per_call": [dataclasses.asdict(o) for o in pooled],
        }
    # latency vs share threshold (the early-episode question), shipped knobs otherwise, pooled test calls
    sweep = []
    for share in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        pooled = []
        for split, (_tune_f, test_f) in splits.items():
            base = chosen["shipped"][split]
            cfg = dataclasses.replace(base, escalation=dataclasses.replace(
                base.escalation, upset_share=share, rearm_share=min(base.escalation.rearm_share, share)))
            pooled += outcomes(subset(test_f), cfg, True)
        sweep.append({"upset_share": share, **summarize(pooled)})
    results["share_sweep_shipped_with_words"] = sweep

    def pooled_with(change: dict, with_words: bool, emission: bool = False, by_condition: bool = False) -> dict:
        pooled = []
        for split, (_tune_f, test_f) in splits.items():
            base = chosen["shipped"][split]
            cfg = dataclasses.replace(base, escalation=dataclasses.replace(base.escalation, **change))
            pooled += streamed(subset(test_f), cfg, with_words)[0] if emission else outcomes(subset(test_f), cfg, with_words)
        if by_condition:
            return {"all test calls": summarize(pooled),
                    **{c: summarize([o for o in pooled if o.condition == c]) for c in sorted({o.condition for o in pooled})}}
        return summarize(pooled)

    # early firing off / on with the shipped knobs otherwise (the before / after of evaluating the rule at
    # customer turn ends), with the latency at emission of a streaming replay
    results["early_firing_shipped"] = {
        f"{'on' if on else 'off'}/{'with' if ww else 'without'} words": pooled_with({"early_firing": on}, ww, True, True)
        for on in (False, True) for ww in (True, False)}
    # upset speech seconds instead of turns (1 turn + at least this much upset speech in the window)
    results["upset_seconds_sweep_shipped"] = [
        {"min_upset_turns": n, "min_upset_speech_s": sec,
         "with_words": pooled_with({"min_upset_turns": n, "min_upset_speech_s": sec}, True),
         "without_words": pooled_with({"min_upset_turns": n, "min_upset_speech_s": sec}, False)}
        for n, sec in ((2, 0.0), (1, 2.0), (1, 3.0), (1, 4.0), (1, 5.0))]
    # where the latency goes (shipped knobs, with words; early firing off and on)
    decomposition = {}
    for on in (False, True):
        parts = []
        for split, (_tune_f, test_f) in splits.items():
            base = chosen["shipped"][split]
            cfg = dataclasses.replace(base, escalation=dataclasses.replace(base.escalation, early_firing=on))
            for e in subset(test_f):
                d = latency_parts(e, cfg, words[e["_spec"].call_id], polarity)
                if d is not None:
                    parts.append(d)
        decomposition[f"early_firing_{'on' if on else 'off'}"] = summarize_parts(parts)
    results["latency_decomposition_shipped_with_words"] = decomposition
    # false alerts: which calm calls alert with the shipped knobs (with words), on what evidence, and
    # whether the voice baseline, the words or the hysteresis settings explain them
    results["false_alerts_with_words"] = {mode: [
        explain_false_alert(e, chosen[mode][split], words[e["_spec"].call_id], polarity, split)
        for split, (_tune_f, test_f) in splits.items() for e in subset(test_f)
        if evaluate_call(e, chosen[mode][split], words[e["_spec"].call_id], polarity).false_alert]
        for mode in ("fused", "shipped")}

    results["min_turns_sweep_shipped"] = [
        {"min_upset_turns": n, "with_words": pooled_with({"min_upset_turns": n}, True),
         "without_words": pooled_with({"min_upset_turns": n}, False)} for n in (1, 2, 3)]
    results["step_2_5s_shipped"] = {"with_words": pooled_with({"step_s": 2.5}, True),
                                    "without_words": pooled_with({"step_s": 2.5}, False)}
    # ceiling of the window rule: perfect turn labels, shipped escalation knobs (then min turns 1 / 2)
    ceiling = {}
    for label, change in (("shipped", {}), ("min_turns_1", {"min_upset_turns": 1}), ("min_turns_2", {"min_upset_turns": 2}),
                          ("min_turns_1_share_0.1", {"min_upset_turns": 1, "upset_share": 0.1, "rearm_share": 0.1}),
                          ("min_turns_2_share_0.1", {"min_upset_turns": 2, "upset_share": 0.1, "rearm_share": 0.1}),
                          ("early_off", {"early_firing": False}), ("early_on", {"early_firing": True}),
                          ("early_on_min_turns_2_share_0.1", {"early_firing": True, "min_upset_turns": 2,
                                                               "upset_share": 0.1, "rearm_share": 0.1}),
                          ("early_on_min_turns_1_share_0.1", {"early_firing": True, "min_upset_turns": 1,
                                                               "upset_share": 0.1, "rearm_share": 0.1})):
        pooled = []
        for split, (_tune_f, test_f) in splits.items():
            base = chosen["shipped"][split]
            esc = dataclasses.replace(base.escalation, upset_threshold=0.5, **change)
            for e in subset(test_f):
                fused = final_fused_turns(e, base, (), polarity)
                pooled.append(replay_outcome(e, perfect_turns(e, fused), esc))
        ceiling[label] = summarize(pooled)
    results["rule_ceiling_perfect_turns"] = ceiling
    sev: dict[str, int] = {}
    for split, (_tune_f, test_f) in splits.items():
        for e in subset(test_f):
            recs = chain_records(e["_spec"].call_id, e["_turns"], words[e["_spec"].call_id],
                                 config=chosen["shipped"][split], polarity=polarity, duration_s=e["_spec"].duration_s)
            for a in (r for r in recs if isinstance(r, Alert)):
                sev[a.severity] = sev.get(a.severity, 0) + 1
    results["alert_severities_shipped_with_words"] = sev
    # the defaults compiled into EscalationConfig / FusionConfig, on split A's test folds
    default_cfg = ChainConfig(agent_emotion=False)
    test_a = subset(splits["A"][1])
    results["compiled_defaults_on_split_A_test"] = {
        "folds": sorted(splits["A"][1]),
        "escalation": dataclasses.asdict(default_cfg.escalation), "fusion": dataclasses.asdict(default_cfg.fusion),
        "with_words": summarize(outcomes(test_a, default_cfg, True)),
        "without_words": summarize(outcomes(test_a, default_cfg, False)),
    }
    results["audio_cpu_s_per_audio_s"] = round(sum(e["cpu_s"] for e in entries) / sum(e["_spec"].duration_s for e in entries), 4)
    results["tuning_wall_s"] = round(time.time() - t0, 1)
    results["upset_rule_grid"] = {"rule": args.upset_rule, "min_turns_and_seconds": UPSET_RULES[args.upset_rule]}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=1))
    print_tables(results)
    return 0


def print_tables(results: dict) -> None:
    if not results["speaker_held_out"]:
        print("\n*** one model for every call (--single-model): it may have heard these speakers; NOT a held-out figure ***")
    print(f"\n{results['calls']} calls; folds {results['calls_per_fold']}; every call reported with knobs tuned on "
          f"the other folds (split A tunes on {results['splits']['A']['tune_folds']}, B on "
          f"{results['splits']['B']['tune_folds']})")
    hdr = (f"{'variant':19} {'set':19} {'calls':>5} {'upset':>5} {'recall':>6} {'rec<=10s':>8} {'FA calm':>7} "
           f"{'early':>5} {'lat med':>7} {'lat max':>7} {'late':>4} {'emit<=10s':>9} {'emit med':>8} "
           f"{'exact<=10s':>10} {'exact med':>9}")
    print(hdr)
    print("-" * len(hdr))
    for name, r in results["modes"].items():
        rows = [("all test calls", r["test_pooled"])] + [(c, s) for c, s in r["test_by_condition"].items()]
        for set_name, s in rows:
            print(f"{name:19} {set_name:19} {s['calls']:>5} {s['upset_calls']:>5} {s['recall']!s:>6} "
                  f"{s['recall_within_10s']!s:>8} {s['false_alert_rate_calm']!s:>7} {s['early_alerts_upset']:>5} "
                  f"{s['latency_median_s']!s:>7} {s['latency_max_s']!s:>7} {s['late_events']:>4} "
                  f"{s.get('recall_emitted_within_10s', '-')!s:>9} {s.get('emitted_latency_median_s', '-')!s:>8} "
                  f"{s.get('recall_emitted_exact_within_10s', '-')!s:>10} {s.get('emitted_exact_latency_median_s', '-')!s:>9}")
        for split, c in r["configs"].items():
            esc, fus = c["escalation"], c["fusion"]
            print(f"    split {split}: threshold {esc['upset_threshold']}, share {esc['upset_share']}, min turns "
                  f"{esc['min_upset_turns']}, upset seconds {esc.get('min_upset_speech_s', 0.0)}, windows "
                  f"{esc['consecutive_windows']}, early firing "
                  f"{esc.get('early_firing', False)}, voice weight {fus['voice_weight']}, "
                  f"baseline turns {fus.get('baseline_turns', 0)}")
        print(f"    turn AUC {r['turn_auc']}; late events when replayed in front-end emission order: "
              f"{r['arrival_order_late_events']}, in the streaming replay: {r.get('stream_replay_late_events', '-')}, "
              f"with exact marks: {r.get('exact_marks_replay_late_events', '-')}")
    print("share sweep (shipped knobs, with words): " + "; ".join(
        f"{x['upset_share']}: rec<=10s {x['recall_within_10s']} FA {x['false_alert_rate_calm']} "
        f"lat {x['latency_median_s']}/{x['latency_max_s']}" for x in results["share_sweep_shipped_with_words"]))
    print(f"alert severities (shipped, with words): {results['alert_severities_shipped_with_words']}")
    for row in results["min_turns_sweep_shipped"]:
        w, n = row["with_words"], row["without_words"]
        print(f"min upset turns {row['min_upset_turns']} (shipped otherwise): with words rec<=10s {w['recall_within_10s']} "
              f"FA {w['false_alert_rate_calm']}; without words rec<=10s {n['recall_within_10s']} FA {n['false_alert_rate_calm']}")
    for k, x in results["step_2_5s_shipped"].items():
        print(f"step 2.5 s (shipped otherwise), {k}: recall {x['recall']}, rec<=10s {x['recall_within_10s']}, "
              f"FA {x['false_alert_rate_calm']}, latency {x['latency_median_s']}/{x['latency_max_s']}")
    for k, x in results.get("rule_ceiling_perfect_turns", {}).items():
        print(f"rule ceiling (perfect turn labels), {k}: recall {x['recall']}, rec<=10s {x['recall_within_10s']}, "
              f"FA {x['false_alert_rate_calm']}, latency {x['latency_median_s']}/{x['latency_max_s']}")
    print("early firing (shipped knobs otherwise; emit = latency at emission in the streaming replay):")
    for k, rows in results.get("early_firing_shipped", {}).items():
        for set_name, x in rows.items():
            print(f"  {k:22} {set_name:17} recall {x['recall']}, rec<=10s {x['recall_within_10s']}, FA "
                  f"{x['false_alert_rate_calm']}, early {x['early_alerts_upset']}, latency {x['latency_median_s']}/"
                  f"{x['latency_max_s']}, emit<=10s {x.get('recall_emitted_within_10s')}, emit med "
                  f"{x.get('emitted_latency_median_s')}, exact marks emit<=10s "
                  f"{x.get('recall_emitted_exact_within_10s')}, med {x.get('emitted_exact_latency_median_s')}")
    for row in results.get("upset_seconds_sweep_shipped", []):
        w, n = row["with_words"], row["without_words"]
        print(f"min upset turns {row['min_upset_turns']} + upset speech >= {row['min_upset_speech_s']} s: with words "
              f"recall {w['recall']} rec<=10s {w['recall_within_10s']} FA {w['false_alert_rate_calm']}; without words "
              f"recall {n['recall']} rec<=10s {n['recall_within_10s']} FA {n['false_alert_rate_calm']}")
    for k, dec in results.get("latency_decomposition_shipped_with_words", {}).items():
        print(f"latency decomposition, shipped with words, {k} ({dec['detected_calls']} detected upset calls; "
              f"seconds after the onset: median, share of detected calls within 10 s, median step from the stage before):")
        for name in PART_NAMES:
            x = dec[name]
            print(f"    {name:17} n {x['n']:>3}  median {x['median_s']!s:>6}  within 10 s {x['within_10s']!s:>6}"
                  f"  step {x.get('median_step_s', '-')!s:>6}")
    for mode, fas in results.get("false_alerts_with_words", {}).items():
        for fa in fas:
            ev = "; ".join(f"{e['start_s']:.1f}-{e['end_s']:.1f} s voice {e['voice_raw']} (vs baseline "
                           f"{e['voice_vs_baseline']}) polarity {e['polarity']} -> {e['negativity']}" for e in fa["evidence"])
            still = ", ".join(k for k, v in fa["still_false_with"].items() if v) or "none"
            print(f"false alert, {mode}: {fa['call_id']} ({fa['kind']}, {fa['condition']}, split {fa['split']}) at "
                  f"{fa['at_s']} s {fa['severity']}: {ev}; still false with: {still}")
    d = results["compiled_defaults_on_split_A_test"]
    for k in ("with_words", "without_words"):
        s = d[k]
        print(f"compiled defaults, folds {d['folds']}, {k}: recall {s['recall']}, rec<=10s {s['recall_within_10s']}, "
              f"FA {s['false_alert_rate_calm']}, early {s['early_alerts_upset']}, latency {s['latency_median_s']}/{s['latency_max_s']}")


if __name__ == "__main__":
    sys.exit(main())
