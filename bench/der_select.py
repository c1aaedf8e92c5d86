"""Choose the mono diarization settings on the AMI clips only, never on `sample`.

Each candidate setting is scored by the pooled DER (no collar) of the 13 AMI clips of
/work/shared/data/diarization, through the replay of bench/der_replay.py (identical turns to the
front end, ~1 s per setting for all clips). Three families are chosen one after another, each on
the hypothesis it acts on:
1. online settings (what is emitted live): scored on the as-emitted DER; then the speaker-count
   decision before a call's first split, on the same DER;
2. the end-of-call relabelling's `final_cepstral_weight`: scored on the relabelled DER;
3. the online revisions (`revision_*`): scored on the DER after revisions issued within 5 s.
Within a family the candidate with the lowest pooled AMI DER wins (ties: the first listed); it
replaces the family's first candidate (the baseline: the previous online defaults, the online
cepstral weight for the relabelling, revisions off) only if the selection's leave-one-clip-out
pooled DER is below the baseline's pooled DER. Leave-one-clip-out is reported alongside: for each AMI clip, the setting
the other 12 clips choose and the held-out clip's DER with it; the pooled held-out DER tells
how much of the gain is selection noise. `sample` is scored for every candidate and written to
the JSON, but it never takes part in a choice.

`--selection-set two_party` chooses on the synthetic two-party calls of bench/two_party_calls.py
instead (what the product's mono calls look like: exactly two parties taking turns; the AMI
excerpts are 1-4 far-field speakers and reward splitting late). Same families and rule (the
leave-one-out is then leave-one-call-out); the online family's baseline is the AMI-chosen online
setting and its grid also tries `min_memory` 5. Each call is scored with WCCN statistics learnt
on the other fold's speakers; a leave-fold-out figure (choose on one fold's calls, score the
other's, other voices) is reported alongside. `sample` is scored for
information only (AMI: bench/der.py with the chosen settings). Record: bench/results/der_select_two_party.json.

    python -m bench.der_select [--data DIR] [--selection-set ami|two_party] [--calls 24] [--seed 7] [--out JSON]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from bench.der import CLIPS, der, read_rttm, read_uem
from bench.der_replay import cached_record, replay

HORIZON = 5.0


def load_clips(data: Path):
    """(name, reference, uem, recorded events, WCCN transforms or None for the shipped ones)."""
    clips = []
    for name, rttm, uem_file in CLIPS:
        audio = data / f"{name}.flac"
        if not audio.exists():
            continue
        ref = read_rttm(data / rttm).get(name, [])
        uem = read_uem(data / uem_file).get(name) if uem_file else None
        clips.append((name, ref, uem, cached_record(audio), None))
    return clips


def load_two_party(n_calls: int, seed: int):
    """The synthetic two-party calls (bench/two_party_calls.py), each with the WCCN statistics
    learnt on the other fold's speakers."""
    from bench.two_party_calls import build_calls, fold_wccn_stats, transforms_from

    calls = build_calls(n_calls, seed)
    wccn = {fold: transforms_from(fold_wccn_stats(fold)) for fold in sorted({c.fold for c in calls})}
    return [(c.name, c.reference, None, cached_record(c.audio), wccn[c.fold], c.fold) for c in calls]


def score(clips, overrides: dict) -> dict:
    """Per clip DER (no collar) of each hypothesis under these settings, plus error/total seconds."""
    from processors.diarization import wccn as wccn_module

    out = {}
    shipped = wccn_module.transforms
    for name, ref, uem, rec, transforms, *_ in clips:
        wccn_module.transforms = transforms or shipped
        try:
            hyps = replay(rec, overrides, (HORIZON,))
        finally:
            wccn_module.transforms = shipped
        out[name] = {}
        for kind, hyp in hyps.items():
            d = der(ref, hyp, uem, 0.0)
            out[name][kind] = (d["missed"] + d["false_alarm"] + d["confusion"], d["total"])
    return out


_CLIPS: list = []


def _score_one(overrides: dict) -> dict:
    return score(_CLIPS, overrides)


def score_all(clips, settings: list[dict], jobs: int = 1) -> list[dict]:
    """`score` of every setting; with jobs > 1 in forked workers that inherit the recorded events
    and the speaker features cached by a first scoring here."""
    if jobs <= 1 or len(settings) < 2:
        return [score(clips, s) for s in settings]
    import multiprocessing

    first = score(clips, settings[0])
    _CLIPS[:] = clips
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        return [first] + pool.map(_score_one, settings[1:], chunksize=1)


