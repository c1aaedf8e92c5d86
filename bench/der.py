"""Diarization error rate of the streaming front end on the shared diarization clips.

DER = (missed speech + false alarm + speaker confusion) / total reference speech, over the UEM
scoring region, overlapping speech scored (every reference speaker counts), with the optimal
one-to-one mapping of hypothesis to reference speakers (Hungarian on co-occurrence time), as in
NIST md-eval. Collar: +-`collar` seconds around every reference segment boundary are not scored
(md-eval's `-c`; pyannote.metrics' `collar=2*c` is the same thing).
Hypothesis: the mono clip fed frame by frame (20 ms PCM16) through `FrontEnd`, scored twice:
* "as emitted": each turn with the cluster label it came out with (not roles) -- what a streaming
  consumer saw at the time;
* "relabelled": the same turns (same speech, same boundaries) after the call, each 0.8 s slot
  relabelled by a fresh clustering of everything the clusterer still remembers
  (`FrontEnd.speaker_segments()` + `processors.diarization.relabel_turns`): re-clustering as the
  call grows, applied to the labels already emitted. A turn whose slots now disagree is split at
  the slot edge; no speech is added or moved. This is what `callpulse diarize --relabel` prints.

Also the demo calls (demo/calls, synthetic two-party calls, downmixed; see DEMO_CALLS), pooled
apart: never used to choose a setting.

    python -m bench.der [--data DIR] [--no-demo] [--frame-ms 20] [--stereo] [--set max_speakers=4 ...]
                        [--config vad_threshold=0.4 ...] [--encoding mulaw --rate 8000] [--out FILE]
    -> prints the table, writes bench/results/der.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from processors.types import SAMPLE_RATE

Segment = tuple[float, float, str]


def read_rttm(path: Path) -> dict[str, list[Segment]]:
    out: dict[str, list[Segment]] = defaultdict(list)
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0] == "SPEAKER":
            start, dur = float(parts[3]), float(parts[4])
            out[parts[1]].append((start, start + dur, parts[7]))
    return dict(out)


def read_uem(path: Path) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 4:
            out[parts[0]].append((float(parts[2]), float(parts[3])))
    return dict(out)


def _intervals_minus(regions: list[tuple[float, float]], holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    holes = sorted(holes)
    for a, b in regions:
        cur = a
        for h0, h1 in holes:
            if h1 <= cur or h0 >= b:
                continue
            if h0 > cur:
                out.append((cur, h0))
            cur = max(cur, h1)
        if cur < b:
            out.append((cur, b))
    return out


def der(reference: list[Segment], hypothesis: list[Segment], uem: list[tuple[float, float]] | None = None,
        collar: float = 0.0) -> dict[str, float]:
    """Standard DER components (seconds) and rate for one recording. `missed_overlap`: the part of
    `missed` where the hypothesis had speech but fewer voices than the reference (overlapped speech,
    which a one-speaker-at-a-time hypothesis cannot cover)."""
    if uem is None:
        ends = [e for _, e, _ in reference + hypothesis]
        uem = [(0.0, max(ends, default=0.0))]
    scored = list(uem)
    if collar > 0:
        bounds = sorted({t for s, e, _ in reference for t in (s, e)})
        scored = _intervals_minus(scored, [(t - collar, t + collar) for t in bounds])
    cuts = sorted({t for a, b in scored for t in (a, b)} | {t for s, e, _ in reference + hypothesis for t in (s, e)})
    ref_spk = sorted({s for *_, s in reference})
    hyp_spk = sorted({s for *_, s in hypothesis})
    co = np.zeros((len(hyp_spk), len(ref_spk)))
    pieces = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        if b <= a:
            continue
        mid = (a + b) / 2
        if not any(s <= mid < e for s, e in scored):
            continue
        r = {ref_spk.index(s) for s0, e0, s in reference if s0 <= mid < e0}
        h = {hyp_spk.index(s) for s0, e0, s in hypothesis if s0 <= mid < e0}
        pieces.append((b - a, r, h))
        for i in h:
            for j in r:
                co[i, j] += b - a
    mapping = {}
    if co.size:
        rows, cols = linear_sum_assignment(-co)
        mapping = {int(i): int(j) for i, j in zip(rows, cols)}
    total = missed = fa = conf = missed_overlap = 0.0
    for d, r, h in pieces:
        nr, nh = len(r), len(h)
        correct = sum(1 for i in h if mapping.get(i) in r)
        total += nr * d
        missed += max(0, nr - nh) * d
        if nh:
            missed_overlap += max(0, nr - nh) * d
        fa += max(0, nh - nr) * d
        conf += (min(nr, nh) - correct) * d
    rate = (missed + fa + conf) / total if total else 0.0
    return {"der": rate, "missed": missed, "false_alarm": fa, "confusion": conf, "total": total,
            "ref_speakers": len(ref_spk), "hyp_speakers": len(hyp_spk),
            "missed_overlap": missed_overlap}


def streaming_hypothesis(path: Path, frame_ms: float = 20, config=None, encoding: str = "pcm_s16le",
                         rate: int = 16000) -> tuple[list[Segment], dict]:
    """Feed a recording through FrontEnd as a mono call; cluster-labelled turns + timing."""
    from processors.audio.io import load_audio
    from processors.frontend import FrontEnd, FrontEndConfig, frames_from_clip
    from processors.types import CallInfo

    clip = load_audio(path)
    call = CallInfo(call_id=path.stem, stereo=False)
    fe = FrontEnd(call, config or FrontEndConfig())
    frames = list(frames_from_clip(call.call_id, clip.samples, frame_ms, encoding, rate))
    hyp: list[Segment] = []
    history: list[tuple[float, float, float, str]] = []
    # the labeler's online revisions (FrontEnd has no public hook for them yet: read the labeler)
    labeler = fe._labelers[0]
    take = getattr(labeler, "take_revisions", list)
    t0 = time.process_time()
    for frame in frames:
        for turn in fe.push(frame):
            hyp.append((turn.start_s, turn.end_s, fe.last_labels[turn.turn_id]))
        now = (frame.seq + 1) * frame_ms / 1000
        history.extend((now, a / SAMPLE_RATE, b / SAMPLE_RATE, label) for a, b, label in take())
    for turn in fe.flush():
        hyp.append((turn.start_s, turn.end_s, fe.last_labels[turn.turn_id]))
    history.extend((clip.duration_s, a / SAMPLE_RATE, b / SAMPLE_RATE, label) for a, b, label in take())
    cpu = time.process_time() - t0
    from processors.diarization import relabel_turns

    relabelled = relabel_turns(hyp, fe.speaker_segments())
    revised = relabel_turns(hyp, revised_at(history, REVISION_HORIZON_S))
    return hyp, {"cpu_s": cpu, "audio_s": clip.duration_s, "turns": len(hyp), "relabelled": relabelled,
                 "revised": revised, "revisions": len(history)}


REVISION_HORIZON_S = 5.0
"""The "revised" hypothesis: each piece's label as last revised within this many seconds of its end."""


