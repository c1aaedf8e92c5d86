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

    python -m bench.der_select [--data DIR] [--out bench/results/der_select.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from bench.der import CLIPS, der, read_rttm, read_uem
from bench.der_replay import record_events, replay

HORIZON = 5.0


def load_clips(data: Path):
    clips = []
    for name, rttm, uem_file in CLIPS:
        audio = data / f"{name}.flac"
        if not audio.exists():
            continue
        ref = read_rttm(data / rttm).get(name, [])
        uem = read_uem(data / uem_file).get(name) if uem_file else None
        clips.append((name, ref, uem, record_events(audio)))
    return clips


def score(clips, overrides: dict) -> dict:
    """Per clip DER (no collar) of each hypothesis under these settings, plus error/total seconds."""
    out = {}
    for name, ref, uem, rec in clips:
        hyps = replay(rec, overrides, (HORIZON,))
        out[name] = {}
        for kind, hyp in hyps.items():
            d = der(ref, hyp, uem, 0.0)
            out[name][kind] = (d["missed"] + d["false_alarm"] + d["confusion"], d["total"])
    return out


def pooled(per_clip: dict, kind: str, names) -> float:
    err = sum(per_clip[n][kind][0] for n in names)
    tot = sum(per_clip[n][kind][1] for n in names)
    return err / tot if tot else 0.0


def choose(candidates: list[dict], scores: list[dict], kind: str, ami: list[str]) -> dict:
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
    return {
        "objective": f"pooled AMI DER, no collar, hypothesis '{kind}'",
        "best_on_ami": candidates[best],
        "baseline": candidates[0],
        "baseline_ami_pooled": baseline,
        "rule": "lowest pooled AMI DER; it replaces the family's first candidate (baseline) only if the "
                "leave-one-clip-out pooled DER of the selection is below the baseline's pooled DER",
        "chosen": candidates[best] if accepted else candidates[0],
        "table": [{"setting": c, "ami_pooled": p, "sample": s["sample"][kind][0] / s["sample"][kind][1]
                   if "sample" in s else None} for c, p, s in zip(candidates, pooled_ami, scores)],
        "leave_one_clip_out": {"per_clip": loco, "pooled": loco_pooled},
    }


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

FAMILIES = [
    ("online", "emitted", lambda chosen: ONLINE),
    ("speaker_count", "emitted", lambda chosen: SPEAKER_COUNT),
    ("final", "relabelled", final_candidates),
    ("revisions", f"revised_{HORIZON:g}", lambda chosen: REVISIONS),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "diarization")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "der_select.json")
    args = parser.parse_args(argv)
    t0 = time.time()
    clips = load_clips(args.data)
    ami = [name for name, *_ in clips if name != "sample"]
    chosen: dict = {}
    report: dict = {"ami_clips": ami, "families": {}}
    for family, kind, make in FAMILIES:
        candidates = make(chosen)
        settings = [{**chosen, **c} for c in candidates]
        scores = [score(clips, s) for s in settings]
        result = choose(candidates, scores, kind, ami)
        chosen.update(result["chosen"])
        report["families"][family] = result
        print(f"{family}: best on AMI {result['best_on_ami']} (pooled {100 * min(r['ami_pooled'] for r in result['table']):.1f}%, "
              f"leave-one-clip-out {100 * result['leave_one_clip_out']['pooled']:.1f}%; baseline "
              f"{result['baseline']} {100 * result['baseline_ami_pooled']:.1f}%) -> chose {result['chosen']}")
        for row in result["table"]:
            print(f"   {json.dumps(row['setting']):60} AMI {100 * row['ami_pooled']:5.1f}%  sample {100 * row['sample']:5.1f}%")
    report["chosen"] = chosen
    report["seconds"] = time.time() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
