"""Op metrics (FLOPs, bytes) and the cost (latency, energy, bound) of an op on each device.

Pure functions of (op, shapes, device description, deployment precision).
Units: FLOPs and bytes are counts; rates are GFLOP/s (= FLOP/ns) and GB/s
(= byte/ns), so every latency comes out in ns; energies are pJ. `device_cost`
dispatches to the device models: targets/models/npu.py (SCALE-Sim-exact systolic
GEMMs), targets/models/gpu.py (roofline with efficiencies and launch overhead, checked
against GenZ), targets/models/pim_timing.py (DRAM-timed all-bank command sequences).

Metrics per op (E = number of result elements; bytes = every operand read once
plus every result written once, floating-point tensors at the deployment
precision's size, integer tensors at their own):

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
- collectives (shard.all_reduce, dist.*): FLOPs = the reduction's adds ((p - 1) / p per element of an
  all-reduce or reduce-scatter over p chips), bytes = operands + results; latency and energy on the
  interconnect only (targets/models/collective.py).
- an ONNX op of any other type is costed as element-wise, and the compile warns
  that it is not modelled (see `unmodelled_op_types`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.dialects.builtin import AnyFloat, TensorType
from xdsl.ir import Attribute, Operation, SSAValue

from pimc.dialects import nn, pim
from pimc.targets.dtypes import DTYPE_BYTES
from pimc.targets.models import gpu, npu
from pimc.targets.models.collective import collective_bytes, collective_cost, collective_group, collective_kind
from pimc.targets.models.pim_timing import attention_counts, gemv_counts, pim_internal_gbps, pim_peak_gflops
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


def tensor_bytes(t: Attribute, elem_bytes: int | None = None) -> int:
    """Size of a static tensor in bytes: elements x bytes per element.

    Bytes per element = `elem_bytes` (the deployment precision, targets/dtypes.py)
    for floating-point tensors, else ceil(bitwidth / 8) of the tensor's own type:
    integer tensors (token ids, positions, masks) keep their width.
    """
    assert isinstance(t, TensorType)
    if elem_bytes is not None and isinstance(t.element_type, AnyFloat):
        return math.prod(t.get_shape()) * elem_bytes
    bits = getattr(t.element_type, "bitwidth", 32)
    return math.prod(t.get_shape()) * max(1, -(-bits // 8))


def _elements(t: Attribute) -> int:
    assert isinstance(t, TensorType)
    return math.prod(t.get_shape())


def _io_bytes(op: Operation, eb: int | None) -> int:
    return sum(tensor_bytes(v.type, eb) for v in op.operands if isinstance(v.type, TensorType)) + sum(
        tensor_bytes(r.type, eb) for r in op.results if isinstance(r.type, TensorType)
    )


def is_costed(op: Operation) -> bool:
    """Ops that do work at run time: every nn and pim op except weights and constants (which are data), and the
    collectives (targets/models/collective.py)."""
    if op.dialect_name() in ("nn", "pim"):
        return not isinstance(op, (nn.WeightOp, nn.ConstantOp))
    return collective_kind(op) is not None


def is_idle(op: Operation) -> bool:
    """An op whose every result is empty: an idle expert's (no token routed to it this step, nn.moe_dispatch of
    capacity 0, and the ops that read it)."""
    return bool(op.results) and all(_elements(r.type) == 0 for r in op.results)


def op_metrics(op: Operation, elem_bytes: int | None = None) -> OpMetrics:
    """FLOPs and bytes of one op (formulas in the module docstring); floating-point
    tensors cost `elem_bytes` per element when given (the deployment precision)."""
    eb = elem_bytes
    kind = collective_kind(op)
    if kind is not None:  # the reduction's adds: (p - 1) / p per element of the reduced tensor
        group = collective_group(op)
        adds = 0
        if kind in ("all_reduce", "reduce_scatter"):
            adds = _elements(op.operands[0].type) * (group - 1) // group
        return OpMetrics(adds, _io_bytes(op, eb), "vector")
    if is_idle(op):  # nothing read, nothing computed
        matrix = (nn.MatMulOp, nn.GemmOp, nn.LinearOp, pim.GemvOp, nn.AttentionOp, pim.AttentionOp)
        return OpMetrics(0, 0, "matrix" if isinstance(op, matrix) else "vector")
    if isinstance(op, nn.MoeGateOp):  # score (softmax 5 / sigmoid 4 per logit), k comparisons per logit
        per_logit = (5 if op.scoring.data == "softmax" else 4) + op.top_k.value.data
        return OpMetrics(per_logit * _elements(op.logits.type), _io_bytes(op, eb), "vector")
    if isinstance(op, nn.MoeDispatchOp):  # the routed rows read and written, the indices read
        return OpMetrics(0, tensor_bytes(op.indices.type, eb) + 2 * tensor_bytes(op.result.type, eb), "vector")
    if isinstance(op, nn.MoeCombineOp):  # a multiply-add per element of every routed row
        rows = sum(_elements(v.type) for v in op.outputs)
        return OpMetrics(2 * rows, _io_bytes(op, eb), "vector")
    if isinstance(op, nn.MatMulOp):
        a, b = nn.tensor_shape(op.lhs.type), nn.tensor_shape(op.rhs.type)
        k = a[-1]
        return OpMetrics(2 * k * _elements(op.result.type), _io_bytes(op, eb), "matrix")
    if isinstance(op, nn.GemmOp):
        m, n, k = op.mnk()
        flops = 2 * m * n * k + (m * n if op.c is not None else 0)
        return OpMetrics(flops, _io_bytes(op, eb), "matrix")
    if isinstance(op, pim.GemvOp):
        m, k, n = op.mkn()
        flops = 2 * m * k * n + (m * n if op.bias is not None else 0)
        return OpMetrics(flops, _io_bytes(op, eb), "matrix")
    if isinstance(op, nn.LinearOp):
        k = op.kn()[0]
        e = _elements(op.result.type)
        return OpMetrics(2 * e * k + (e if op.bias is not None else 0), _io_bytes(op, eb), "matrix")
    if isinstance(op, (nn.AttentionOp, pim.AttentionOp)):
        b, hq, _, s, t, d, dv = op.dims()
        scores = b * hq * s * t
        per_score = 6 + (1 if op.mask is not None else 0)
        return OpMetrics(2 * scores * (d + dv) + per_score * scores, _io_bytes(op, eb), "matrix")
    per_element = _PER_ELEMENT_FLOPS.get(type(op))
    if isinstance(op, nn.GeluOp):
        per_element = 8 if op.approximate.data == "tanh" else 5
    if per_element is not None:
        return OpMetrics(per_element * _elements(op.results[0].type), _io_bytes(op, eb), "vector")
    if isinstance(op, nn.KvAppendOp):
        return OpMetrics(0, 2 * tensor_bytes(op.new.type, eb), "vector")
    if isinstance(op, nn.ReshapeOp):
        return OpMetrics(0, 0, "vector")
    if isinstance(op, (nn.TransposeOp, nn.ConcatOp)):
        return OpMetrics(0, _io_bytes(op, eb), "vector")
    if isinstance(op, nn.GatherOp):
        out = tensor_bytes(op.result.type, eb)
        return OpMetrics(0, tensor_bytes(op.indices.type, eb) + 2 * out, "vector")
    results = [r.type for r in op.results if isinstance(r.type, TensorType)]
    category = onnx_category(op) if isinstance(op, nn.OnnxOp) else "elementwise"
    if category == "metadata":
        return OpMetrics(0, 0, "vector")
    if category == "movement":
        return OpMetrics(0, 2 * sum(tensor_bytes(t, eb) for t in results), "vector")
    if category == "reduction":
        flops = sum(_elements(v.type) for v in op.operands[:1] if isinstance(v.type, TensorType))
        return OpMetrics(flops, _io_bytes(op, eb), "vector")
    # add, mul, element-wise ONNX ops and unmodelled ones: one op per result element.
    return OpMetrics(sum(_elements(t) for t in results), _io_bytes(op, eb), "vector")


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

    nn.linear always is (its weight is a model parameter). Another matrix product is PIM-able when its right operand
    is a weight (`nn.weight`, resident in DRAM) and it is a plain product: MatMul with a 2-D weight, or Gemm
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
    return 2.0 * dev.npu.array_rows * dev.npu.array_cols * dev.npu.cores * dev.npu.clock_ghz


def npu_vector_gflops(dev: Device) -> float:
    """Vector-unit rate: one FLOP per lane per cycle x lanes x cores x clock (GHz)."""
    return float(dev.npu.vector_lanes * dev.npu.cores * dev.npu.clock_ghz)


def device_roof(dev: Device, system: System, dtype: str) -> tuple[float, float] | None:
    """A device's roofline at `dtype`: (peak GFLOP/s, bandwidth GB/s), or None when it has no rate there.

    - npu: the systolic array's peak and its memory's bandwidth.
    - gpu / accelerator: peak_tflops[dtype] x 1e3 x compute_efficiency and the
      memory's bandwidth x memory_efficiency (the rates its cost model reaches).
    - pim: the all-bank MAC peak and the bank-internal bandwidth it streams at,
      when its MAC lanes compute in `dtype`.
    """
    bw = system.memory_of(dev.name).bandwidth_gbps
    if dev.kind == "interconnect":
        return None
    if dev.kind == "npu":
        return npu_peak_gflops(dev), bw
    if dev.kind in ("gpu", "accelerator"):
        rate = dev.gpu.peak_tflops.get(dtype)
        if rate is None:
            return None
        return rate * 1e3 * dev.gpu.compute_efficiency, bw * dev.gpu.memory_efficiency
    return (pim_peak_gflops(dev), pim_internal_gbps(dev)) if dtype in dev.pim.dtypes else None


def device_roofs(system: System, dtype: str) -> dict[str, tuple[float, float]]:
    """`device_roof` of every device that has a rate at `dtype`."""
    roofs = {name: device_roof(dev, system, dtype) for name, dev in system.devices.items()}
    return {name: roof for name, roof in roofs.items() if roof is not None}


def matrix_products(op: Operation) -> list[tuple[int, int, int, int]]:
    """The GEMMs a matrix op performs, as (batch, M, N, K): `batch` independent M x K @ K x N.

    matmul with a 2-D right operand and linear/gemm/gemv: one GEMM, M = rows of
    the input (all leading dims); a batched matmul: batch = leading result dims.
    attention: scores q @ k^T (batch B*Hq, M = S, N = T, K = D) and context
    p @ v (batch B*Hq, M = S, N = Dv, K = T).
    """
    if isinstance(op, nn.MatMulOp):
        a, b = nn.tensor_shape(op.lhs.type), nn.tensor_shape(op.rhs.type)
        r = nn.tensor_shape(op.result.type)
        if len(b) <= 2:
            return [(1, math.prod(a[:-1]), r[-1], a[-1])]
        return [(math.prod(r[:-2]), r[-2], r[-1], a[-1])]
    if isinstance(op, nn.GemmOp):
        m, n, k = op.mnk()
        return [(1, m, n, k)]
    if isinstance(op, pim.GemvOp):
        m, k, n = op.mkn()
        return [(1, m, n, k)]
    if isinstance(op, nn.LinearOp):
        k, n = op.kn()
        return [(1, math.prod(nn.tensor_shape(op.input.type)[:-1]), n, k)]
    if isinstance(op, (nn.AttentionOp, pim.AttentionOp)):
        b, hq, _, s, t, d, dv = op.dims()
        return [(b * hq, s, t, d), (b * hq, s, dv, t)]
    raise AssertionError(f"{op.name} is not a matrix op")


@dataclass(frozen=True)
class DeviceCost:
    """An op's cost on one device: latency (ns), dynamic energy (pJ), what bounds it."""

    latency_ns: float
    energy_pj: float
    bound: str
    """"compute" or "memory" (which side of the device's roofline sets the time)."""


