"""Training-side pieces: corpus file-name parsing, telephone degradation, torch net masking and export parity."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from models.emotion.augment import TelephoneAugmenter, add_noise, load_noise, mulaw_roundtrip, telephone_degrade
from models.emotion.corpora import list_clips, parse_name, read_manifest
from tests.conftest import require_data

SR = 16_000


@pytest.mark.parametrize(
    "name, corpus, speaker, label",
    [
        ("ravdess/Actor_05/03-01-02-01-01-01-05.flac", "ravdess", "05", "neutral"),  # calm -> neutral
        ("03-01-08-02-02-01-01.wav", "ravdess", "01", "surprise"),
        ("savee/DC_sa03.flac", "savee", "DC", "sad"),
        ("savee/DC_su03.flac", "savee", "DC", "surprise"),
        ("SAVEE/JK/a01.wav", "savee", "JK", "angry"),
        ("tess/OAF_back_ps.flac", "tess", "OAF", "surprise"),
        ("tess/OA_bite_neutral.flac", "tess", "OAF", "neutral"),
        ("YAF_dog_fear.wav", "tess", "YAF", "fear"),
        ("emodb/03a01Wa.flac", "emodb", "03", "angry"),
        ("emodb/16b10Lb.wav", "emodb", "16", "neutral"),  # boredom -> neutral
        ("1001_DFA_ANG_XX.wav", "cremad", "1001", "angry"),
    ],
)
def test_file_name_conventions(name, corpus, speaker, label):
    clip = parse_name(Path(name))
    assert (clip.corpus, clip.speaker, clip.label) == (corpus, speaker, label)


def test_unrelated_names_ignored():
    assert parse_name(Path("notes/recording.wav")) is None
    assert parse_name(Path("a01.wav")) is None  # SAVEE short form needs its speaker folder


def test_manifest(tmp_path):
    (tmp_path / "calls").mkdir()
    with open(tmp_path / "m.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "speaker"])
        w.writerow(["calls/a.wav", "Angry", "cust7"])
    (clip,) = read_manifest(tmp_path / "m.csv")
    assert clip.path == tmp_path / "calls" / "a.wav" and clip.label == "angry" and clip.speaker_key == "manifest:cust7"
    with open(tmp_path / "bad.csv", "w") as fh:
        fh.write("path,label,speaker\nx.wav,contempt,s1\n")
    with pytest.raises(ValueError, match="contempt"):
        read_manifest(tmp_path / "bad.csv")


def test_shared_corpus_listing():
    clips = list_clips(require_data("ser"))
    assert len(clips) == 2180
    assert {c.corpus for c in clips} == {"ravdess", "savee", "tess", "emodb"}
    assert len({c.speaker_key for c in clips}) == 18 + 3 + 1 + 10


def _speech_like(seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    b, a = scipy.signal.butter(2, [100, 7000], btype="bandpass", fs=SR)
    return (0.1 * scipy.signal.lfilter(b, a, rng.standard_normal(int(seconds * SR)))).astype(np.float32)


def _band_energy(x, lo, hi):
    f, p = scipy.signal.welch(x, fs=SR, nperseg=1024)
    return p[(f >= lo) & (f < hi)].sum()


def test_telephone_degrade_band_limits_and_keeps_length():
    x = _speech_like()
    y = telephone_degrade(x, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == np.float32
    assert _band_energy(y, 4200, 8000) < 1e-3 * _band_energy(x, 4200, 8000)
    assert _band_energy(y, 0, 150) < 0.05 * _band_energy(x, 0, 150)


def test_noise_mixed_at_requested_snr():
    x = _speech_like()
    noise = _speech_like(seed=1)[::-1].copy()
    y = add_noise(x, noise, 10.0, np.random.default_rng(0))
    snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x).astype(np.float64) ** 2))
    assert abs(snr - 10.0) < 0.1


def test_mulaw_is_8_bit():
    y = mulaw_roundtrip(np.linspace(-1, 1, 10_000, dtype=np.float32))
    assert len(np.unique(y)) <= 256


def test_eval_and_train_noise_parts_do_not_overlap():
    require_data("noise")
    full, train, held = load_noise("cafe_short"), load_noise("cafe_short", part="train"), load_noise("cafe_short", part="eval")
    assert len(train) + len(held) == len(full)
    np.testing.assert_array_equal(np.concatenate([train, held]), full)
    aug = TelephoneAugmenter.from_noise_dir()
    y = aug(_speech_like(), np.random.default_rng(3))
    assert y.shape == (2 * SR,) and np.all(np.isfinite(y))


# ---- torch (skipped where torch is absent) ---------------------------------------------------------
def test_net_masks_padding_and_export_parity(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is a training-only dependency (pip install .[train])")
    pytest.importorskip("onnx")
    import onnxruntime as ort

    from models.emotion.export import export_onnx
    from models.emotion.net import EmotionNet
    from processors.emotion.features import DEFAULT_PARAMS

    torch.manual_seed(0)
    net = EmotionNet().eval()
    x = torch.randn(1, 151, 64)
    batch = torch.randn(3, 400, 64)  # garbage in padding must not leak in
    batch[1, :151] = x[0]
    with torch.no_grad():
        alone = net(x, torch.tensor([151]))
        together = net(batch, torch.tensor([400, 151, 333]))
    assert float((alone - together[1]).abs().max()) < 1e-5

    path = tmp_path / "m.onnx"
    diff = export_onnx(net, path, DEFAULT_PARAMS, "test-0", {"note": "unit test"})
    assert diff < 1e-4
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["model_version"] == "test-0" and meta["note"] == "unit test"
    assert json.loads(meta["labels"])[0] == "angry"
    # dynamic axes: batch 5, 37 frames and batch 1, 900 frames both run
    for b, t in ((5, 37), (1, 900)):
        feats = np.random.default_rng(b).standard_normal((b, t, 64)).astype(np.float32)
        (p,) = sess.run(["probs"], {"features": feats, "lengths": np.full(b, t, np.int64)})
        assert p.shape == (b, 7)
        np.testing.assert_allclose(p, net(torch.from_numpy(feats), torch.full((b,), t)).detach().numpy(), atol=1e-4)
