"""Op metrics (FLOPs, bytes) and roofline latency of an op on each device kind.

These are the foundation's cost models: pure functions of (op, shapes, device
description). Units: FLOPs and bytes are counts; rates are GFLOP/s (= FLOP/ns)
and GB/s (= byte/ns), so every latency comes out in ns.

Metrics per op (E = number of result elements; bytes = every operand read once
plus every result written once, at each tensor's own element type):

- matmul: FLOPs = 2 * batch * M * N * K.
- gemm: FLOPs = 2 * M * N * K, plus M * N for adding C when present.
- linear: FLOPs = 2 * E * K, + E with a bias (K the contracted dim).
- attention (q [B,Hq,S,D], k [B,Hkv,T,D], v [B,Hkv,T,Dv]):
  FLOPs = 2*B*Hq*S*T*D (scores) + 2*B*Hq*S*T*Dv (context) + 6*B*Hq*S*T (scale
  and softmax's 5 per score) + B*Hq*S*T with a mask; bytes = q + k + v + mask + result: the fused
  kernel the papers assume (FlashAttention on a GPU, AttAcc/NeuPIMs on PIM) keeps
  the S x T scores on chip. K and V are read once per KV head (GQA saves bytes).
- add, mul, element-wise ONNX ops: FLOPs = E (one op per result element).
- softmax: FLOPs = 5 * E (max, subtract, exp, sum, divide per element).
- layer_norm: FLOPs = 7 * E (mean, subtract, square, variance sum, normalise,
  scale, shift per element). rms_norm: FLOPs = 4 * E (square, sum, normalise,
  scale).
- gelu: FLOPs = 5 * E (erf form: divide, erf, add, multiply, multiply) or 8 * E
  (tanh form: cube, multiply, add, multiply, tanh, add, multiply, multiply);
  silu: FLOPs = 4 * E (exp, add, divide, multiply); rotary: FLOPs = 3 * E
  (two multiplies and an add per element). Bytes = input + result (fused).
- kv_append: FLOPs = 0, bytes = 2 * new (read the step's keys or values and write
  them into the resident cache in place; the past is not copied).
- reductions (ReduceMean, ...): FLOPs = input elements, bytes = operands + results.
- gather: bytes = indices + 2 * result (only the gathered rows are read).
- reshape and ONNX Shape/Size: FLOPs = 0, bytes = 0 (metadata; no data moves).
- transpose, concat: FLOPs = 0, bytes = operands + results. ONNX data movement
  (Slice, Split, Expand, Tile, Pad, GatherElements, ...): FLOPs = 0,
  bytes = 2 * results (what is copied is read once and written once).
- an ONNX op of any other type is costed as element-wise, and the compile warns
  that it is not modelled (see `unmodelled_op_types`).

Roofline latency (Williams et al., CACM 2009): max(FLOPs / peak, bytes / bandwidth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, Operation, SSAValue

from pimc.dialects import nn, pim
from pimc.targets.system import Device, System


@dataclass(frozen=True)
class OpMetrics:
    """What an op does, independent of where it runs.

    `engine` is "matrix" for matrix products (systolic array / tensor cores /
    PIM MACs) and "vector" for everything else.
    """

    flops: int
    bytes: int
    engine: str

    @property
    def intensity(self) -> float:
        """Operational intensity in FLOP/byte (0 when the op moves no data)."""
        return self.flops / self.bytes if self.bytes else 0.0


def tensor_bytes(t: Attribute) -> int:
    """Size of a static tensor in bytes: elements x ceil(bitwidth / 8)."""
    assert isinstance(t, TensorType)
    bits = getattr(t.element_type, "bitwidth", 32)
    return math.prod(t.get_shape()) * max(1, -(-bits // 8))


def _elements(t: Attribute) -> int:
    assert isinstance(t, TensorType)
    return math.prod(t.get_shape())


def _io_bytes(op: Operation) -> int:
    return sum(tensor_bytes(v.type) for v in op.operands if isinstance(v.type, TensorType)) + sum(
        tensor_bytes(r.type) for r in op.results if isinstance(r.type, TensorType)
    )


def is_costed(op: Operation) -> bool:
    """Ops that do work at run time: every nn and pim op except weights and constants (which are data)."""
    return op.dialect_name() in ("nn", "pim") and not isinstance(op, (nn.WeightOp, nn.ConstantOp))


def op_metrics(op: Operation) -> OpMetrics:
    """FLOPs and bytes of one op (formulas in the module docstring)."""
    if isinstance(op, nn.MatMulOp):
        a, b = nn.tensor_shape(op.lhs.type), nn.tensor_shape(op.rhs.type)
        k = a[-1]
        return OpMetrics(2 * k * _elements(op.result.type), _io_bytes(op), "matrix")
    if isinstance(op, nn.GemmOp):
        m, n, k = op.mnk()
        flops = 2 * m * n * k + (m * n if op.c is not None else 0)
        return OpMetrics(flops, _io_bytes(op), "matrix")
    if isinstance(op, pim.GemvOp):
        m, k, n = op.mkn()
        flops = 2 * m * k * n + (m * n if op.bias is not None else 0)
        return OpMetrics(flops, _io_bytes(op), "matrix")
    if isinstance(op, nn.LinearOp):
        k = op.kn()[0]
        e = _elements(op.result.type)
        return OpMetrics(2 * e * k + (e if op.bias is not None else 0), _io_bytes(op), "matrix")
    if isinstance(op, nn.AttentionOp):
        b, hq, _, s, t, d, dv = op.dims()
        scores = b * hq * s * t
        per_score = 6 + (1 if op.mask is not None else 0)
        return OpMetrics(2 * scores * (d + dv) + per_score * scores, _io_bytes(op), "matrix")
    per_element = _PER_ELEMENT_FLOPS.get(type(op))
    if isinstance(op, nn.GeluOp):
        per_element = 8 if op.approximate.data == "tanh" else 5
    if per_element is not None:
        return OpMetrics(per_element * _elements(op.results[0].type), _io_bytes(op), "vector")
    if isinstance(op, nn.KvAppendOp):
        return OpMetrics(0, 2 * tensor_bytes(op.new.type), "vector")
    if isinstance(op, nn.ReshapeOp):
        return OpMetrics(0, 0, "vector")
    if isinstance(op, (nn.TransposeOp, nn.ConcatOp)):
        return OpMetrics(0, _io_bytes(op), "vector")
    if isinstance(op, nn.GatherOp):
        out = tensor_bytes(op.result.type)
        return OpMetrics(0, tensor_bytes(op.indices.type) + 2 * out, "vector")
    results = [r.type for r in op.results if isinstance(r.type, TensorType)]
    category = onnx_category(op) if isinstance(op, nn.OnnxOp) else "elementwise"
    if category == "metadata":
        return OpMetrics(0, 0, "vector")
    if category == "movement":
        return OpMetrics(0, 2 * sum(tensor_bytes(t) for t in results), "vector")
    if category == "reduction":
        flops = sum(_elements(v.type) for v in op.operands[:1] if isinstance(v.type, TensorType))
        return OpMetrics(flops, _io_bytes(op), "vector")
    # add, mul, element-wise ONNX ops and unmodelled ones: one op per result element.
    return OpMetrics(sum(_elements(t) for t in results), _io_bytes(op), "vector")


_PER_ELEMENT_FLOPS: dict[type[Operation], int] = {
    nn.SoftmaxOp: 5,
    nn.LayerNormOp: 7,
    nn.RmsNormOp: 4,
    nn.SiluOp: 4,
    nn.RotaryOp: 3,
}

ONNX_OP_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        "Add Sub Mul Div Pow Sqrt Reciprocal Neg Abs Exp Log Tanh Sigmoid Erf Relu LeakyRelu Gelu Cos Sin "
        "Where Equal Less LessOrEqual Greater GreaterOrEqual And Or Not Xor IsNaN IsInf Max Min Mod Floor Ceil "
        "Round Sign Clip Cast CastLike Softplus Softsign HardSigmoid HardSwish Mish Elu Selu Celu PRelu "
        "Range Dropout Sum Mean BitShift Tan Atan Asin Acos Sinh Cosh".split(),
        "elementwise",
    ),
    **dict.fromkeys(
        "ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceSumSquare ReduceLogSumExp "
        "ArgMax ArgMin CumSum TopK LogSoftmax Softmax LayerNormalization RMSNormalization "
        "GroupNormalization InstanceNormalization BatchNormalization".split(),
        "reduction",
    ),
    **dict.fromkeys(
        "Slice Split Expand Tile Pad GatherElements GatherND ScatterND ScatterElements Transpose Concat "
        "DepthToSpace SpaceToDepth Trilu ConstantOfShape Gather Compress NonZero OneHot".split(),
        "movement",
    ),
    **dict.fromkeys("Shape Size Reshape Squeeze Unsqueeze Flatten Identity".split(), "metadata"),
}
"""How a generic `nn.onnx` op is costed, by ONNX op type (default domain only)."""


def onnx_category(op: nn.OnnxOp) -> str:
    """elementwise / reduction / movement / metadata, or "unmodelled" for other types and custom domains."""
    if op.domain is not None and op.domain.data not in ("", "ai.onnx"):
        return "unmodelled"
    return ONNX_OP_CATEGORIES.get(op.op_type.data, "unmodelled")


def unmodelled_op_types(root: Operation) -> dict[str, list[str]]:
    """Generic ops whose type pimc has no cost model for (costed as element-wise): op type -> node names."""
    found: dict[str, list[str]] = {}
    for op in root.walk():
        if isinstance(op, nn.OnnxOp) and onnx_category(op) == "unmodelled":
            key = op.op_type.data if op.domain is None else f"{op.domain.data}.{op.op_type.data}"
            found.setdefault(key, []).append(nn.op_label(op))
    return found


def pim_weight(op: Operation) -> SSAValue | None:
    """The weight operand a PIM device would keep in its banks, if `op` is a PIM-able GEMV.

    nn.linear always is (its weight is a model parameter). Another matrix product is PIM-able when its right operand is a weight (`nn.weight`,
    resident in DRAM) and it is a plain product: MatMul with a 2-D weight, or Gemm
    without a transposed A, with alpha = beta = 1 and C absent or a per-output bias.
    """
    if isinstance(op, pim.GemvOp):
        return op.w
    if isinstance(op, nn.LinearOp):
        return op.w if isinstance(op.w.owner, nn.WeightOp) else None
    if isinstance(op, nn.MatMulOp):
        rhs = op.rhs
        if isinstance(rhs.owner, nn.WeightOp) and len(nn.tensor_shape(rhs.type)) == 2:
            return rhs
        return None
    if isinstance(op, nn.GemmOp):
        plain = op.trans_a.value.data == 0 and op.alpha.value.data == 1.0 and op.beta.value.data == 1.0
        n = op.mnk()[1]
        per_output_bias = op.c is None or nn.tensor_shape(op.c.type) in ((n,), (1, n))
        if plain and per_output_bias and isinstance(op.b.owner, nn.WeightOp):
            return op.b
    return None


def npu_peak_gflops(dev: Device) -> float:
    """Systolic-array peak: 2 FLOP per PE per cycle x rows x cols x cores x clock (GHz)."""
    return 2.0 * dev.p("array_rows") * dev.p("array_cols") * dev.p("cores") * dev.p("clock_ghz")


def npu_vector_gflops(dev: Device) -> float:
    """Vector-unit rate: one FLOP per lane per cycle x lanes x cores x clock (GHz)."""
    return float(dev.p("vector_lanes") * dev.p("cores") * dev.p("clock_ghz"))


def pim_peak_gflops(dev: Device) -> float:
    """All banks MAC in lockstep: 2 x channels x banks x lanes FLOP per MAC interval."""
    interval_ns = dev.p("mac_interval_cycles") * dev.p("tck_ns")
    return 2.0 * dev.p("channels") * dev.p("banks_per_channel") * dev.p("mac_lanes") / interval_ns


def pim_internal_gbps(dev: Device) -> float:
    """Bank-internal bandwidth: every bank streams one column per MAC interval."""
    interval_ns = dev.p("mac_interval_cycles") * dev.p("tck_ns")
    return dev.p("channels") * dev.p("banks_per_channel") * dev.p("column_bytes") / interval_ns


def latency_ns(op: Operation, m: OpMetrics, dev: Device, system: System) -> float | None:
    """Roofline latency of `op` on `dev` in ns, or None if the device cannot run it.

    - npu: matrix ops at the systolic peak, other ops at the vector rate; bytes
      over the device memory's bandwidth.
    - gpu: tensor-core peak for matrix ops, vector rate otherwise; bytes over HBM.
    - pim: only GEMV-able products (see `pim_weight`): max(FLOPs / PIM peak,
      weight bytes / internal bandwidth) + (activation bytes) / external memory
      bandwidth, since the input vector and the results cross the DRAM bus while
      the weight never leaves the banks.
    """
    bw = system.memory_of(dev.name).bandwidth_gbps
    if dev.kind == "npu":
        peak = npu_peak_gflops(dev) if m.engine == "matrix" else npu_vector_gflops(dev)
        return max(m.flops / peak, m.bytes / bw)
    if dev.kind == "gpu":
        peak = 1e3 * (dev.p("peak_tflops") if m.engine == "matrix" else dev.p("vector_tflops"))
        return max(m.flops / peak, m.bytes / bw)
    if dev.kind == "pim":
        w = pim_weight(op)
        if w is None:
            return None
        w_bytes = tensor_bytes(w.type)
        compute = max(m.flops / pim_peak_gflops(dev), w_bytes / pim_internal_gbps(dev))
        return compute + (m.bytes - w_bytes) / bw
    raise AssertionError(f"unknown device kind {dev.kind}")


def transfer_latency_ns(n_bytes: int, system: System, src: str, dst: str) -> float:
    """Link latency + bytes / link bandwidth between the memories of two devices."""
    link = system.link_between(system.devices[src].memory, system.devices[dst].memory)
    return link.latency_ns + n_bytes / link.bandwidth_gbps