def pooled(per_clip: dict, kind: str, names) -> float:
    err = sum(per_clip[n][kind][0] for n in names)
    tot = sum(per_clip[n][kind][1] for n in names)
    return err / tot if tot else 0.0


def choose(candidates: list[dict], scores: list[dict], kind: str, ami: list[str], label: str = "AMI",
           report: dict[str, list[str]] | None = None) -> dict:
    """`ami`: the names of the selection set (the AMI clips or the two-party calls); `report`:
    other sets scored for information only (never part of the choice)."""
    pooled_ami = [pooled(s, kind, ami) for s in scores]
    best = min(range(len(candidates)), key=lambda i: (round(pooled_ami[i], 6), i))
    baseline = pooled_ami[0]
    loco = {}
    err = tot = 0.0
    for held in ami:
        rest = [n for n in ami if n != held]
        pick = min(range(len(candidates)), key=lambda i: (round(pooled(scores[i], kind, rest), 6), i))
        e, t = scores[pick][held][kind]
        loco[held] = {"chosen": candidates[pick], "der": e / t if t else 0.0}
        err, tot = err + e, tot + t
    loco_pooled = err / tot if tot else 0.0
    # the selection itself must beat the baseline on clips it did not see, else its gain is noise
    accepted = best == 0 or loco_pooled < baseline
    key = "ami" if label == "AMI" else label.replace("-", "_")
    table = []
    for c, p, s in zip(candidates, pooled_ami, scores):
        row = {"setting": c, f"{key}_pooled": p}
        for name, names in (report or {"sample": ["sample"]}).items():
            names = [n for n in names if n in s]
            row[name if name == "sample" else f"{name}_pooled"] = pooled(s, kind, names) if names else None
        table.append(row)
    return {
        "objective": f"pooled {label} DER, no collar, hypothesis '{kind}'",
        f"best_on_{key}": candidates[best],
        "baseline": candidates[0],
        f"baseline_{key}_pooled": baseline,
        "rule": f"lowest pooled {label} DER; it replaces the family's first candidate (baseline) only if the "
                "leave-one-out pooled DER of the selection is below the baseline's pooled DER",
        "chosen": candidates[best] if accepted else candidates[0],
        "table": table,
        "leave_one_clip_out": {"per_clip": loco, "pooled": loco_pooled},
    }


def leave_fold_out(scores: list[dict], kind: str, fold_of: dict[str, int]) -> dict:
    """Two-party calls: the candidate chosen on one fold's calls (other speakers), scored on the
    other fold's; pooled over both directions, with the baseline's pooled DER on all calls."""
    folds = sorted(set(fold_of.values()))
    err = tot = 0.0
    picks = {}
    for held in folds:
        seen = [n for n, f in fold_of.items() if f != held]
        unseen = [n for n, f in fold_of.items() if f == held]
        pick = min(range(len(scores)), key=lambda i: (round(pooled(scores[i], kind, seen), 6), i))
        picks[held] = pick
        err += sum(scores[pick][n][kind][0] for n in unseen)
        tot += sum(scores[pick][n][kind][1] for n in unseen)
    return {"candidate_index_chosen_without_fold": picks, "pooled": err / tot if tot else 0.0,
            "baseline_pooled": pooled(scores[0], kind, list(fold_of))}


def grid(**axes) -> list[dict]:
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


ONLINE = grid(wccn_reg=[None, 0.1, 0.3, 1.0], cepstral_weight=[2.0, 0.0, 0.5, 1.0], smooth_slots=[True, False],
              min_memory=[8, 12, 16])
"""First: the defaults before this selection (the online settings had been set with `sample` in view)."""


def final_candidates(chosen: dict) -> list[dict]:
    same = chosen.get("cepstral_weight", 2.0)
    weights = [same] + [w for w in (0.0, 0.5, 0.75, 1.0, 1.5, 2.0) if w != same]
    return grid(final_cepstral_weight=weights, relabel_context=[0, 1])


REVISIONS = [{"revision_source": "off"}] + grid(revision_source=["final", "online"], revision_min_memory=[0, 16, 24],
                                                revision_context=[0, 1])