def pooled_der(scores: list[dict]) -> float:
    """DER pooled over clips: all their errors over all their reference speech (not a mean of rates)."""
    tot = sum(d["total"] for d in scores)
    err = sum(d["missed"] + d["false_alarm"] + d["confusion"] for d in scores)
    return err / tot if tot else 0.0


def revised_at(history, horizon: float) -> list[Segment]:
    """(time revised, start, end, label) revisions -> each piece's latest label issued no later
    than `horizon` after the piece ended (same units throughout)."""
    latest: dict[tuple[float, float], tuple[float, str]] = {}
    for when, a, b, label in history:
        if when <= b + horizon:
            latest[(a, b)] = (when, label)
    return [(a, b, label) for (a, b), (_, label) in latest.items()]


def stereo_sample(data: Path, noise_dbfs: list[float | None], margins=(None, 6.0), front: dict | None = None) -> dict:
    """sample.flac split into two channels by its RTTM (each speaker on their own side, as a stereo
    call), cafe noise at `noise_dbfs` added to both sides (None: none), 8 kHz mu-law, 20 ms frames;
    hypothesis speaker = channel. DER with and without the stereo noise-floor VAD gate."""
    from processors.audio.io import load_audio
    from processors.frontend import FrontEnd, FrontEndConfig, frames_from_clip
    from processors.types import CallInfo

    ref = read_rttm(data / "sample.rttm")["sample"]
    x = load_audio(data / "sample.flac").samples
    chans = np.zeros((2, len(x)), np.float32)
    speakers = sorted({s for *_, s in ref})
    for s0, e0, spk in ref:
        a, b = int(s0 * 16000), int(e0 * 16000)
        chans[speakers.index(spk), a:b] = x[a:b]
    noise = load_audio(data.parent / "noise" / "cafe_short.flac").samples
    noise = np.tile(noise, -(-len(x) // len(noise)))[: len(x)]
    noise = np.stack([noise, np.roll(noise, len(noise) // 3)]) / np.sqrt(np.mean(noise ** 2))
    out = {}
    for level in noise_dbfs:
        audio = chans if level is None else (chans + 10 ** (level / 20) * noise).astype(np.float32)
        frames = list(frames_from_clip("s", audio, 20, "mulaw", 8000))
        for margin in margins:
            fe = FrontEnd(CallInfo("s", stereo=True), FrontEndConfig(**{**(front or {}), "vad_noise_margin_db": margin}))
            turns = [t for f in frames for t in fe.push(f)] + fe.flush()
            hyp = [(t.start_s, t.end_s, speakers[t.channel]) for t in turns]
            out[f"noise={level}dBFS gate={margin}"] = der(ref, hyp)
    return out


CLIPS = [("sample", "sample.rttm", None)] + [
    (f"trn0{i}", "debug.train.rttm", "debug.train.uem") for i in range(1, 10)
] + [(f"dev0{i}", "debug.development.rttm", "debug.development.uem") for i in range(2)] + [
    (f"tst0{i}", "debug.test.rttm", "debug.test.uem") for i in range(2)]


DEMO_CALLS = Path(__file__).resolve().parents[1] / "demo" / "calls"
"""Synthetic two-party calls (demo/make_calls.py: RAVDESS actors 1-8 reading alternately, no
overlap); stereo ones are downmixed. Reference: the transcript's turn times (trimmed clips, 0.12 s
of padding). A held-out check of the two-party case: no setting was chosen on them and their
speakers are not in the WCCN statistics (processors/diarization/wccn.py)."""


def demo_clips() -> list[tuple[str, Path, list[Segment]]]:
    out = []
    for transcript in sorted(DEMO_CALLS.glob("*.transcript.json")):
        stem = transcript.name.removesuffix(".transcript.json")
        audio = DEMO_CALLS / f"{stem}.flac"
        if audio.exists():
            ref = [(float(t["start_s"]), float(t["end_s"]), t["speaker"]) for t in json.loads(transcript.read_text())]
            out.append((f"demo:{stem}", audio, ref))
    return out


def evaluate(data: Path, frame_ms: float = 20, config=None, clips=None, encoding: str = "pcm_s16le",
             rate: int = 16000, demo: bool = True) -> dict:
    results = {}
    items = []
    for name, rttm, uem_file in CLIPS:
        audio = data / f"{name}.flac"
        if audio.exists():
            ref = read_rttm(data / rttm).get(name, [])
            uem = read_uem(data / uem_file).get(name) if uem_file and (data / uem_file).exists() else None
            items.append((name, audio, ref, uem))
    if demo:
        items += [(name, audio, ref, None) for name, audio, ref in demo_clips()]
    for name, audio, ref, uem in items:
        if clips and name not in clips:
            continue
        hyp, timing = streaming_hypothesis(audio, frame_ms, config, encoding, rate)
        rel, rev = timing["relabelled"], timing["revised"]
        results[name] = {
            "no_collar": der(ref, hyp, uem, 0.0),
            "collar_0.25": der(ref, hyp, uem, 0.25),
            "revised": {"no_collar": der(ref, rev, uem, 0.0), "collar_0.25": der(ref, rev, uem, 0.25),
                        "revisions": timing["revisions"]},
            "relabelled": {"no_collar": der(ref, rel, uem, 0.0), "collar_0.25": der(ref, rel, uem, 0.25)},
            "cpu_ms_per_s": 1000 * timing["cpu_s"] / timing["audio_s"],
        }
    return results


SELECTION = Path(__file__).resolve().parent / "results" / "der_select_two_party.json"
"""The record the shipped defaults come from (bench/der_select.py --selection-set two_party);
der_select.json next to it is the earlier AMI-only selection, kept for comparison."""


def selection_record(overrides: dict) -> dict:
    """How the diarization settings in use were chosen (bench/der_select.py's record), and whether
    the shipped defaults are the ones it chose."""
    from dataclasses import asdict

    from processors.diarization import DiarizationConfig

    cfg = DiarizationConfig.from_overrides(overrides)
    in_use = {**{k: v for k, v in asdict(cfg).items() if k != "clustering"}, **asdict(cfg.clustering)}
    record = {"settings_in_use": in_use, "overrides": overrides}
    if not SELECTION.exists():
        record["note"] = f"settings not selected: {SELECTION} missing (run python -m bench.der_select --selection-set two_party)"
        return record
    chosen = json.loads(SELECTION.read_text())
    differ = {k: (in_use.get(k), v) for k, v in chosen["chosen"].items() if in_use.get(k) != v}
    record.update({
        "method": "bench/der_select.py --selection-set two_party: each family of settings chosen by the lowest "
                  "pooled DER (no collar) of synthetic two-party calls (bench/two_party_calls.py: non-demo voices of "
                  "data/ser, WCCN of each fold learnt on the other fold's voices; sample, AMI and the demo calls never "
                  "take part), online settings on the as-emitted DER, the end-of-call relabelling on the relabelled "
                  "DER, revisions on the revised DER; leave-one-call-out and leave-fold-out figures alongside",
        "record": str(SELECTION.relative_to(SELECTION.parents[2])),
        "chosen": chosen["chosen"],
        "leave_one_clip_out_pooled": {f: r["leave_one_clip_out"]["pooled"] for f, r in chosen["families"].items()},
        "in_use_differs_from_chosen": differ,
    })
    record["note"] = ("settings: as chosen on the two-party calls (bench/results/der_select_two_party.json)"
                      if not differ else f"settings differ from those chosen on the two-party calls: {differ}")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "diarization")
    parser.add_argument("--frame-ms", type=float, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "der.json")
    parser.add_argument("--clips", nargs="*")
    parser.add_argument("--no-demo", action="store_true", help="leave out the demo calls (demo/calls)")
    parser.add_argument("--encoding", default="pcm_s16le", choices=["pcm_s16le", "mulaw", "alaw"],
                        help="send the clips as this encoding (telephone: mulaw at --rate 8000)")
    parser.add_argument("--rate", type=int, default=16000, choices=[8000, 16000, 44100, 48000])
    parser.add_argument("--stereo", action="store_true",
                        help="also: sample.flac as a stereo call with line noise, with/without the VAD noise gate")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="diarization overrides, e.g. max_speakers=4 cepstral_weight=10")
    parser.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                        help="front-end settings (FrontEndConfig), e.g. vad_threshold=0.4 post_pad_s=0.05")
    args = parser.parse_args(argv)
    from processors.frontend import FrontEndConfig

    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    front = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.config)}
    results = evaluate(args.data, args.frame_ms, FrontEndConfig(diarization=overrides, **front), clips=args.clips,
                       encoding=args.encoding, rate=args.rate, demo=not args.no_demo)
    results["_settings"] = {"frame_ms": args.frame_ms, "diarization_overrides": overrides, "front_end": front,
                            "encoding": args.encoding, "rate": args.rate}
    results["_selection"] = selection_record(overrides)
    print("as emitted (labels each turn had when it came out) | revised (online revisions issued within "
          f"{REVISION_HORIZON_S:g} s of a piece's end) | relabelled (end of call, processors/diarization/relabel.py)")
    print("miss = missed speech, of which ovl = overlapped speech (the hypothesis spoke, with fewer voices)")
    print(f"{'clip':17} {'spk':>3} {'hyp':>3} {'DER':>7} {'miss':>6} {'ovl':>6} {'FA':>6} {'conf':>6} {'DER.25':>7} | "
          f"{'DER':>7} {'DER.25':>7} | {'DER':>7} {'conf':>6} {'DER.25':>7}  ms/s")
    for name, r in results.items():
        if name.startswith("_"):
            continue
        a, b = r["no_collar"], r["collar_0.25"]
        va, vb = r["revised"]["no_collar"], r["revised"]["collar_0.25"]
        ra, rb = r["relabelled"]["no_collar"], r["relabelled"]["collar_0.25"]
        t = a["total"] or 1
        print(f"{name:17} {a['ref_speakers']:>3} {a['hyp_speakers']:>3} {100*a['der']:6.1f}% {100*a['missed']/t:5.1f}% "
              f"{100*a['missed_overlap']/t:5.1f}% {100*a['false_alarm']/t:5.1f}% {100*a['confusion']/t:5.1f}% {100*b['der']:6.1f}% | "
              f"{100*va['der']:6.1f}% {100*vb['der']:6.1f}% | "
              f"{100*ra['der']:6.1f}% {100*ra['confusion']/t:5.1f}% {100*rb['der']:6.1f}%  {r['cpu_ms_per_s']:.1f}")
    ami = [r for n, r in results.items() if n != "sample" and not n.startswith(("_", "demo:"))]
    if ami:
        for prefix, get in (("", lambda r: r), ("revised_", lambda r: r["revised"]),
                            ("relabelled_", lambda r: r["relabelled"])):
            for key in ("no_collar", "collar_0.25"):
                results.setdefault("_ami_pooled", {})[prefix + key] = pooled_der([get(r)[key] for r in ami])
        p = results["_ami_pooled"]
        print(f"AMI pooled DER (no collar / 0.25 s collar): as emitted {100*p['no_collar']:.1f}% / "
              f"{100*p['collar_0.25']:.1f}%; revised {100*p['revised_no_collar']:.1f}% / {100*p['revised_collar_0.25']:.1f}%; "
              f"relabelled {100*p['relabelled_no_collar']:.1f}% / {100*p['relabelled_collar_0.25']:.1f}%")
        two = [r for n, r in results.items() if n != "sample" and not n.startswith(("_", "demo:"))
               and r["no_collar"]["ref_speakers"] == 2]
        for prefix, get in (("", lambda r: r), ("relabelled_", lambda r: r["relabelled"])):
            results.setdefault("_ami_two_speaker_pooled", {})[prefix + "no_collar"] = pooled_der(
                [get(r)["no_collar"] for r in two])
        q = results["_ami_two_speaker_pooled"]
        print(f"AMI clips with 2 reference speakers, pooled, no collar: as emitted {100*q['no_collar']:.1f}%, "
              f"relabelled {100*q['relabelled_no_collar']:.1f}%")
    demo = [r for n, r in results.items() if n.startswith("demo:")]
    if demo:
        for prefix, get in (("", lambda r: r), ("relabelled_", lambda r: r["relabelled"])):
            for key in ("no_collar", "collar_0.25"):
                results.setdefault("_demo_pooled", {})[prefix + key] = pooled_der([get(r)[key] for r in demo])
        d = results["_demo_pooled"]
        print(f"demo calls (synthetic two-party, held out), pooled: as emitted {100*d['no_collar']:.1f}% / "
              f"{100*d['collar_0.25']:.1f}%; relabelled {100*d['relabelled_no_collar']:.1f}% / "
              f"{100*d['relabelled_collar_0.25']:.1f}%")
    print(results["_selection"]["note"])
    if args.stereo:
        results["_stereo_sample"] = stereo_sample(args.data, [None, -60, -50, -40], front=front)
        print("\nsample.flac as a stereo call (speaker = channel), 8 kHz mu-law, DER no collar:")
        for key, r in results["_stereo_sample"].items():
            t = r["total"] or 1
            print(f"  {key:32} {100 * r['der']:5.1f}%  (miss {100 * r['missed'] / t:4.1f}%, FA {100 * r['false_alarm'] / t:4.1f}%)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
