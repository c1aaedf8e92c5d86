"""Cheap, speaker-independent experiments on the statistics branch of the emotion model.

    python -m models.emotion.experiments cache              # statistics of every clip (once, ~2-4 min)
    python -m models.emotion.experiments heads   [--out build/exp_heads]
    python -m models.emotion.experiments enrol   [--out build/exp_enrol]
    python -m models.emotion.experiments phone   [--out build/exp_phone]

Input: the clips of ../shared/data/ser, the leave-speakers-out folds of models.emotion.evaluate
(FIXED_FOLDS), and the held-out predictions of the fold CNNs (model 1.0's log-mel CNN = the CNN part
of model 2.0): build/folds/predictions.jsonl, `probs` per (clip, condition).
Output: build/exp_<name>/results.json (every row's metrics) and results.md (the tables).

Protocol (all experiments): for test fold k, every statistics head is trained only on the speakers
outside fold k (clean statistics + the 2 training telephone copies, exactly the shipped recipe's
data) and scores fold k's clips twice: clean, and through the model card's telephone condition
(cafe noise from the held-out part at 10 dB SNR, 300-3400 Hz, 8 kHz, mu-law). Anything chosen from
data (the CNN/statistics mix weight, a C value) is chosen by inner cross-validation over the other
folds' speakers only: for each inner fold j != k a head is trained on the speakers outside {k, j}
and scores fold j; the CNN's probabilities for fold j are CNN_j's held-out predictions (CNN_j never
saw fold j's speakers; it did see fold k's, whose clips the inner score never touches; nested CNN
training would cost ~40 min per fold). The inner criterion is the mean of 4-class UA clean and
4-class UA phone over all inner clips.

Statistics cache (build/exp_cache/stats-<version>.npz): per clip 4 copies x 2 front ends:
copies = clean, training phone copy 1, training phone copy 2 (models.emotion.stats_head's draws),
evaluation telephone condition (models.emotion.evaluate.degrade_for_eval); front ends = the runtime's
(`raw`) and a 300-3400 Hz band-pass applied before the statistics (`band`, experiment 3's robustified
front end: every input looks like a phone line to the statistics).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal

from models.emotion.augment import TelephoneAugmenter, load_noise
from models.emotion.corpora import list_clips
from models.emotion.evaluate import ENGLISH, FIXED_FOLDS, FOUR, degrade_for_eval, metrics
from models.emotion.stats_head import STATS_VERSION, HeadConfig, train_head
from processors.audio.io import load_audio
from processors.emotion.features import BadAudioError
from processors.emotion.prosody import N_STATS, STAT_NAMES, utterance_stats
from processors.types import EMOTION_LABELS, NEGATIVE_EMOTIONS, SAMPLE_RATE

log = logging.getLogger("models.emotion.experiments")

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data" / "ser"
CACHE = REPO_ROOT / "build" / "exp_cache" / f"{STATS_VERSION}.npz"
CNN_PREDICTIONS = REPO_ROOT / "build" / "folds" / "predictions.jsonl"
CLEAN, TRAIN_COPIES, PHONE = 0, (1, 2), 3
CONDITIONS = {"clean": CLEAN, "telephone": PHONE}
NEG_IDX = np.array([EMOTION_LABELS.index(e) for e in NEGATIVE_EMOTIONS])
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
_BAND_SOS = scipy.signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=SAMPLE_RATE, output="sos")


# ---- statistics cache -----------------------------------------------------------------------------
_AUG: TelephoneAugmenter | None = None
_EVAL_NOISE: np.ndarray | None = None


def band_limit(x: np.ndarray) -> np.ndarray:
    """Experiment 3's front end: the phone band only, at 16 kHz (cheap: one 8th-order IIR pass)."""
    return scipy.signal.sosfilt(_BAND_SOS, x).astype(np.float32)