SPEAKER_COUNT = [{"first_split": "forced"}] + grid(first_split=["eigengap"], single_speaker_gap=[-0.03, 0.0, 0.03, 0.1])
"""Before a call's first split: forced at `min_memory` (baseline) or decided by the eigengap."""

AMI_CHOSEN_ONLINE = {"wccn_reg": 0.3, "cepstral_weight": 0.0, "smooth_slots": False, "min_memory": 16}
"""The online settings the AMI selection chose (bench/results/der_select.json): the baseline of
the two-party selection, which also tries earlier first splits."""

ONLINE_TWO_PARTY = [AMI_CHOSEN_ONLINE] + [
    c for c in grid(wccn_reg=[None, 0.1, 0.3, 1.0], cepstral_weight=[0.0, 0.5, 1.0, 2.0], smooth_slots=[True, False],
                    min_memory=[5, 8, 12, 16]) if c != AMI_CHOSEN_ONLINE]

FAMILIES = [
    ("online", "emitted", lambda chosen: ONLINE),
    ("speaker_count", "emitted", lambda chosen: SPEAKER_COUNT),
    ("final", "relabelled", final_candidates),
    ("revisions", f"revised_{HORIZON:g}", lambda chosen: REVISIONS),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "diarization")
    parser.add_argument("--out", type=Path, default=None,
                        help="default bench/results/der_select.json (ami) or der_select_two_party.json")
    parser.add_argument("--selection-set", choices=["ami", "two_party"], default="ami",
                        help="what the settings are chosen on: the 13 AMI clips, or the synthetic two-party calls "
                             "(bench/two_party_calls.py; sample then scored for information only)")
    parser.add_argument("--calls", type=int, default=24, help="two_party: number of calls")
    parser.add_argument("--seed", type=int, default=7, help="two_party: construction seed")
    parser.add_argument("--jobs", type=int, default=1, help="processes scoring candidates (same results)")
    args = parser.parse_args(argv)
    two_party = args.selection_set == "two_party"
    out = args.out or Path(__file__).resolve().parent / "results" / (
        "der_select_two_party.json" if two_party else "der_select.json")
    t0 = time.time()
    clips = load_clips(args.data)
    ami = [name for name, *_ in clips if name != "sample"]
    if two_party:
        calls = load_two_party(args.calls, args.seed)
        selection, label, key = [c[0] for c in calls], "two-party", "two_party"
        clips = [c for c in clips if c[0] == "sample"] + calls  # AMI: see bench/der.py for the chosen settings
        info = {"sample": ["sample"]}
        families = [("online", "emitted", lambda chosen: ONLINE_TWO_PARTY)] + FAMILIES[1:]
        report: dict = {"selection_set": "two_party", "calls": selection, "seed": args.seed,
                        "construction": "bench/two_party_calls.py", "families": {}}
    else:
        selection, label, key, info, families = ami, "AMI", "ami", None, FAMILIES
        report = {"ami_clips": ami, "families": {}}
    print(f"{len(clips)} clips recorded in {time.time() - t0:.0f} s", flush=True)
    chosen: dict = {}
    for family, kind, make in families:
        candidates = make(chosen)
        settings = [{**chosen, **c} for c in candidates]
        scores = score_all(clips, settings, args.jobs)
        result = choose(candidates, scores, kind, selection, label, info)
        if two_party:
            result["leave_fold_out"] = leave_fold_out(scores, kind, {c[0]: c[5] for c in calls})
        chosen.update(result["chosen"])
        report["families"][family] = result
        print(f"{family}: best on {label} {result[f'best_on_{key}']} (pooled "
              f"{100 * min(r[f'{key}_pooled'] for r in result['table']):.1f}%, leave-one-out "
              f"{100 * result['leave_one_clip_out']['pooled']:.1f}%; baseline "
              f"{result['baseline']} {100 * result[f'baseline_{key}_pooled']:.1f}%) -> chose {result['chosen']}"
              + (f"; leave-fold-out {100 * result['leave_fold_out']['pooled']:.1f}%" if two_party else ""),
              flush=True)
        for row in result["table"]:
            extra = "".join(f"  {n} {100 * row[n]:5.1f}%" for n in row if n not in ("setting", f"{key}_pooled")
                            and row[n] is not None)
            print(f"   {json.dumps(row['setting']):60} {label} {100 * row[f'{key}_pooled']:5.1f}%{extra}", flush=True)
    report["chosen"] = chosen
    report["seconds"] = time.time() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
