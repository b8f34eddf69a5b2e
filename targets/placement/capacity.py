"""Memory footprint of a placed model, and the check that it fits every memory of the system.

What a memory must hold (bytes at the deployment precision, targets/dtypes.py):

- weights: every `nn.weight` read by an op placed on a device attached to the
  memory, once per memory. Devices that share a memory (unified memory, e.g.
  IANUS's NPU and AiM) share one copy; a weight read on two memories is held in
  both (a copy per memory).
- KV cache: the key and value operands of every attention (`nn.attention`, or
  `pim.attention` with the cache in the PIM banks) placed there,
  [B, Hkv, T, D] each: the whole cache at that step (T = past + new in decode,
  the prompt length in prefill). A prefill cache that a KV hand-off copies to
  decode's memory as it is produced is held there; on prefill's memory it is an
  activation that dies after its last use (the copy or the attention).
- activations: the peak, over the function's ops in program order, of the live
  intermediate tensors produced on the memory's devices (function arguments count
  from the start to their last use, on the memory of their first reader; a value
  dies after its last use). KV operands, and the past cache a KV append extends
  in place, are counted above, not here.

The footprint of a memory = weights + the largest (KV cache + activations) over
the phases (prefill and decode run one after the other and share the weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import BlockArgument, Operation, SSAValue

from pimc.dialects import nn, pim, place
from pimc.dialects.place import device_of
from pimc.errors import CompileError
from pimc.targets.models.cost import tensor_bytes
from pimc.targets.system import System


class CapacityError(CompileError):
    """What a system's memories must hold does not fit; the message names the memory and what it holds."""


@dataclass
class MemoryUse:
    """Bytes one memory holds: weights (name -> bytes), and per phase KV cache and peak activations."""

    weights: dict[str, int] = field(default_factory=dict)
    kv_cache: dict[str, int] = field(default_factory=dict)
    activations: dict[str, int] = field(default_factory=dict)

    @property
    def weight_bytes(self) -> int:
        return sum(self.weights.values())

    def phase_bytes(self, phase: str) -> int:
        return self.kv_cache.get(phase, 0) + self.activations.get(phase, 0)

    @property
    def total_bytes(self) -> int:
        """weights + the largest KV cache + activations of any phase."""
        phases = set(self.kv_cache) | set(self.activations)
        return self.weight_bytes + max((self.phase_bytes(p) for p in phases), default=0)


def _memory_of_op(op: Operation, system: System) -> str | None:
    device = device_of(op)
    return system.devices[device].memory if device in system.devices else None


def _handoff_memory(value: SSAValue, system: System) -> str | None:
    """The memory a KV hand-off copy (`place.transfer {kv_handoff}`) of `value` goes to, if any."""
    for use in value.uses:
        t = use.operation
        if isinstance(t, place.TransferOp) and t.kv_handoff is not None:
            return system.devices[t.dst.device_name].memory
    return None


def memory_use(module: ModuleOp, system: System, elem_bytes: int) -> dict[str, MemoryUse]:
    """What every memory of `system` holds for the placed `module` (rules in the module docstring)."""
    use = {name: MemoryUse() for name in system.memories}
    for fn in module.ops:
        if not isinstance(fn, func.FuncOp) or not fn.body.blocks:
            continue
        phase = fn.sym_name.data  # functions are named after their phase (prefill, decode)
        ops = list(fn.body.block.ops)
        kv_values: set[SSAValue] = set()
        handed: set[SSAValue] = set()
        for op in ops:
            mem = _memory_of_op(op, system)
            if mem is None:
                continue
            for operand in op.operands:
                owner = operand.owner
                if isinstance(owner, nn.WeightOp):
                    use[mem].weights[owner.sym_name.data] = tensor_bytes(operand.type, elem_bytes)
            if isinstance(op, nn.KvAppendOp):
                kv_values.add(op.cache)  # the past cache is the same memory as the appended result
            if isinstance(op, (nn.AttentionOp, pim.AttentionOp)):
                for v in (op.k, op.v):
                    handoff = _handoff_memory(v, system)
                    if handoff is not None:  # copied to decode's memory as produced: held there, transient here
                        handed.add(v)
                        use[handoff].kv_cache[phase] = use[handoff].kv_cache.get(phase, 0) + tensor_bytes(
                            v.type, elem_bytes
                        )
                    elif v not in kv_values:
                        kv_values.add(v)
                        use[mem].kv_cache[phase] = use[mem].kv_cache.get(phase, 0) + tensor_bytes(v.type, elem_bytes)
        for mem, peak in _peak_activations(ops, fn, kv_values, handed, system, elem_bytes).items():
            use[mem].activations[phase] = peak
    return use