def device_cost(op: Operation, m: OpMetrics, dev: Device, system: System, dtype: str) -> DeviceCost | None:
    """Latency and energy of `op` on `dev` at deployment precision `dtype`, or None if it cannot run there.

    - npu (targets/models/npu.py): matrix ops as SCALE-Sim-exact systolic GEMMs on the
      device's cores, bounded below by their DRAM traffic (which counts SRAM
      re-reads) over the memory's bandwidth; attention as its two GEMMs plus the
      softmax on the vector unit, against its fused bytes; other ops on the vector
      unit. Energy = MACs * energy_pj_per_mac (matrix) or FLOPs *
      vector_energy_pj_per_flop (vector) + DRAM bytes * 8 * the memory's pJ/bit.
    - gpu / accelerator (targets/models/gpu.py): roofline with efficiencies and launch
      overhead at `dtype`'s peak; energy = FLOPs * energy_pj_per_flop + bytes * 8 *
      the memory's pJ/bit. A device with no rate at the dtype cannot run the op.
    - pim (targets/models/pim_timing.py): GEMV-able products (see `pim_weight`) and
      attention (its score and context GEMVs over the KV cache held in the banks,
      `attention_counts`), at a dtype the MAC lanes compute in; latency and energy
      of the all-bank command sequence, which includes writing the input into the
      global buffer and reading the results over the device interface. A KV append
      on PIM writes the step's keys or values into the cache rows over the memory
      interface (its bytes at the memory's bandwidth and pJ/bit), so the cache
      stays in the banks where PIM attention reads it.
    """
    memory = system.memory_of(dev.name)
    bw, pj_bit = memory.bandwidth_gbps, memory.energy_pj_per_bit
    kind = collective_kind(op)
    if (kind is not None) != (dev.kind == "interconnect"):
        return None  # collectives run on the interconnect, and only they do
    if kind is not None:
        c = collective_cost(kind, collective_bytes(op, DTYPE_BYTES[dtype]), collective_group(op), dev.interconnect)
        return DeviceCost(c.latency_ns, c.energy_pj, "memory")
    if is_idle(op):  # no work and no launch on a device that could run it (its weights stay resident)
        runs = dev.kind == "npu" or (dev.kind == "pim" and dtype in dev.pim.dtypes and pim_weight(op) is not None)
        runs = runs or (dev.kind in ("gpu", "accelerator") and dtype in dev.gpu.peak_tflops)
        return DeviceCost(0.0, 0.0, "memory") if runs else None
    if dev.kind == "npu":
        return _npu_cost(op, m, dev, bw, pj_bit, DTYPE_BYTES[dtype])
    if dev.kind in ("gpu", "accelerator"):
        try:
            t = gpu.gpu_op_time(
                m.flops,
                m.bytes,
                m.engine,
                bandwidth_gbps=bw,
                dtype=dtype,
                peak_tflops=dev.gpu.peak_tflops,
                vector_tflops=dev.gpu.vector_tflops,
                compute_efficiency=dev.gpu.compute_efficiency,
                memory_efficiency=dev.gpu.memory_efficiency,
                launch_overhead_ns=dev.gpu.launch_overhead_ns,
            )
        except ValueError:
            return None  # no rate at this dtype: the device cannot run the op
        return DeviceCost(t.total_ns, m.flops * dev.gpu.energy_pj_per_flop + m.bytes * 8 * pj_bit, t.bound)
    if dev.kind == "pim":
        if dtype not in dev.pim.dtypes:
            return None
        if isinstance(op, (nn.AttentionOp, pim.AttentionOp)):
            counts = attention_counts(*op.dims(), dev)
            return DeviceCost(counts.time_ns(dev), counts.energy_pj(dev), "memory")
        if isinstance(op, nn.KvAppendOp):  # write the step's keys/values into the cache rows in the banks
            return DeviceCost(m.bytes / bw, m.bytes * 8 * pj_bit, "memory")
        if pim_weight(op) is None:
            return None
        ((_, rows, n, k),) = matrix_products(op)
        bias = (op.c if isinstance(op, nn.GemmOp) else getattr(op, "bias", None)) is not None
        counts = gemv_counts(rows, k, n, dev, bias)
        return DeviceCost(counts.time_ns(dev), counts.energy_pj(dev), "memory")
    raise AssertionError(f"unknown device kind {dev.kind}")