def band_weighted_mel(x: np.ndarray) -> np.ndarray:
    """Mel power of `x` as if it had passed the 300-3400 Hz band-pass: the FFT power weighted by the
    filter's |H(f)|^2 before the mel filterbank (the runtime could get it from the power spectrum it
    already computes for the CNN, one extra small matmul, instead of filtering and a second STFT)."""
    from processors.emotion.features import DEFAULT_PARAMS as P
    from processors.emotion.features import _window, mel_filterbank

    freqs = np.fft.rfftfreq(P.n_fft, 1.0 / P.sample_rate)
    _, h = scipy.signal.sosfreqz(_BAND_SOS, worN=freqs, fs=P.sample_rate)
    fb = mel_filterbank(P) * (np.abs(h) ** 2)[:, None].astype(np.float32)
    n_frames = 1 + (x.shape[0] - P.win_length) // P.hop_length
    frames = np.lib.stride_tricks.as_strided(x, shape=(n_frames, P.win_length),
                                             strides=(x.strides[0] * P.hop_length, x.strides[0]), writeable=False)
    spec = scipy.fft.rfft(frames * _window(P), n=P.n_fft, axis=1, workers=1)
    return (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32) @ fb


def _clip_copies_melband(path: str) -> tuple[str, np.ndarray | None]:
    """The 4 copies' statistics with the band-pass applied in the mel domain only (pitch unchanged)."""
    from processors.emotion.features import check_audio

    _load_augmenters()
    try:
        copies = _four_copies(path)
        rows = []
        for c in copies:
            x = check_audio(c)
            rows.append(utterance_stats(x, mel=band_weighted_mel(x)))
        return path, np.stack(rows)
    except (BadAudioError, ValueError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return path, None


def build_melband_cache(out: Path = CACHE.with_name(f"{STATS_VERSION}-melband.npz"), workers: int = 2) -> None:
    z = np.load(CACHE)
    paths = [str(DATA / p) for p in z["path"]]
    t0 = time.time()
    with ProcessPoolExecutor(workers) as pool:
        res = dict(pool.map(_clip_copies_melband, paths, chunksize=16))
    x = np.stack([res[p] for p in paths]).astype(np.float32)
    np.savez_compressed(out, x=x, path=z["path"])
    log.info("mel-band cache: %d clips in %.0f s -> %s", len(paths), time.time() - t0, out)


def _load_augmenters() -> None:
    """The telephone augmenter and the evaluation noise, loaded once per worker process."""
    global _AUG, _EVAL_NOISE
    if _AUG is None:
        _AUG, _EVAL_NOISE = TelephoneAugmenter.from_noise_dir(None), load_noise("cafe_short", part="eval")


def _four_copies(path: str) -> list[np.ndarray]:
    """A clip clean, its 2 training telephone copies (the same draws as stats_head.stats_cache /
    train.feature_cache) and its evaluation telephone copy (call `_load_augmenters` first)."""
    audio = load_audio(path).samples
    copies = [audio]
    for v in range(2):
        copies.append(_AUG(audio, np.random.default_rng([zlib.crc32(Path(path).name.encode()), v])))
    copies.append(degrade_for_eval(audio, Path(path).name, _EVAL_NOISE))
    return copies


def _clip_copies(path: str) -> tuple[str, np.ndarray | None]:
    _load_augmenters()
    try:
        copies = _four_copies(path)
        raw = [utterance_stats(c) for c in copies]
        band = [utterance_stats(band_limit(c)) for c in copies]
        return path, np.stack([np.stack(raw), np.stack(band)])
    except (BadAudioError, ValueError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return path, None


def build_cache(out: Path = CACHE, workers: int = 2) -> None:
    clips = list_clips(DATA)
    t0 = time.time()
    with ProcessPoolExecutor(workers) as pool:
        res = dict(pool.map(_clip_copies, [str(c.path) for c in clips], chunksize=16))
    kept = [c for c in clips if res.get(str(c.path)) is not None]
    x = np.stack([res[str(c.path)] for c in kept]).astype(np.float32)  # (n, 2 front ends, 4 copies, N_STATS)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, x=x, path=np.array([str(c.path.relative_to(DATA)) for c in kept]),
                        corpus=np.array([c.corpus for c in kept]), speaker=np.array([c.speaker_key for c in kept]),
                        label=np.array([c.label for c in kept]), stat_names=np.array(STAT_NAMES))
    log.info("cache: %d clips (%d skipped) in %.0f s -> %s", len(kept), len(clips) - len(kept), time.time() - t0, out)


@dataclass
class Data:
    raw: np.ndarray  # (n, 4, N_STATS): clean, train phone 1, train phone 2, eval phone
    band: np.ndarray
    path: np.ndarray
    corpus: np.ndarray
    speaker: np.ndarray
    y: np.ndarray  # EMOTION_LABELS indices
    fold: np.ndarray
    cnn: dict[str, np.ndarray]  # condition -> (n, 7) held-out CNN probabilities (fold CNN of the clip's fold)

    @property
    def labels(self) -> np.ndarray:
        return np.array(EMOTION_LABELS)[self.y]


def load_data(cache: Path = CACHE, cnn_predictions: Path = CNN_PREDICTIONS) -> Data:
    z = np.load(cache)
    if list(z["stat_names"]) != list(STAT_NAMES):
        raise SystemExit(f"{cache} holds other statistics than processors.emotion.prosody: rerun `cache`")
    fold_of = {s: k for k, f in enumerate(FIXED_FOLDS) for s in f}
    cnn = {c: np.full((len(z["path"]), len(EMOTION_LABELS)), np.nan) for c in CONDITIONS}
    index = {p: i for i, p in enumerate(z["path"])}
    with open(cnn_predictions) as fh:
        for line in fh:
            p = json.loads(line)
            rel = p["path"].split("/ser/", 1)[1]
            if rel in index and "probs" in p:
                cnn[p["condition"]][index[rel]] = p["probs"]
    for c, m in cnn.items():
        if np.isnan(m).any():
            raise SystemExit(f"{cnn_predictions}: {int(np.isnan(m).any(1).sum())} clips lack CNN predictions ({c})")
    return Data(raw=z["x"][:, 0], band=z["x"][:, 1], path=z["path"], corpus=z["corpus"], speaker=z["speaker"],
                y=np.array([EMOTION_LABELS.index(l) for l in z["label"]]),
                fold=np.array([fold_of[s] for s in z["speaker"]]), cnn=cnn)


# ---- metrics --------------------------------------------------------------------------------------
def table_metrics(d: Data, probs: dict[str, np.ndarray], rows: np.ndarray | None = None) -> dict:
    """Per corpus and pooled: UA4 and upset macro-F1, clean and telephone, on the given clip rows."""
    rows = np.arange(len(d.y)) if rows is None else rows
    groups = {c: [c] for c in ("ravdess", "savee", "tess", "emodb")}
    groups["english"] = list(ENGLISH)
    groups["all"] = ["ravdess", "savee", "tess", "emodb"]
    out: dict = {}
    for cond, p in probs.items():
        recs = [{"label": d.labels[i], "speaker": d.speaker[i], "probs": p[i], "upset": float(p[i][NEG_IDX].sum()),
                 "corpus": d.corpus[i]} for i in rows]
        for g, corpora in groups.items():
            sel = [r for r in recs if r["corpus"] in corpora]
            if sel:
                m = metrics(sel)
                out[f"{g}/{cond}"] = {"ua4": m["ua4"], "ua7": m["ua7"], "upset_f1": m["upset_macro_f1"], "n": m["n"]}
    return out


def ua4(y: np.ndarray, p: np.ndarray) -> float:
    """4-class UA of probability rows (argmax over angry/happy/neutral/sad) on clips of those classes."""
    four = np.array([EMOTION_LABELS.index(c) for c in FOUR])
    keep = np.isin(y, four)
    pred = four[np.argmax(p[keep][:, four], axis=1)]
    yt = y[keep]
    return float(np.mean([np.mean(pred[yt == c] == c) for c in np.unique(yt)]))


# ---- heads ----------------------------------------------------------------------------------------
def _balanced_resample(y: np.ndarray, seed: int) -> np.ndarray:
    counts = np.bincount(y, minlength=len(EMOTION_LABELS))
    w = (counts.max() / np.maximum(counts, 1))[y]
    return np.random.default_rng(seed).choice(len(y), size=2 * len(y), p=w / w.sum())


class Head:
    """A standardised sklearn head (or the shipped MLP bag) with 7-column probabilities."""

    def __init__(self, kind: str, param: float | None = None):
        self.kind, self.param = kind, param

    def fit(self, copies: np.ndarray, y: np.ndarray) -> "Head":
        """copies: (clips, copies, n_stats), clean first; y: (clips,) label indices."""
        from sklearn.preprocessing import StandardScaler

        if self.kind == "mlp_bag":  # models.emotion.stats_head.train_head, the shipped recipe, same row order
            self.bag = train_head(list(copies), y, HeadConfig(variants=copies.shape[1] - 1))
            return self
        x = copies.reshape(-1, copies.shape[2])
        y = np.repeat(y, copies.shape[1])
        self.scaler = StandardScaler().fit(x)
        z = self.scaler.transform(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.kind == "logreg":
                from sklearn.linear_model import LogisticRegression

                self.clf = LogisticRegression(C=self.param or 0.1, max_iter=3000, class_weight="balanced").fit(z, y)
            elif self.kind == "svm":
                from sklearn.svm import SVC

                self.clf = SVC(C=self.param or 1.0, gamma="scale", probability=True, class_weight="balanced",
                               random_state=0).fit(z, y)
            elif self.kind == "hgb":
                from sklearn.ensemble import HistGradientBoostingClassifier

                self.clf = HistGradientBoostingClassifier(learning_rate=0.1, max_iter=int(self.param or 150),
                                                          max_leaf_nodes=15, l2_regularization=1.0,
                                                          class_weight="balanced", early_stopping=False,
                                                          random_state=0).fit(z, y)
            else:
                raise ValueError(self.kind)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "mlp_bag":
            return self.bag.predict(x)
        p = np.zeros((len(x), len(EMOTION_LABELS)))
        p[:, self.clf.classes_] = self.clf.predict_proba(self.scaler.transform(x))
        return p


def fit_predict(d: Data, x: np.ndarray, train: np.ndarray, test: np.ndarray, kind: str, param=None) -> dict[str, np.ndarray]:
    """Head trained on clean + the 2 training phone copies of `train` clips; probabilities of `test`."""
    head = Head(kind, param).fit(x[train][:, [CLEAN, *TRAIN_COPIES]], d.y[train])
    return {cond: head.predict(x[test, col]) for cond, col in CONDITIONS.items()}


def cross_validated(d: Data, x: np.ndarray, kind: str, params: list = (None,), weights=WEIGHT_GRID,
                    inner: bool = True, fixed_weight: float = 0.5) -> dict:
    """Outer leave-fold-out predictions of head `kind` on statistics `x` (n, 4, n_stats); the mix
    weight (and `params` when more than one) chosen by inner CV on the training folds' speakers.

    Inner fits are shared: the head trained without folds {k, j} gives fold j's inner predictions for
    outer fold k and fold k's for outer fold j (10 fits for 5 folds instead of 20)."""
    n = len(d.y)
    folds = sorted(int(f) for f in set(d.fold))
    blank = lambda: {c: np.zeros((n, len(EMOTION_LABELS))) for c in CONDITIONS}  # noqa: E731
    pair_pred: dict[tuple, dict] = {}
    if inner:
        for a_i, a in enumerate(folds):
            for b in folds[a_i + 1:]:
                tr = np.flatnonzero((d.fold != a) & (d.fold != b))
                te = np.flatnonzero((d.fold == a) | (d.fold == b))
                for pa in params:
                    pair_pred[(a, b, pa)] = (te, fit_predict(d, x, tr, te, kind, pa))
    stats_p, mixed, fixed, chosen = blank(), blank(), blank(), {}
    for k in folds:
        test = np.flatnonzero(d.fold == k)
        outer_train = np.flatnonzero(d.fold != k)
        best_w, best_param = fixed_weight, params[0]
        if inner:
            scores = {}
            for pa in params:
                pred = blank()
                for j in folds:
                    if j == k:
                        continue
                    te, p = pair_pred[(min(j, k), max(j, k), pa)]
                    sel = d.fold[te] == j
                    for c in CONDITIONS:
                        pred[c][te[sel]] = p[c][sel]
                for w in weights:
                    s = [ua4(d.y[outer_train], w * d.cnn[c][outer_train] + (1 - w) * pred[c][outer_train])
                         for c in CONDITIONS]
                    scores[(pa, float(w))] = float(np.mean(s))
            best_param, best_w = max(scores, key=scores.get)
            chosen[k] = {"cnn_weight": best_w, "param": best_param, "inner_score": scores[(best_param, best_w)]}
        for c, p in fit_predict(d, x, outer_train, test, kind, best_param).items():
            stats_p[c][test] = p
            mixed[c][test] = best_w * d.cnn[c][test] + (1 - best_w) * p
            fixed[c][test] = fixed_weight * d.cnn[c][test] + (1 - fixed_weight) * p
        log.info("%s fold %d: %s", kind, k, chosen.get(k, "no inner CV"))
    return {"stats": stats_p, "mix_inner": mixed, "mix_fixed": fixed, "chosen": chosen}


# ---- reporting ------------------------------------------------------------------------------------
COLUMNS = [("ravdess", "ua4"), ("savee", "ua4"), ("tess", "ua4"), ("emodb", "ua4"), ("english", "ua4"),
           ("english", "upset_f1"), ("all", "upset_f1")]


def md_table(results: dict[str, dict]) -> str:
    head = "| variant | " + " | ".join(f"{g} {m.replace('_f1', ' F1').upper() if m == 'ua4' else 'upset F1'} clean / phone"
                                         for g, m in COLUMNS) + " | EN UA4 phone loss |"
    lines = [head, "|---" * (len(COLUMNS) + 2) + "|"]
    for name, m in results.items():
        cells = [f"{m[f'{g}/clean'][k]:.3f} / {m[f'{g}/telephone'][k]:.3f}" for g, k in COLUMNS]
        loss = 100 * (m["english/clean"]["ua4"] - m["english/telephone"]["ua4"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {loss:+.1f} |")
    return "\n".join(lines) + "\n"


def _plain(obj):
    """JSON-ready copy: numpy scalars to Python, dict keys to str."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def write(out: Path, title: str, tables: dict[str, dict], extra: dict, notes: str = "") -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(_plain({"tables": tables, **extra}), indent=1))
    md = [f"# {title}", "", f"command: `python -m models.emotion.experiments {' '.join(sys.argv[1:])}`", ""]
    if notes:
        md += [notes, ""]
    for name, t in tables.items():
        md += [f"## {name}", "", md_table(t)]
    (out / "results.md").write_text("\n".join(md))
    print("\n".join(md))


def baseline_rows(d: Data) -> dict[str, dict]:
    return {"CNN only (model 1.0 folds)": table_metrics(d, d.cnn)}


# ---- experiment 1: other heads + inner-CV mix weight -----------------------------------------------
HEAD_GRID = {"mlp_bag": [None], "logreg": [0.01, 0.1, 1.0], "svm": [0.3, 1.0, 3.0], "hgb": [150]}


def exp_heads(d: Data, out: Path, kinds: list[str], inner: bool = True) -> None:
    table, chosen, timings = baseline_rows(d), {}, {}
    for kind in kinds:
        t0 = time.time()
        r = cross_validated(d, d.raw, kind, HEAD_GRID[kind] if inner else HEAD_GRID[kind][:1], inner=inner)
        timings[kind] = round(time.time() - t0, 1)
        table[f"{kind}: statistics only"] = table_metrics(d, r["stats"])
        table[f"{kind}: 0.5 CNN + 0.5 stats"] = table_metrics(d, r["mix_fixed"])
        if inner:
            table[f"{kind}: inner-CV weight"] = table_metrics(d, r["mix_inner"])
        chosen[kind] = r["chosen"]
        write(out, "Experiment 1: statistics heads (standard protocol, leave-speakers-out)", {"heads": table},
              {"chosen": chosen, "seconds": timings})


# ---- experiment 2: k-clip speaker enrolment ---------------------------------------------------------
def enrol_normalise(d: Data, x: np.ndarray, k: int, mode: str, seed: int = 0) -> np.ndarray:
    """Each clip's statistics normalised by k other (unlabelled) clips of its speaker, drawn at random,
    in the same copy/condition (a call's earlier turns come through the same line)."""
    out = np.empty_like(x)
    rng = np.random.default_rng(seed)
    # pooled within-speaker spread: the prior that shrinks a k-clip std estimate
    within = np.concatenate([x[d.speaker == s, CLEAN] - x[d.speaker == s, CLEAN].mean(0) for s in np.unique(d.speaker)])
    prior_var = within.var(0) + 1e-6
    for s in np.unique(d.speaker):
        idx = np.flatnonzero(d.speaker == s)
        for i in idx:
            others = idx[idx != i]
            pick = rng.choice(others, size=min(k, len(others)), replace=False)
            for c in range(x.shape[1]):
                ref = x[pick, c]
                centred = x[i, c] - ref.mean(0)
                if mode == "centre":
                    out[i, c] = centred
                elif mode == "centre_scale":
                    var = (k * ref.var(0) + k * prior_var) / (2 * k)  # shrink halfway to the pooled spread
                    out[i, c] = centred / np.sqrt(var)
                elif mode == "raw+centre":
                    out[i, c] = centred  # concatenated below
                else:
                    raise ValueError(mode)
    if mode == "raw+centre":
        return np.concatenate([x, out], axis=2)
    return out


def exp_enrol(d: Data, out: Path, kinds: list[str], ks: list[int], modes: list[str], standard: bool = True) -> None:
    table, chosen = baseline_rows(d), {}
    for kind in kinds:
        if standard:  # the same head without enrolment (also in experiment 1's table)
            r = cross_validated(d, d.raw, kind, HEAD_GRID[kind][:1], inner=False)
            table[f"{kind}: standard protocol, statistics only"] = table_metrics(d, r["stats"])
            table[f"{kind}: standard protocol, 0.5 CNN + 0.5 stats"] = table_metrics(d, r["mix_fixed"])
        for mode in modes:
            for k in ks:
                xn = enrol_normalise(d, d.raw, k, mode)
                r = cross_validated(d, xn, kind, HEAD_GRID[kind][:1], inner=False)
                table[f"{kind}, {k}-clip enrolment ({mode}): statistics only"] = table_metrics(d, r["stats"])
                table[f"{kind}, {k}-clip enrolment ({mode}): 0.5 CNN + 0.5 stats"] = table_metrics(d, r["mix_fixed"])
                write(out, "Experiment 2: WITH k-CLIP SPEAKER ENROLMENT (separate protocol, not the headline)",
                      {"enrolment": table}, {"chosen": chosen},
                      notes="Each scored clip's statistics are normalised by k other clips of the same speaker drawn at random "
                            "(unlabelled, same condition; the clip itself excluded); training speakers normalised the same way. "
                            "Acted corpora: the k clips are spread over all emotions, unlike a call whose earlier turns may all "
                            "be upset. The runtime would need per-call running statistics state in the scoring stage.")


# ---- experiment 3: telephone robustness of the statistics ------------------------------------------
def feature_shift(d: Data, x: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per statistic, on the given clips: standardised mean shift clean -> eval phone, |shift| per clip
    relative to the spread across clips, and the clean/phone correlation."""
    clean, phone = x[rows, CLEAN].astype(np.float64), x[rows, PHONE].astype(np.float64)
    sd = clean.std(0) + 1e-9
    diff = (phone - clean) / sd
    corr = np.array([np.corrcoef(clean[:, f], phone[:, f])[0, 1] if clean[:, f].std() > 0 else 0.0
                     for f in range(x.shape[2])])
    return {"mean_shift": diff.mean(0), "abs_shift": np.abs(diff).mean(0), "corr": np.nan_to_num(corr)}


def exp_phone(d: Data, out: Path, kinds: list[str], drop_fracs: list[float], standard: bool = True,
              band_label: str = "300-3400 Hz band-pass before the stats") -> None:
    shift = feature_shift(d, d.raw, np.arange(len(d.y)))
    order = np.argsort(-shift["abs_shift"])
    ranking = [{"stat": STAT_NAMES[f], "mean_shift_sd": float(shift["mean_shift"][f]),
                "mean_abs_shift_sd": float(shift["abs_shift"][f]), "clean_phone_corr": float(shift["corr"][f])}
               for f in order]
    band_shift = feature_shift(d, d.band, np.arange(len(d.y)))
    table = baseline_rows(d)
    kept_info = {}
    for kind in kinds:
        if standard:  # also in experiment 1's table
            r = cross_validated(d, d.raw, kind, HEAD_GRID[kind][:1], inner=False)
            table[f"{kind}: all {N_STATS} stats (shipped), stats only"] = table_metrics(d, r["stats"])
            table[f"{kind}: all {N_STATS} stats (shipped), 0.5 CNN + 0.5 stats"] = table_metrics(d, r["mix_fixed"])
        for frac in drop_fracs:
            # ranking computed per outer fold on its training speakers only (no test audio)
            n = len(d.y)
            probs = {c: np.zeros((n, len(EMOTION_LABELS))) for c in CONDITIONS}
            mix = {c: np.zeros((n, len(EMOTION_LABELS))) for c in CONDITIONS}
            for k in sorted(int(f) for f in set(d.fold)):
                train, test = np.flatnonzero(d.fold != k), np.flatnonzero(d.fold == k)
                s = feature_shift(d, d.raw, train)["abs_shift"]
                keep = np.sort(np.argsort(s)[: int(round(N_STATS * (1 - frac)))])
                kept_info.setdefault(str(frac), {})[k] = [STAT_NAMES[f] for f in sorted(set(range(N_STATS)) - set(keep))]
                for c, p in fit_predict(d, d.raw[:, :, keep], train, test, kind).items():
                    probs[c][test] = p
                    mix[c][test] = 0.5 * d.cnn[c][test] + 0.5 * p
            table[f"{kind}: drop the {int(frac * 100)}% most shifted, stats only"] = table_metrics(d, probs)
            table[f"{kind}: drop the {int(frac * 100)}% most shifted, 0.5 CNN + 0.5 stats"] = table_metrics(d, mix)
        r = cross_validated(d, d.band, kind, HEAD_GRID[kind][:1], inner=False)
        table[f"{kind}: {band_label}, stats only"] = table_metrics(d, r["stats"])
        table[f"{kind}: {band_label}, 0.5 CNN + 0.5 stats"] = table_metrics(d, r["mix_fixed"])
        # more phone weight: the eval condition is not in training; train only on the phone copies + clean once
        write(out, "Experiment 3: telephone robustness of the statistics", {"phone": table},
              {"shift_ranking_raw": ranking,
               "band_front_end_mean_abs_shift_sd": float(band_shift["abs_shift"].mean()),
               "raw_mean_abs_shift_sd": float(shift["abs_shift"].mean()),
               "dropped_per_fold": kept_info},
              notes=shift_summary(ranking, shift, band_shift))


def shift_summary(ranking: list[dict], shift: dict, band_shift: dict) -> str:
    lines = ["Per-statistic shift clean -> telephone (eval condition), all clips, in clean across-clip SDs "
             f"(mean |shift| over all {N_STATS} stats: raw {shift['abs_shift'].mean():.2f}, "
             f"with the band-pass front end {band_shift['abs_shift'].mean():.2f}). Top 25:", "",
             "| stat | mean shift (SD) | mean abs shift (SD) | clean/phone corr |", "|---|---|---|---|"]
    for r in ranking[:25]:
        lines.append(f"| {r['stat']} | {r['mean_shift_sd']:+.2f} | {r['mean_abs_shift_sd']:.2f} | {r['clean_phone_corr']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["cache", "cache-melband", "heads", "enrol", "phone"])
    parser.add_argument("--out", default=None)
    parser.add_argument("--heads", default=None, help="comma-separated: mlp_bag,logreg,svm,hgb")
    parser.add_argument("--params", default=None,
                        help="heads: comma-separated hyper-parameter grid (C for logreg/svm, iterations for hgb) "
                             "replacing HEAD_GRID for every head given")
    parser.add_argument("--no-inner", action="store_true", help="heads: fixed 0.5 mix only (5 fits instead of 15)")
    parser.add_argument("--k", default="4,8", help="enrolment clips per speaker")
    parser.add_argument("--modes", default="centre_scale,centre", help="enrolment normalisations")
    parser.add_argument("--band-cache", default=None,
                        help="phone: take the band-limited statistics from this cache (e.g. build/exp_cache/stats-v2-melband.npz)")
    parser.add_argument("--no-standard", action="store_true", help="enrol/phone: skip the rows of the unchanged protocol (in experiment 1's table)")
    parser.add_argument("--drop", default="0.1,0.25", help="fractions of the most shifted statistics to drop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.experiment == "cache":
        build_cache()
        return 0
    if args.experiment == "cache-melband":
        build_melband_cache()
        return 0
    d = load_data()
    if args.band_cache:
        z = np.load(args.band_cache)
        if list(z["path"]) != list(d.path):
            raise SystemExit(f"{args.band_cache}: clips differ from {CACHE}")
        d.band = z["x"]
    out = Path(args.out or REPO_ROOT / "build" / f"exp_{args.experiment}")
    if args.params:
        for kind in HEAD_GRID:
            HEAD_GRID[kind] = [float(v) for v in args.params.split(",")]
    if args.experiment == "heads":
        exp_heads(d, out, (args.heads or "mlp_bag,logreg,svm,hgb").split(","), inner=not args.no_inner)
    elif args.experiment == "enrol":
        exp_enrol(d, out, (args.heads or "mlp_bag").split(","), [int(k) for k in args.k.split(",")], args.modes.split(","),
                  standard=not args.no_standard)
    else:
        exp_phone(d, out, (args.heads or "mlp_bag").split(","), [float(f) for f in args.drop.split(",") if f],
                  standard=not args.no_standard,
                  band_label="300-3400 Hz band weighting in the mel domain (pitch unchanged)" if args.band_cache
                  else "300-3400 Hz band-pass before the stats")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