def _peak_activations(
    ops: list[Operation], fn: func.FuncOp, kv: set[SSAValue], handed: set[SSAValue], system: System, elem_bytes: int
) -> dict[str, int]:
    """Peak live intermediate bytes per memory over the ops in program order; a `handed` KV value
    dies at its last use before the return (the copy the return hands on lives in decode's memory)."""
    last_use: dict[SSAValue, int] = {}
    home: dict[SSAValue, str] = {}
    for i, op in enumerate(ops):
        mem = _memory_of_op(op, system)
        for operand in op.operands:
            if not (operand in handed and isinstance(op, func.ReturnOp)):
                last_use[operand] = i
            if mem is not None and operand not in home and isinstance(operand, BlockArgument):
                home[operand] = mem  # a function argument lives where it is first read
        if mem is not None:
            for r in op.results:
                home[r] = mem
    live: dict[str, int] = {m: 0 for m in system.memories}
    frees: dict[int, list[SSAValue]] = {}
    for v, i in last_use.items():
        frees.setdefault(i, []).append(v)

    def size(v: SSAValue) -> int:
        if (
            v in kv
            or v not in home
            or not isinstance(v.type, TensorType)
            or isinstance(v.owner, (nn.WeightOp, nn.ConstantOp))
        ):
            return 0
        return tensor_bytes(v.type, elem_bytes)

    for arg in fn.body.block.args:
        if arg in home:
            live[home[arg]] += size(arg)
    peak = dict(live)
    for i, op in enumerate(ops):
        for r in op.results:
            if r in home and r.uses.get_length() > 0:
                live[home[r]] += size(r)
        for m in live:
            peak[m] = max(peak[m], live[m])
        for v in frees.get(i, []):
            if v in home:
                live[home[v]] -= size(v)
    return {m: p for m, p in peak.items() if p}


def _gb(n: int) -> str:
    return f"{n / 1e9:.3g} GB"


def check_capacity(module: ModuleOp, system: System, elem_bytes: int, streams: int = 1) -> dict[str, MemoryUse]:
    """`memory_use`, raising CapacityError for the first memory whose footprint exceeds its capacity. With
    `streams` interleaved sub-batches (the module costed at one sub-batch) every sub-batch's KV cache and
    activations are resident at once: those scale by `streams`, the shared weights do not."""
    use = memory_use(module, system, elem_bytes)
    if streams > 1:
        for u in use.values():
            u.kv_cache = {p: n * streams for p, n in u.kv_cache.items()}
            u.activations = {p: n * streams for p, n in u.activations.items()}
    for name, u in use.items():
        capacity = system.memories[name].capacity_gb * 1e9
        if u.total_bytes <= capacity:
            continue
        phase = max(set(u.kv_cache) | set(u.activations) or {""}, key=u.phase_bytes)
        largest = max(u.weights.items(), key=lambda kv: kv[1]) if u.weights else None
        what = f"weights {_gb(u.weight_bytes)} ({len(u.weights)} tensors"
        what += f", largest '{largest[0]}' {_gb(largest[1])})" if largest else ")"
        what += f" + KV cache {_gb(u.kv_cache.get(phase, 0))} + activations {_gb(u.activations.get(phase, 0))}"
        where = f" in {phase}" if phase else ""
        raise CapacityError(
            f"memory '{name}' of system '{system.name}' ({_gb(int(capacity))}) cannot hold what is placed on it{where}: "
            f"{what} = {_gb(u.total_bytes)}"
        )
    return use