def _npu_cost(op: Operation, m: OpMetrics, dev: Device, bw: float, pj_bit: float, elem_bytes: int) -> DeviceCost:
    params = dev.npu

    def vector_ns(flops: float) -> float:
        return npu.npu_vector_ns(
            flops,
            0,
            vector_lanes=params.vector_lanes,
            cores=params.cores,
            clock_ghz=params.clock_ghz,
            bandwidth_gbps=bw,
        )

    if m.engine != "matrix":
        compute = vector_ns(m.flops)
        t = max(compute, m.bytes / bw)
        energy = m.flops * params.vector_energy_pj_per_flop + m.bytes * 8 * pj_bit
        return DeviceCost(t, energy, "compute" if compute >= t else "memory")
    gemms = matrix_products(op)
    macs = sum(b * mm * n * k for b, mm, n, k in gemms)
    costs = [
        npu.npu_gemm_cost_from_params(mm, n, k, b, params, bandwidth_gbps=bw, elem_bytes=elem_bytes)
        for b, mm, n, k in gemms
    ]
    compute = sum(c.compute_ns for c in costs)
    if isinstance(op, (nn.AttentionOp, pim.AttentionOp)):
        # the fused kernel: both GEMMs on the array, softmax on the vector unit, only q/k/v/out in DRAM
        compute += vector_ns(m.flops - 2 * macs)
        traffic = m.bytes
    else:
        traffic = max(m.bytes, sum(c.dram_bytes for c in costs))  # SRAM re-reads can only add traffic
    t = max(compute, traffic / bw)
    energy = (
        macs * params.energy_pj_per_mac + (m.flops - 2 * macs) * params.vector_energy_pj_per_flop + traffic * 8 * pj_bit
    )
    return DeviceCost(t, energy, "compute" if compute >= t else "memory")


