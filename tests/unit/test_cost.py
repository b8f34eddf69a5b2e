"""Cost formulas checked against hand arithmetic on the npu-aim preset's published parameters."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import TensorType, f16, f32
from xdsl.ir import Attribute, Block, SSAValue

from pimc.dialects import nn
from pimc.targets.models.cost import device_cost, npu_peak_gflops, op_metrics, pim_weight, tensor_bytes
from pimc.targets.models.pim_timing import gemv_counts, pim_internal_gbps, pim_peak_gflops
from pimc.targets.system import load_system


def _arg(shape: list[int], dtype: Attribute = f32) -> SSAValue:
    return Block(arg_types=[TensorType(dtype, shape)]).args[0]


def test_device_peaks_follow_from_parameters() -> None:
    s = load_system("npu-aim")
    # 4 cores x 128 x 128 PEs x 2 FLOP x 1 GHz
    assert npu_peak_gflops(s.devices["npu"]) == 4 * 128 * 128 * 2 * 1.0
    # AiM: 32 channels x 16 banks x 16 lanes x 2 FLOP every 2 x 0.5 ns = 16.384 TFLOP/s
    assert pim_peak_gflops(s.devices["pim"]) == pytest.approx(32 * 16 * 16 * 2 / 1.0)
    # each bank streams one 32-byte column per 1 ns MAC interval: 16 TB/s, 512 GB/s per channel
    assert pim_internal_gbps(s.devices["pim"]) == pytest.approx(32 * 16 * 32 / 1.0)


def test_matmul_metrics_and_device_costs() -> None:
    s = load_system("npu-aim")
    x = _arg([1, 4096])
    w = nn.WeightOp("w", TensorType(f32, [4096, 4096]))
    op = nn.MatMulOp(x, w.result, TensorType(f32, [1, 4096]))
    assert op_metrics(op).bytes == (4096 + 4096 * 4096 + 4096) * 4  # the graph's own f32
    m = op_metrics(op, 2)  # deployed in fp16
    assert m.flops == 2 * 4096 * 4096
    assert m.bytes == (4096 + 4096 * 4096 + 4096) * 2
    assert m.engine == "matrix"
    assert pim_weight(op) is w.result
    npu = device_cost(op, m, s.devices["npu"], s, "fp16")
    assert npu is not None
    # a GEMV uses 1 of an output-stationary array's 128 rows: 4 cores x 1024 outputs each take
    # 8 column folds x (128 + 128 + 4096 - 2) cycles - 1 (SCALE-Sim), longer than streaming the weight
    assert npu.latency_ns == (8 * (128 + 128 + 4096 - 2) - 1) / 1.0
    assert npu.bound == "compute" and npu.latency_ns >= m.bytes / 1024
    # PIM: the timing of the GEMV's all-bank command sequence
    pim = device_cost(op, m, s.devices["pim"], s, "fp16")
    assert pim is not None
    counts = gemv_counts(1, 4096, 4096, s.devices["pim"])
    assert pim.latency_ns == counts.time_ns(s.devices["pim"])
    assert pim.energy_pj == counts.energy_pj(s.devices["pim"])
    assert pim.latency_ns < npu.latency_ns  # the point of PIM: a GEMV at the banks' bandwidth
    # GPU: max(FLOPs / 312 TFLOP/s, bytes / 1555 GB/s) + 1 us launch; energy = FLOPs x 1.3 pJ + bits x 3.9 pJ
    gpu = device_cost(op, m, s.devices["gpu"], s, "fp16")
    assert gpu is not None
    assert gpu.latency_ns == pytest.approx(max(m.flops / 312e3, m.bytes / 1555) + 1000)  # + the launch overhead
    assert gpu.energy_pj == pytest.approx(m.flops * 1.3 + m.bytes * 8 * 3.9)


def test_dtype_sets_float_bytes_and_integer_tensors_keep_their_width() -> None:
    from xdsl.dialects.builtin import i64

    assert tensor_bytes(TensorType(f32, [10]), 1) == 10
    assert tensor_bytes(TensorType(i64, [10]), 1) == 80
    assert tensor_bytes(TensorType(f16, [10])) == 20


def test_devices_run_only_the_dtypes_they_have_rates_for() -> None:
    s = load_system("npu-aim")
    w = nn.WeightOp("w", TensorType(f32, [64, 64]))
    op = nn.MatMulOp(_arg([1, 64]), w.result, TensorType(f32, [1, 64]))
    assert device_cost(op, op_metrics(op, 4), s.devices["pim"], s, "fp32") is None
    assert device_cost(op, op_metrics(op, 1), s.devices["gpu"], s, "fp8") is None  # the A100 has no fp8 rate
    assert device_cost(op, op_metrics(op, 1), s.devices["npu"], s, "fp8") is not None


def test_activation_matmul_cannot_run_on_pim() -> None:
    s = load_system("npu-aim")
    q, k = _arg([1, 4, 1, 16]), _arg([1, 4, 16, 16])
    op = nn.MatMulOp(q, k, TensorType(f32, [1, 4, 1, 16]))
    assert op_metrics(op).flops == 2 * 16 * 4 * 16
    assert pim_weight(op) is None
    assert device_cost(op, op_metrics(op), s.devices["pim"], s, "fp16") is None


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