def _named_bytes(values: dict[str, int]) -> str:
    largest = max(values.items(), key=lambda kv: kv[1]) if values else None
    text = f"{_gb(sum(values.values()))} ({len(values)} tensors"
    return text + (f", largest '{largest[0]}' {_gb(largest[1])})" if largest else ")")


def check_fits(module: ModuleOp, system: System, elem_bytes: int) -> None:
    """Refuse, before anything is costed or placed, a model that no placement can fit in the system.

    A lower bound of `check_capacity`'s footprint that holds for every placement: the memories together
    hold every weight an op reads (at least one copy) and, in the phase that needs most, its KV cache
    (the key and value operands of every attention) plus the larger of its other inputs (function
    arguments an op reads, live from the start; a past cache a kv_append extends counts as the
    appended cache) and its largest other intermediate tensor. When that exceeds the capacity of all
    the memories together, raise CapacityError with the figures: a typo'd `--dim past=100000000` is
    refused at once instead of being costed.
    """
    from pimc.targets.models.cost import is_costed

    def label(op: Operation) -> str:
        name = op.attributes.get("name")
        return getattr(name, "data", op.name)

    def value_name(v: SSAValue) -> str:
        return v.name_hint or (label(v.owner) if isinstance(v.owner, Operation) else "?")

    weights: dict[str, int] = {}
    worst: tuple[int, str, str] | None = None  # (bytes, phase, what)
    for fn in module.ops:
        if not isinstance(fn, func.FuncOp) or not fn.body.blocks:
            continue
        ops = [op for op in fn.body.block.ops if is_costed(op)]
        kv: dict[SSAValue, int] = {}
        excluded: set[SSAValue] = set()
        for op in ops:
            for operand in op.operands:
                if isinstance(operand.owner, nn.WeightOp):
                    weights[operand.owner.sym_name.data] = tensor_bytes(operand.type, elem_bytes)
            if isinstance(op, nn.KvAppendOp):
                excluded.add(op.cache)
            if isinstance(op, (nn.AttentionOp, pim.AttentionOp)):
                for v in (op.k, op.v):
                    kv[v] = tensor_bytes(v.type, elem_bytes)
        excluded |= kv.keys()
        largest: tuple[int, str] = (0, "")
        for op in ops:
            for r in op.results:
                if r not in excluded and isinstance(r.type, TensorType) and r.uses.get_length() > 0:
                    size = tensor_bytes(r.type, elem_bytes)
                    if size > largest[0]:
                        largest = (size, label(op))
        inputs: dict[str, int] = {}
        for i, arg in enumerate(fn.body.block.args):
            if (
                arg not in excluded
                and isinstance(arg.type, TensorType)
                and any(is_costed(use.operation) for use in arg.uses)
            ):
                inputs[arg.name_hint or f"argument {i}"] = tensor_bytes(arg.type, elem_bytes)
        if sum(inputs.values()) >= largest[0]:
            other, what = sum(inputs.values()), f"inputs {_named_bytes(inputs)}"
        else:
            other, what = largest[0], f"the result of '{largest[1]}' {_gb(largest[0])}"
        kv_named = {value_name(v): size for v, size in kv.items()}
        if kv_named:
            what = f"KV cache {_named_bytes(kv_named)} + {what}"
        phase_bytes = sum(kv.values()) + other
        if worst is None or phase_bytes > worst[0]:
            worst = (phase_bytes, fn.sym_name.data, what)
    if worst is None:
        return
    need = sum(weights.values()) + worst[0]
    capacity = sum(m.capacity_gb * 1e9 for m in system.memories.values())
    if need <= capacity:
        return
    if len(system.memories) == 1:
        ((name, mem),) = system.memories.items()
        where = f"memory '{name}' of system '{system.name}' ({_gb(int(mem.capacity_gb * 1e9))})"
    else:
        parts = " + ".join(f"{m.name} {_gb(int(m.capacity_gb * 1e9))}" for m in system.memories.values())
        where = f"the memories of system '{system.name}' ({parts} = {_gb(int(capacity))})"
    raise CapacityError(
        f"{where} cannot hold the model in {worst[1]}, whatever the placement: weights "
        f"{_named_bytes(weights)} + {worst[2]} = {_gb(need)}"
    )