def transfer_latency_ns(n_bytes: int, system: System, src: str, dst: str) -> float:
    """Link latency + bytes / link bandwidth between the memories of two devices."""
    return system.link_between(system.devices[src].memory, system.devices[dst].memory).time_ns(n_bytes)


def transfer_energy_pj(n_bytes: int, system: System, src: str, dst: str) -> float:
    """bytes * 8 * the link's pJ/bit (the memories' own access energy is in the ops' costs)."""
    return system.link_between(system.devices[src].memory, system.devices[dst].memory).energy_pj(n_bytes)


def device_summary(dev: Device, system: System) -> str:
    """One line of derived figures for `pimc systems NAME`: peaks, bandwidths, ridge points."""
    bw = system.memory_of(dev.name).bandwidth_gbps
    if dev.kind == "npu":
        peak = npu_peak_gflops(dev)
        return (
            f"matrix peak {peak / 1e3:g} TFLOP/s ({dev.npu.cores} x {dev.npu.array_rows}x{dev.npu.array_cols} "
            f"{dev.npu.dataflow.upper()} @ {dev.npu.clock_ghz:g} GHz), vector {npu_vector_gflops(dev) / 1e3:g} TFLOP/s, "
            f"ridge {peak / bw:.1f} FLOP/B at {bw:g} GB/s"
        )
    if dev.kind == "interconnect":
        from pimc.targets.models.collective import describe_interconnect

        return describe_interconnect(dev.interconnect)
    if dev.kind in ("gpu", "accelerator"):
        peaks = ", ".join(f"{d} {r:g}" for d, r in dev.gpu.peak_tflops.items())
        best = max(dev.gpu.peak_tflops.values())
        return f"matrix peak TFLOP/s: {peaks}; ridge {best * 1e3 / bw:.1f} FLOP/B at {bw:g} GB/s"
    from pimc.targets.models.pim_timing import row_efficiency

    return (
        f"MAC peak {pim_peak_gflops(dev) / 1e3:g} TFLOP/s, internal {pim_internal_gbps(dev):g} GB/s "
        f"({pim_internal_gbps(dev) / bw:.1f}x the external {bw:g} GB/s) while rows are open; "
        f"a full-row MAC_ABK streams {100 * row_efficiency(dev):.0f}% of its time"
    )
