"""Cost formulas checked against hand arithmetic on the npu-aim preset's published parameters."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import TensorType, f16, f32
from xdsl.ir import Block

from pimc.dialects import nn
from pimc.targets.cost import (
    latency_ns,
    npu_peak_gflops,
    op_metrics,
    pim_internal_gbps,
    pim_peak_gflops,
    pim_weight,
)
from pimc.targets.system import load_system


def _arg(shape: list[int], dtype=f32):
    return Block(arg_types=[TensorType(dtype, shape)]).args[0]


def test_device_peaks_follow_from_parameters() -> None:
    s = load_system("npu-aim")
    # 4 cores x 128 x 128 PEs x 2 FLOP x 1 GHz
    assert npu_peak_gflops(s.devices["npu"]) == 4 * 128 * 128 * 2 * 1.0
    # AiM: 32 channels x 16 banks x 16 lanes x 2 FLOP every 2 x 0.5 ns = 16.384 TFLOP/s
    assert pim_peak_gflops(s.devices["pim"]) == pytest.approx(32 * 16 * 16 * 2 / 1.0)
    # each bank streams one 32-byte column per 1 ns MAC interval: 16 TB/s, 512 GB/s per channel
    assert pim_internal_gbps(s.devices["pim"]) == pytest.approx(32 * 16 * 32 / 1.0)


def test_matmul_metrics_and_roofline() -> None:
    s = load_system("npu-aim")
    x = _arg([1, 4096])
    w = nn.WeightOp("w", TensorType(f32, [4096, 4096]))
    op = nn.MatMulOp(x, w.result, TensorType(f32, [1, 4096]))
    m = op_metrics(op)
    assert m.flops == 2 * 4096 * 4096
    assert m.bytes == (4096 + 4096 * 4096 + 4096) * 4
    assert m.engine == "matrix"
    assert pim_weight(op) is w.result
    # NPU is memory-bound: bytes / 1024 GB/s
    assert latency_ns(op, m, s.devices["npu"], s) == pytest.approx(m.bytes / 1024)
    # PIM: weight at the internal bandwidth (16384 GB/s), activations over the external bus
    w_bytes = 4096 * 4096 * 4
    expected = max(m.flops / 16384, w_bytes / 16384) + (m.bytes - w_bytes) / 1024
    assert latency_ns(op, m, s.devices["pim"], s) == pytest.approx(expected)
    # GPU: max(FLOPs / 312 TFLOP/s, bytes / 1555 GB/s)
    assert latency_ns(op, m, s.devices["gpu"], s) == pytest.approx(max(m.flops / 312e3, m.bytes / 1555))


def test_activation_matmul_cannot_run_on_pim() -> None:
    s = load_system("npu-aim")
    q, k = _arg([1, 4, 1, 16]), _arg([1, 4, 16, 16])
    op = nn.MatMulOp(q, k, TensorType(f32, [1, 4, 1, 16]))
    assert op_metrics(op).flops == 2 * 16 * 4 * 16
    assert pim_weight(op) is None
    assert latency_ns(op, op_metrics(op), s.devices["pim"], s) is None


def test_vector_op_metrics() -> None:
    x = _arg([2, 8, 64], f16)
    assert op_metrics(nn.SoftmaxOp(x)).flops == 5 * 2 * 8 * 64
    assert op_metrics(nn.SoftmaxOp(x)).bytes == 2 * 2 * 8 * 64 * 2
    scale = _arg([64], f16)
    ln = nn.LayerNormOp(x, scale, None)
    assert op_metrics(ln).flops == 7 * 2 * 8 * 64
    assert op_metrics(ln).bytes == (2 * 2 * 8 * 64 + 64) * 2
    r = nn.ReshapeOp(x, TensorType(f16, [16, 64]))
    assert (op_metrics(r).flops, op_metrics(r).bytes) == (0, 0)
    t = nn.TransposeOp(x, [0, 2, 1], TensorType(f16, [2, 64, 8]))
    assert (op_metrics(t).flops, op_metrics(t).bytes) == (0, 2 * 2 * 8 * 64 * 2)


def test_gemm_with_alpha_is_not_pim_able() -> None:
    a = _arg([1, 64])
    w = nn.WeightOp("w", TensorType(f32, [64, 32]))
    plain = nn.GemmOp(a, w.result, None, TensorType(f32, [1, 32]))
    scaled = nn.GemmOp(a, w.result, None, TensorType(f32, [1, 32]), alpha=0.5)
    assert pim_weight(plain) is w.result
    assert pim_weight(scaled) is None
    assert op_metrics(plain).flops == 2 * 64 * 32
