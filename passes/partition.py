"""partition: choose a device for every costed op and make data movement between memories explicit."""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.hints import isa

from pimc.compiler.errors import CompileError
from pimc.compiler.frontend.phases import phase_of
from pimc.dialects import nn, pim
from pimc.dialects.nn import op_label
from pimc.dialects.place import DeviceAttr, TransferOp
from pimc.passes.annotate_cost import COST_ATTR, check_static, dtype_for_module
from pimc.passes.strategies import STRATEGIES
from pimc.targets.cost import (
    device_roof,
    is_costed,
    matrix_products,
    op_metrics,
    pim_weight,
    tensor_bytes,
    transfer_energy_pj,
    transfer_latency_ns,
)
from pimc.targets.dtypes import DTYPE_BYTES
from pimc.targets.schedule import PhaseGraph, transfer_ns
from pimc.targets.system import System, system_for_module

DEVICE_ATTR = "device"
PARTITION_ATTR = "pimc.partition"


COST_TABLES = {"latency_ns": "ns", "energy_pj": "pJ"}
"""The per-device tables of an op's cost attribute that partition and schedule read, with their units."""


def _devices_text(system: System) -> str:
    return ", ".join(system.devices)


def op_cost(op: Operation, system: System | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """The per-device latency (ns) and energy (pJ) annotate-cost recorded on `op`, checked as they are read.

    The IR may come from a file, so every figure is validated: the cost attribute is a
    dictionary with both tables, every entry is a finite, non-negative float, both
    tables name the same devices and, when `system` is given, only devices of that
    system. A violation is a CompileError naming the op, the table and the device.
    """
    label = op_label(op)
    cost = op.attributes.get(COST_ATTR)
    if cost is None:
        raise CompileError(f"op '{label}' has no cost: run annotate-cost before partition")
    if not isinstance(cost, DictionaryAttr):
        raise CompileError(f"op '{label}': its cost attribute is not a dictionary: run annotate-cost again")
    tables: list[dict[str, float]] = []
    for key, unit in COST_TABLES.items():
        table = cost.data.get(key)
        if not isinstance(table, DictionaryAttr):
            what = "has no" if table is None else "has a malformed"
            raise CompileError(f"op '{label}': its cost {what} `{key}` table: run annotate-cost again")
        figures: dict[str, float] = {}
        for device, value in table.data.items():
            if system is not None and device not in system.devices:
                raise CompileError(f"op '{label}': cost {key} names device '{device}', which system '{system.name}' "
                                   f"does not have (devices: {_devices_text(system)}): run annotate-cost for this "
                                   "system")
            if not isinstance(value, FloatAttr):
                raise CompileError(f"op '{label}': cost {key}.{device} is {value}, not a float ({unit})")
            number = value.value.data
            if not (math.isfinite(number) and number >= 0):
                raise CompileError(f"op '{label}': cost {key}.{device} = {number} {unit}: must be finite and "
                                   "non-negative")
            figures[device] = number
        tables.append(figures)
    latency, energy = tables
    for device in [*latency, *energy]:
        if device not in latency or device not in energy:
            has, lacks = ("latency_ns", "energy_pj") if device in latency else ("energy_pj", "latency_ns")
            raise CompileError(f"op '{label}': cost {lacks} has no entry for device '{device}', which {has} has: "
                               "run annotate-cost again")
    return latency, energy


def device_of(op: Operation) -> str | None:
    """The device name of `op`'s `device` attribute, unchecked (None when it has none)."""
    attr = op.attributes.get(DEVICE_ATTR)
    return attr.device_name if isinstance(attr, DeviceAttr) else None


def placed_device(op: Operation, system: System) -> str | None:
    """The device `op` is placed on, checked against `system` (None when the op is not placed).

    A `device` attribute naming no device of the system, or one that is not a
    `#place.device`, is a CompileError naming the op and the device."""
    attr = op.attributes.get(DEVICE_ATTR)
    if attr is None:
        return None
    if not isinstance(attr, DeviceAttr):
        raise CompileError(f"op '{op_label(op)}': its device attribute is {attr}, not a #place.device")
    if attr.device_name not in system.devices:
        raise CompileError(f"op '{op_label(op)}' is placed on device '{attr.device_name}', which system "
                           f"'{system.name}' does not have (devices: {_devices_text(system)})")
    return attr.device_name


def check_transfers(module: ModuleOp, system: System) -> None:
    """Every `place.transfer` of `module` names devices of `system` as its source and destination."""
    for op in module.walk():
        if not isinstance(op, TransferOp):
            continue
        for end in ("src", "dst"):
            device = getattr(op, end).device_name
            if device not in system.devices:
                producer = op.input.owner
                of = f" of op '{op_label(producer)}'" if isinstance(producer, Operation) else ""
                raise CompileError(f"place.transfer of %{op.input.name_hint or '?'}{of}: {end} device '{device}' "
                                   f"is not a device of system '{system.name}' (devices: {_devices_text(system)})")


def insert_transfers(module: ModuleOp, system: System, elem_bytes: int | None = None) -> None:
    """Insert `place.transfer` where a placed op reads a value produced on a device with another memory.

    One transfer per (value, destination memory), placed right after the producer
    and reused by every consumer on that memory. Function arguments and weights are
    taken to be resident wherever they are read (inputs arrive with the request;
    weights are loaded before inference). Floating-point values cost `elem_bytes`
    per element (the deployment precision).
    """
    rewriter = Rewriter()
    check_transfers(module, system)
    for op in list(module.walk()):
        dst = placed_device(op, system)
        if dst is None or isinstance(op, TransferOp):
            continue
        for index, operand in enumerate(op.operands):
            src_op = operand.owner
            if not isinstance(src_op, Operation):
                continue
            src = placed_device(src_op, system)
            if src is None or system.devices[src].memory == system.devices[dst].memory:
                continue
            op.operands[index] = _transfer_for(operand, src, dst, system, rewriter, elem_bytes)


def _transfer_for(value: SSAValue, src: str, dst: str, system: System, rewriter: Rewriter,
                  elem_bytes: int | None) -> SSAValue:
    dst_memory = system.devices[dst].memory
    for use in value.uses:
        user = use.operation
        if isinstance(user, TransferOp) and system.devices[user.dst.device_name].memory == dst_memory:
            return user.result
    return make_transfer(value, src, dst, system, rewriter, elem_bytes).result


def make_transfer(value: SSAValue, src: str, dst: str, system: System, rewriter: Rewriter,
                  elem_bytes: int | None) -> TransferOp:
    """A `place.transfer` of `value` from `src`'s memory to `dst`'s, with its bytes, latency and energy,
    inserted right after the value's producer."""
    transfer = TransferOp(value, src, dst)
    n_bytes = tensor_bytes(value.type, elem_bytes)
    transfer.attributes["bytes"] = IntegerAttr(n_bytes, 64)
    transfer.attributes["latency_ns"] = FloatAttr(transfer_latency_ns(n_bytes, system, src, dst), 64)
    transfer.attributes["energy_pj"] = FloatAttr(transfer_energy_pj(n_bytes, system, src, dst), 64)
    assert isinstance(value.owner, Operation)
    rewriter.insert_op(transfer, InsertPoint.after(value.owner))
    return transfer


# -- the phase graph ---------------------------------------------------------------


def phase_functions(module: ModuleOp) -> list[func.FuncOp]:
    return [fn for fn in module.ops if isinstance(fn, func.FuncOp)]


def costed_ops(fn: func.FuncOp) -> list[Operation]:
    return [op for op in fn.body.block.ops if is_costed(op)]


def role_of(op: Operation) -> tuple[str, int]:
    """(role, rows) of an op for the seed systems' policies (PhaseGraph.roles)."""
    if isinstance(op, (nn.AttentionOp, pim.AttentionOp)):
        return "attention", 0
    if isinstance(op, nn.KvAppendOp):
        return "kv_append", 0
    if pim_weight(op) is not None:
        ((_, rows, _, _),) = matrix_products(op)
        return "fc", rows
    if op_metrics(op).engine == "matrix":
        return "matrix", 0
    return "vector", 0


def phase_graph(fn: func.FuncOp, elem_bytes: int | None, system: System | None = None
                ) -> tuple[PhaseGraph, list[Operation]]:
    """The costed ops of a function as a PhaseGraph (targets/schedule.py), with the ops in graph order.

    The ops' cost attributes are checked as they are read (`op_cost`; against `system` when given)."""
    ops = costed_ops(fn)
    costs = [op_cost(op, system) for op in ops]
    index = {op: i for i, op in enumerate(ops)}
    values: dict[tuple[int, int], int] = {}
    operands: list[list[tuple[int, int]]] = []
    for i, op in enumerate(ops):
        for r, res in enumerate(op.results):
            values[(i, r)] = tensor_bytes(res.type, elem_bytes) if isa(res.type, TensorType[Attribute]) else 0
        ins: list[tuple[int, int]] = []
        for operand in op.operands:
            while isinstance(operand.owner, TransferOp):  # a placed graph: see through the copies
                operand = operand.owner.input
            owner = operand.owner
            if isinstance(owner, Operation) and owner in index:
                val = (index[owner], owner.results.index(operand))
                if val not in ins:
                    ins.append(val)
        operands.append(ins)
    roles = [role_of(op) for op in ops]
    graph = PhaseGraph(
        phase=phase_of(ops[0]) or fn.sym_name.data if ops else fn.sym_name.data,
        names=[op_label(op) for op in ops],
        latency=[latency for latency, _ in costs],
        energy=[energy for _, energy in costs],
        operands=operands,
        values=values,
        roles=[r for r, _ in roles],
        rows=[m for _, m in roles],
    )
    return graph, ops


# -- strategies --------------------------------------------------------------------


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy may consult besides the graph."""

    system: System
    dtype: str
    papi_threshold: float | None = None


def _first(system: System, *kinds: str) -> str | None:
    return next((d.name for d in system.devices.values() if d.kind in kinds), None)


def _require(system: System, device: str | None, what: str, strategy: str) -> str:
    if device is None:
        raise CompileError(f"partition: strategy '{strategy}' needs {what}, and system '{system.name}' has none "
                           f"(devices: {', '.join(f'{d.name} ({d.kind})' for d in system.devices.values())})")
    return device


def _fastest(graph: PhaseGraph, i: int, among: list[str]) -> str | None:
    lat = {d: graph.latency[i][d] for d in among if d in graph.latency[i]}
    return min(lat, key=lat.__getitem__) if lat else None


def _policy(graph: PhaseGraph, system: System, strategy: str, want: list[str | None]) -> list[str]:
    """The policy's device per op; an op its device cannot run goes to its fastest capable device."""
    out: list[str] = []
    for i, d in enumerate(want):
        if d is None or d not in graph.latency[i]:
            d = _fastest(graph, i, list(system.devices))
            assert d is not None  # place_phase checked that some device runs every op
        out.append(d)
    return out


def _pims(system: System) -> list[str]:
    return [d.name for d in system.devices.values() if d.kind == "pim"]


def _xpu(system: System) -> str | None:
    """The compute-centric processor of a PIM system: its GPU/accelerator, else its NPU."""
    return _first(system, "gpu", "accelerator") or _first(system, "npu")


def _host(system: System) -> str | None:
    """The processor sharing a PIM device's memory (its host), else the xPU."""
    for pim_dev in _pims(system):
        mem = system.devices[pim_dev].memory
        found = next((d.name for d in system.devices.values() if d.memory == mem and d.kind != "pim"), None)
        if found:
            return found
    return _xpu(system)


def strategy_roofline(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """Each op on the device where its own latency is lowest; ties stay with the producer's device (memory)."""
    system = ctx.system
    out: list[str] = []
    for i in range(len(graph)):
        lat = graph.latency[i]
        best = min(lat.values())
        tied = [d for d in system.devices if d in lat and lat[d] == best]
        choice = tied[0]
        for u in graph.preds(i):
            src = out[u]
            if src in tied:
                choice = src
                break
            same = [d for d in tied if system.devices[d].memory == system.devices[src].memory]
            if same:
                choice = same[0]
                break
        out.append(choice)
    return out


def strategy_greedy(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """In program order, each op on the device minimising its latency + the transfers its inputs would need
    (a value already copied to a memory is free there); ties as in roofline."""
    system = ctx.system
    mem = {d: system.devices[d].memory for d in system.devices}
    out: list[str] = []
    present: dict[tuple[int, int], set[str]] = {}
    for i in range(len(graph)):
        lat = graph.latency[i]
        cost: dict[str, float] = {}
        for d in system.devices:
            if d not in lat:
                continue
            t = lat[d]
            for val in graph.operands[i]:
                if mem[d] not in present[val]:
                    t += transfer_ns(system, graph.values[val], mem[out[val[0]]], mem[d])
            cost[d] = t
        best = min(cost.values())
        if not math.isfinite(best):
            raise CompileError(f"partition: op '{graph.names[i]}': no device can receive its inputs "
                               f"(no link between the memories)")
        tied = [d for d in cost if cost[d] <= best * (1 + 1e-12)]
        producer_devs = [out[u] for u in graph.preds(i)]
        choice = next((d for d in producer_devs if d in tied), tied[0])
        out.append(choice)
        for val in graph.operands[i]:
            present[val].add(mem[choice])
        for r in range(graph.results(i)):
            present[(i, r)] = {mem[choice]}
    return out


def strategy_gpu_only(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    gpu = _require(ctx.system, _first(ctx.system, "gpu", "accelerator"), "a GPU or accelerator", "gpu-only")
    return _policy(graph, ctx.system, "gpu-only", [gpu] * len(graph))


def strategy_npu_only(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    npu_dev = _require(ctx.system, _first(ctx.system, "npu"), "an NPU", "npu-only")
    return _policy(graph, ctx.system, "npu-only", [npu_dev] * len(graph))


def strategy_pim_only(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """Every op a PIM device can execute on the fastest PIM device; the rest on the PIM's host."""
    pims = _pims(ctx.system)
    _require(ctx.system, pims[0] if pims else None, "a PIM device", "pim-only")
    host = _require(ctx.system, _host(ctx.system), "a host processor", "pim-only")
    return _policy(graph, ctx.system, "pim-only", [_fastest(graph, i, pims) or host for i in range(len(graph))])


def strategy_attacc(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """AttAcc: the whole decode attention (and the KV cache it appends to) in PIM; FC, the rest and all of
    prefill on the xPU (prefill attention is a GEMM; its KV cache is handed over to PIM for decode)."""
    pims = _pims(ctx.system)
    _require(ctx.system, pims[0] if pims else None, "a PIM device", "attacc")
    xpu = _require(ctx.system, _xpu(ctx.system), "a GPU or NPU", "attacc")
    decode = graph.phase == "decode"
    want = [_fastest(graph, i, pims) if decode and graph.roles[i] in ("attention", "kv_append") else xpu
            for i in range(len(graph))]
    return _policy(graph, ctx.system, "attacc", want)


def strategy_neupims(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """NeuPIMs: GEMMs (FC with several rows, prefill attention) on the NPU; GEMVs (one row) and decode
    attention on PIM."""
    pims = _pims(ctx.system)
    _require(ctx.system, pims[0] if pims else None, "a PIM device", "neupims")
    npu_dev = _require(ctx.system, _first(ctx.system, "npu") or _xpu(ctx.system), "an NPU", "neupims")
    want: list[str | None] = []
    for i in range(len(graph)):
        role = graph.roles[i]
        on_pim = (graph.phase == "decode" and role in ("attention", "kv_append")) or (role == "fc" and graph.rows[i] == 1)
        want.append(_fastest(graph, i, pims) if on_pim else npu_dev)
    return _policy(graph, ctx.system, "neupims", want)


def strategy_ianus(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """IANUS: in decode each FC on whichever of the NPU and PIM is faster; everything else (attention on the
    matrix unit, softmax and norms on the vector unit, all of prefill) on the NPU."""
    pims = _pims(ctx.system)
    _require(ctx.system, pims[0] if pims else None, "a PIM device", "ianus")
    npu_dev = _require(ctx.system, _first(ctx.system, "npu") or _xpu(ctx.system), "an NPU", "ianus")
    want = [_fastest(graph, i, [npu_dev, *pims]) if graph.phase == "decode" and graph.roles[i] == "fc" else npu_dev
            for i in range(len(graph))]
    return _policy(graph, ctx.system, "ianus", want)


def papi_threshold(system: System, dtype: str) -> float:
    """PAPI's default FC threshold in tokens: the xPU's ridge point (FLOP/byte) x bytes per element / 2.

    An FC over M tokens has an intensity of about 2M / bytes-per-element FLOP/byte,
    so below this many tokens it is memory-bound on the xPU: PAPI's criterion for
    sending it to FC-PIM (its run-time characterisation compares batch x speculation
    length with a threshold set offline)."""
    xpu = _xpu(system)
    roof = device_roof(system.devices[xpu], system, dtype) if xpu is not None else None
    if roof is None:
        return math.inf
    peak, bw = roof
    return peak / bw * DTYPE_BYTES[dtype] / 2


def check_papi_threshold(tokens: object) -> None:
    """A PAPI threshold given by the user (tokens) must be a finite, positive number."""
    if tokens is None:
        return
    if isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or not math.isfinite(tokens) or tokens <= 0:
        raise CompileError(f"partition: papi_threshold must be a finite, positive number of tokens, got {tokens!r}")


def strategy_papi(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """PAPI (decoding): attention on Attn-PIM (the PIM device with the fewest MAC lanes); an FC on FC-PIM (the
    most lanes) when its tokens (batch x speculation length) are below the threshold, else on the xPU; the rest,
    and all of prefill, on the xPU."""
    system = ctx.system
    pims = _pims(system)
    _require(system, pims[0] if pims else None, "a PIM device", "papi")
    xpu = _require(system, _xpu(system), "a GPU or NPU", "papi")
    attn_pim = min(pims, key=lambda d: system.devices[d].p("mac_lanes"))
    fc_pim = max(pims, key=lambda d: system.devices[d].p("mac_lanes"))
    threshold = ctx.papi_threshold if ctx.papi_threshold is not None else papi_threshold(system, ctx.dtype)
    want: list[str | None] = []
    for i in range(len(graph)):
        role = graph.roles[i]
        if graph.phase != "decode":  # PAPI schedules decoding; prefill runs on the xPU
            want.append(xpu)
        elif role in ("attention", "kv_append"):
            want.append(attn_pim)
        elif role == "fc" and graph.rows[i] < threshold:
            want.append(fc_pim)
        else:
            want.append(xpu)
    return _policy(graph, system, "papi", want)


def strategy_hybe(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """Hybe: prefill on the GPU, decode on the NPU (the KV cache is handed over between them)."""
    gpu = _require(ctx.system, _first(ctx.system, "gpu", "accelerator"), "a GPU", "hybe")
    npu_dev = _require(ctx.system, _first(ctx.system, "npu"), "an NPU", "hybe")
    return _policy(graph, ctx.system, "hybe", [npu_dev if graph.phase == "decode" else gpu] * len(graph))


STRATEGY_FUNCS = {
    "roofline": strategy_roofline,
    "greedy": strategy_greedy,
    "gpu-only": strategy_gpu_only,
    "npu-only": strategy_npu_only,
    "pim-only": strategy_pim_only,
    "attacc": strategy_attacc,
    "neupims": strategy_neupims,
    "ianus": strategy_ianus,
    "papi": strategy_papi,
    "hybe": strategy_hybe,
}
if STRATEGIES != ("optimal", *STRATEGY_FUNCS):  # the names the command line lists (passes/strategies.py)
    raise ImportError(f"passes/strategies.py lists {STRATEGIES}, partition implements {('optimal', *STRATEGY_FUNCS)}")


@dataclass
class Placement:
    """A strategy's answer for one phase: a device per op and the order each device runs them in."""

    devices: list[str]
    order: list[int] | None = None
    proven_optimal: bool | None = None
    bound_ns: float | None = None
    """`optimal`: a proven lower bound on the phase's makespan (equal to it when proven)."""


def heuristic_placements(graph: PhaseGraph, ctx: StrategyContext) -> list[list[str]]:
    """The placements of every other strategy the system supports: `optimal`'s seeds, so that it is never
    worse than any of them."""
    out: list[list[str]] = []
    for fn in STRATEGY_FUNCS.values():
        try:
            out.append(fn(graph, ctx))
        except CompileError:
            continue  # the system lacks what the strategy needs
    return out


def place_phase(graph: PhaseGraph, strategy: str, ctx: StrategyContext) -> Placement:
    for i, lat in enumerate(graph.latency):
        if not lat:
            raise CompileError(
                f"op '{graph.names[i]}': no device of system '{ctx.system.name}' can run it at dtype {ctx.dtype}"
                f" (its devices have rates for: {', '.join(ctx.system.dtypes()) or 'none'})"
            )
    if strategy == "optimal":
        from pimc.passes.optimal import solve_optimal

        sol = solve_optimal(graph, ctx.system, heuristic_placements(graph, ctx))
        return Placement(sol.placement, sol.order, sol.proven, sol.bound_ns)
    if strategy not in STRATEGY_FUNCS:
        raise CompileError(f"partition: unknown strategy '{strategy}' (available: {', '.join(STRATEGIES)})")
    return Placement(STRATEGY_FUNCS[strategy](graph, ctx))


# -- applying a placement to the IR ------------------------------------------------


def apply_placement(fn: func.FuncOp, ops: list[Operation], placement: Placement) -> None:
    """Set `device` on every costed op and, when the strategy chose an order, move the ops into it."""
    for op, device in zip(ops, placement.devices):
        op.attributes[DEVICE_ATTR] = DeviceAttr(device)
    order = placement.order
    if order is None or order == list(range(len(ops))):
        return
    block = fn.body.block
    terminator = block.last_op
    for i in order:
        ops[i].detach()
    for i in order:  # weights and constants (no operands) stay first; the costed ops follow in the solved order
        if isinstance(terminator, func.ReturnOp):
            block.insert_op_before(ops[i], terminator)
        else:
            block.add_op(ops[i])


def kv_handoffs(graphs: dict[str, tuple[PhaseGraph, list[Operation]]],
                placements: dict[str, Placement], system: System) -> list[tuple[int, int, str]]:
    """Prefill values that carry the KV cache into decode on another memory: (op, result, decode memory).

    The k and v operands of the n-th prefill attention are the cache the n-th decode
    attention reads; when decode runs it on a device of another memory, the cache is
    copied there as prefill produces it (Hybe's fine-grained KV transfer)."""
    if "prefill" not in graphs or "decode" not in graphs:
        return []
    pre_ops = graphs["prefill"][1]
    dec_ops = graphs["decode"][1]
    index = {op: i for i, op in enumerate(pre_ops)}
    pre_attn = [i for i, op in enumerate(pre_ops) if isinstance(op, nn.AttentionOp)]
    dec_attn = [i for i, op in enumerate(dec_ops) if isinstance(op, nn.AttentionOp)]
    out: list[tuple[int, int, str]] = []
    for p_i, d_i in zip(pre_attn, dec_attn):
        dst = system.devices[placements["decode"].devices[d_i]].memory
        for operand in list(pre_ops[p_i].operands)[1:3]:
            owner = operand.owner
            if isinstance(owner, Operation) and owner in index:
                u = index[owner]
                if system.devices[placements["prefill"].devices[u]].memory != dst:
                    val = (u, owner.results.index(operand), dst)
                    if val not in out:
                        out.append(val)
    return out


def insert_kv_handoffs(handoffs: list[tuple[int, int, str]], pre_ops: list[Operation], placement: Placement,
                       system: System, elem_bytes: int) -> None:
    rewriter = Rewriter()
    for u, r, dst_memory in handoffs:
        dst = next(d.name for d in system.devices.values() if d.memory == dst_memory)
        transfer = make_transfer(pre_ops[u].results[r], placement.devices[u], dst, system, rewriter, elem_bytes)
        transfer.attributes["kv_handoff"] = UnitAttr()


def partition_module(module: ModuleOp, system: System, strategy: str, dtype: str,
                     papi_threshold_tokens: float | None = None) -> dict[str, Placement]:
    """Place every costed op of every phase by `strategy`; returns each phase's placement (graph order).

    `papi_threshold_tokens` (PAPI's FC threshold, tokens) must be finite and positive when given."""
    check_papi_threshold(papi_threshold_tokens)
    ctx = StrategyContext(system, dtype, papi_threshold_tokens)
    eb = DTYPE_BYTES[dtype]
    check_transfers(module, system)
    graphs: dict[str, tuple[PhaseGraph, list[Operation]]] = {}
    placements: dict[str, Placement] = {}
    for fn in phase_functions(module):
        graph, ops = phase_graph(fn, eb, system)
        graphs[graph.phase] = (graph, ops)
        placements[graph.phase] = place_phase(graph, strategy, ctx)
        apply_placement(fn, ops, placements[graph.phase])
    insert_transfers(module, system, eb)
    module.attributes[PARTITION_ATTR] = DictionaryAttr({
        "strategy": StringAttr(strategy),
        "optimal_proven": DictionaryAttr({p: IntegerAttr.from_bool(pl.proven_optimal)
                                          for p, pl in placements.items() if pl.proven_optimal is not None}),
        "optimal_bound_ns": DictionaryAttr({p: FloatAttr(pl.bound_ns, 64)
                                            for p, pl in placements.items() if pl.bound_ns is not None}),
    })
    handoffs = kv_handoffs(graphs, placements, system)
    if handoffs:
        insert_kv_handoffs(handoffs, graphs["prefill"][1], placements["prefill"], system, eb)
    return placements


@dataclass(frozen=True)
class PartitionPass(ModulePass):
    """Place every costed op on a device of the system and insert the transfers this implies.

    Strategies (docs/partition.md): `optimal` (least phase latency under the
    schedule's execution model, solved exactly, passes/optimal.py; the ops are
    reordered into the solved per-device order), `roofline` (each op alone on its
    fastest device), `greedy` (adds the transfers an op's inputs need), the seed
    systems' policies `attacc`, `neupims`, `ianus`, `papi`, `hybe`, and the
    baselines `gpu-only`, `npu-only`, `pim-only`. The chosen device is the
    discardable attribute `device = #place.device<"name">`. `papi_threshold`
    overrides PAPI's FC threshold (tokens; finite and positive). The cost attributes and any placement
    already in the IR are checked as they are read (`op_cost`, `placed_device`, `check_transfers`).
    """

    name = "partition"

    strategy: str = "optimal"
    system: str | None = None
    papi_threshold: float | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.strategy not in STRATEGIES:
            raise CompileError(f"partition: unknown strategy '{self.strategy}' (available: {', '.join(STRATEGIES)})")
        check_papi_threshold(self.papi_threshold)
        system = system_for_module(op, self.system)
        check_static(op)
        partition_module(op, system, self.strategy, dtype_for_module(op, None), self.papi_threshold)
