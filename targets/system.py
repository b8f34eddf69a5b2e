"""System descriptions: devices, memories and links, read from TOML and validated.

A system is data, not code. Each `[devices.<name>]` table describes one compute
device; each device reads and writes one `[memories.<name>]`; `[[links]]` join
memories. Every rate is stored in units that make `ns` the natural time unit:
GFLOP/s = FLOP per ns, GB/s = bytes per ns (decimal: 1 GB = 1e9 bytes). Energies
are in pJ. Validation names the offending key (`file: devices.pim.tRCD: missing`); every
number must be finite and within a physical range (`Key`: no zero or negative rate, no 1e300
GB/s, no memory above `limits.MAX_CAPACITY_GB`), so that no cost is inf or NaN.

Top level: `name`, `description`; a comment at the head of each preset gives its
sources.

Memories (`[memories.<name>]`):

- `capacity_gb` (GB), `bandwidth_gbps` (GB/s, what devices attached to it can
  stream), `energy_pj_per_bit` (moving one bit between the memory and a device).
- `technology` (optional string, e.g. "HBM3").
- `pim_sharing` (optional, "conflict" or "concurrent"; default "conflict"): when a
  PIM device computes in this memory's banks while another device reads it.
  "conflict" = the accesses serialise (IANUS's unified memory, where PIM Access
  Scheduling orders them); "concurrent" = both proceed (NeuPIMs's dual row
  buffers). Only meaningful when a PIM device and another device share the
  memory; a system whose NPU and PIM use one memory has unified memory and keeps
  one copy of the weights. The execution model (targets/placement/execution.py) acts on it:
  under "conflict" the memory is a resource every op on it takes, so a PIM op and
  another device's op on that memory never overlap; under "concurrent" they may.

Links (`[[links]]`): `between = [mem_a, mem_b]`, `bandwidth_gbps`, `latency_ns`,
`energy_pj_per_bit` (default 0).

Devices (`[devices.<name>]`), by `kind`; every device has `memory` and an optional
`description`. The kind's keys are the fields of its parameter class (`NpuParams`, `GpuParams`
for gpu and accelerator, `PimParams`): each field's type, default and `bounds` metadata are the
key's schema, and `Device.npu` / `.gpu` / `.pim` read them typed:

- npu (systolic array; targets/models/npu.py): `array_rows`, `array_cols`, `cores`,
  `clock_ghz`, `dataflow` ("os", "ws" or "is", as SCALE-Sim), `ifmap_sram_kb`,
  `filter_sram_kb`, `ofmap_sram_kb` (per core, KiB), `vector_lanes` (vector-unit
  FLOPs per cycle per core), `energy_pj_per_mac`, `vector_energy_pj_per_flop`.
- gpu or accelerator (roofline device; targets/models/gpu.py): `peak_tflops` and
  `vector_tflops` (tables dtype -> dense TFLOP/s, e.g. `{bf16 = 989, fp32 = 67}`),
  `compute_efficiency`, `memory_efficiency` (fractions of peak reached, (0, 1]),
  `launch_overhead_ns` (per op), `energy_pj_per_flop`. "accelerator" is the same
  model under a name that fits TPUs, LPUs and wafer-scale engines.
- pim (DRAM banks that compute; targets/models/pim_timing.py): `isa` (one of PIM_ISAS),
  `channels`, `bank_groups`, `banks_per_channel`, `row_bytes`, `column_bytes`,
  `rows_per_bank`, `mac_lanes` (MACs per bank per MAC command), `tck_ns`,
  `mac_interval_cycles`, `gb_bytes` (global buffer size in bytes, the field
  `global_buffer_bytes`: the input-vector chunk one MAC sequence can use),
  `row_outputs` (outputs a bank can compute from one opened row when K is short,
  default 1: more accumulators, as AttAcc's, or results read out while the row
  stays open, as NeuPIMs'), `dtypes`
  (precisions the MAC lanes compute in), the DRAM timings in cycles of tCK: `tRCD`,
  `tRCD_MAC` (activation to first MAC; default tRCD), `tRP`, `tRAS`, `tCCD_S`, `tCCD_L`, `tRRD`, `tFAW`, `tCL`, `tREFI`,
  `tRFC`; `tRTP`, `tRC`, `tMOD` and `blocking_reads` (the AiM controller model,
  targets/models/aim_timing.py; defaults 0 / false leave it off);
  `all_bank_act` (true when one command opens a row in every bank, as AiM's
  ACT16 and HBM-PIM's all-bank mode; false = banks open one at a time under
  tRRD/tFAW); `bias_preload` (default true: WR_BIAS sets the accumulators to a
  GEMV's bias; false, as on AttAcc's ISA, which has no such command: the host adds
  the bias to the results it reads); energies `act_energy_pj_per_bit` (ACT+PRE per bit of opened row),
  `read_energy_pj_per_bit` (cell to the bank's MAC unit per bit),
  `io_energy_pj_per_bit` (per bit crossing the device interface), `mac_energy_pj`
  (per MAC).

- interconnect (the links joining identical chips; targets/models/collective.py): `chips` (copies
  of every other device and memory of the file: the file describes one chip and its share of the
  system), `topology` ("ring", "switch", "torus" with `torus_x` chips per row), `bandwidth_gbps`
  (what one chip sends per direction over all its links), `latency_ns` (per step of a collective
  algorithm), `launch_latency_ns` (once per collective), `energy_pj_per_bit` (per bit per hop). It
  runs the collectives that tensor parallelism (the shard pass) inserts and nothing else; `memory`
  is the chip memory its links read and write. At most one per system; without one a system is a
  single chip.

A device table may start from a device preset, `preset = "gddr6-aim"` (files in
targets/presets/devices/, listed by `device_preset_names()`), and override any of
its keys.

Derived rates: NPU peak (targets/models/cost.py `npu_peak_gflops`) = 2 * rows * cols *
cores * clock_ghz GFLOP/s; PIM peak (targets/models/pim_timing.py `pim_peak_gflops`) =
2 * channels * banks * column elements * v FLOP per column time
(mac_cycles_per_column(v) * tck_ns), v = max(1, mac_lanes // column elements)
input vectors per column.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

from pimc.errors import SystemConfigError
from pimc.limits import MAX_CAPACITY_GB
from pimc.targets.dtypes import DTYPES

DEFAULT_SYSTEM = "npu-aim"

PIM_SHARING = ("conflict", "concurrent")
PIM_ISAS = ("aim", "hbm-pim", "attacc", "newton")
"""Command sets a PIM device speaks. convert-pim-to-aim emits AiM ISR, convert-pim-to-attacc
AttAcc commands; for the others the GEMV cost comes from the same all-bank timing model (targets/models/pim_timing.py)."""


@dataclass(frozen=True)
class Memory:
    name: str
    capacity_gb: float
    bandwidth_gbps: float
    energy_pj_per_bit: float = 0.0
    technology: str = ""
    pim_sharing: str = "conflict"


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    bandwidth_gbps: float
    latency_ns: float
    energy_pj_per_bit: float = 0.0

    def time_ns(self, n_bytes: int) -> float:
        """Latency + bytes / bandwidth of one copy over the link."""
        return self.latency_ns + n_bytes / self.bandwidth_gbps

    def energy_pj(self, n_bytes: int) -> float:
        """bytes * 8 * the link's pJ/bit (the memories' own access energy is in the ops' costs)."""
        return n_bytes * 8 * self.energy_pj_per_bit


@dataclass(frozen=True)
class Device:
    """One compute device. `params` holds its kind-specific parameters, validated on load; read them through
    the property of its kind (`dev.npu.array_rows`, `dev.gpu.peak_tflops`, `dev.pim.channels`)."""

    name: str
    kind: str
    memory: str
    params: DeviceParams
    description: str = ""

    @property
    def npu(self) -> NpuParams:
        """The parameters of an npu device."""
        if isinstance(self.params, NpuParams):
            return self.params
        raise TypeError(f"device '{self.name}' is of kind {self.kind}: it has no npu parameters")

    @property
    def gpu(self) -> GpuParams:
        """The parameters of a gpu or accelerator device (one roofline model)."""
        if isinstance(self.params, GpuParams):
            return self.params
        raise TypeError(f"device '{self.name}' is of kind {self.kind}: it has no gpu parameters")

    @property
    def pim(self) -> PimParams:
        """The parameters of a pim device."""
        if isinstance(self.params, PimParams):
            return self.params
        raise TypeError(f"device '{self.name}' is of kind {self.kind}: it has no pim parameters")

    @property
    def interconnect(self) -> InterconnectParams:
        """The parameters of an interconnect device."""
        if isinstance(self.params, InterconnectParams):
            return self.params
        raise TypeError(f"device '{self.name}' is of kind {self.kind}: it has no interconnect parameters")


@dataclass(frozen=True)
class System:
    name: str
    description: str
    devices: dict[str, Device]
    memories: dict[str, Memory]
    links: tuple[Link, ...]
    source: str

    def memory_of(self, device: str) -> Memory:
        return self.memories[self.devices[device].memory]

    def link(self, mem_a: str, mem_b: str) -> Link | None:
        """The link joining two memories, if the system has one."""
        return next((link for link in self.links if {link.a, link.b} == {mem_a, mem_b}), None)

    def link_between(self, mem_a: str, mem_b: str) -> Link:
        link = self.link(mem_a, mem_b)
        if link is not None:
            return link
        raise SystemConfigError(f"{self.source}: no [[links]] entry joins memories '{mem_a}' and '{mem_b}'")

    def unified(self, dev_a: str, dev_b: str) -> bool:
        """Whether two devices read and write one memory (no copies, no transfers between them)."""
        return self.devices[dev_a].memory == self.devices[dev_b].memory

    @property
    def interconnect(self) -> Device | None:
        """The interconnect device joining the system's chips, if it has one (at most one)."""
        return next((d for d in self.devices.values() if d.kind == "interconnect"), None)

    @property
    def chips(self) -> int:
        """Copies of the compute devices and memories: the interconnect's `chips`, else 1."""
        link = self.interconnect
        return 1 if link is None else link.interconnect.chips

    def compute_devices(self) -> list[Device]:
        """The devices that run model ops (every device but the interconnect)."""
        return [d for d in self.devices.values() if d.kind != "interconnect"]

    def dtypes(self) -> list[str]:
        """Deployment precisions at which some device of the system has a rate (NPUs run every dtype)."""
        found: set[str] = set()
        for d in self.compute_devices():
            if d.kind == "npu":
                return list(DTYPES)
            found |= set(d.pim.dtypes) if d.kind == "pim" else set(d.gpu.peak_tflops) & set(d.gpu.vector_tflops)
        return [d for d in DTYPES if d in found]


@dataclass(frozen=True)
class Key:
    """One TOML key: its type, optional default (None = required) and allowed values.

    Types: int, float, str, bool, "dtype-table" (a table dtype -> positive float) and "dtypes" (a list of
    dtype names). A number must be finite (no nan or inf) and in range: positive unless `minimum` says
    otherwise, then at least `floor` (the smallest positive value that is physical: a bandwidth of 1e-300
    GB/s would overflow every latency) and at most `maximum` (beyond any real device: the costs of a
    1e300 GB memory are not numbers).

    A device parameter's `Key` comes from its field in `NpuParams`, `GpuParams` or `PimParams`
    (`param_keys`); memories and links spell theirs out (`_MEMORY_KEYS`, `parse_system`).
    """

    kind: Any
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    floor: float | None = None


MAX_INT = 2**31 - 1
"""Default largest integer key (counts, sizes, cycles)."""
MAX_FLOAT = 1e12
"""Default largest float key."""
MIN_RATE = 1e-6
"""Smallest positive rate (GB/s, GHz, TFLOP/s) or fraction a key may have."""


def bounds(
    *,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    floor: float | None = None,
    toml: str = "",
) -> dict[str, Any]:
    """The metadata of a device parameter's field: what its TOML value may be (`Key`'s choices, minimum,
    maximum and floor) and its TOML key when that is not the field's name. The field's type is the key's
    type and its default the key's default (none = required); `param_keys` puts the three together."""
    return {"choices": choices, "minimum": minimum, "maximum": maximum, "floor": floor, "toml": toml}


_ENERGY = bounds(minimum=0.0, maximum=1e6)
_FRACTION = bounds(maximum=1.0, floor=MIN_RATE)
_CYCLES = bounds(minimum=0, maximum=10**6)
_KB = bounds(floor=MIN_RATE, maximum=2.0**30)
_RATE = Key(float, floor=MIN_RATE, maximum=1e9)
_RATE_TABLE_MAX = 1e9


@dataclass(frozen=True, kw_only=True)
class NpuParams:
    """An npu device (systolic arrays; targets/models/npu.py): SCALE-Sim's configuration, per core."""

    array_rows: int = field(metadata=bounds(maximum=2**16))
    array_cols: int = field(metadata=bounds(maximum=2**16))
    cores: int = field(metadata=bounds(maximum=2**16))
    clock_ghz: float = field(metadata=bounds(floor=MIN_RATE, maximum=1e3))
    dataflow: str = field(metadata=bounds(choices=("os", "ws", "is")))
    """Output, weight or input stationary, as SCALE-Sim."""
    ifmap_sram_kb: float = field(metadata=_KB)
    filter_sram_kb: float = field(metadata=_KB)
    ofmap_sram_kb: float = field(metadata=_KB)
    vector_lanes: int = field(metadata=bounds(maximum=2**24))
    """Vector-unit FLOPs per cycle per core."""
    energy_pj_per_mac: float = field(metadata=_ENERGY)
    vector_energy_pj_per_flop: float = field(metadata=_ENERGY)


@dataclass(frozen=True, kw_only=True)
class GpuParams:
    """A gpu or accelerator device (roofline; targets/models/gpu.py)."""

    peak_tflops: dict[str, float] = field(metadata=bounds())
    """Dense matrix TFLOP/s per dtype."""
    vector_tflops: dict[str, float] = field(metadata=bounds())
    """Vector (non-matrix) TFLOP/s per dtype."""
    compute_efficiency: float = field(metadata=_FRACTION)
    memory_efficiency: float = field(metadata=_FRACTION)
    launch_overhead_ns: float = field(metadata=bounds(minimum=0.0, maximum=1e12))
    """Per op."""
    energy_pj_per_flop: float = field(metadata=_ENERGY)


@dataclass(frozen=True, kw_only=True)
class PimParams:
    """A pim device (DRAM banks that compute; targets/models/pim_timing.py). Timings are in cycles of tCK."""

    isa: str = field(metadata=bounds(choices=PIM_ISAS))
    channels: int = field(metadata=bounds(maximum=4096))
    bank_groups: int = field(metadata=bounds(maximum=4096))
    banks_per_channel: int = field(metadata=bounds(maximum=4096))
    row_bytes: int = field(metadata=bounds(maximum=2**20))
    column_bytes: int = field(metadata=bounds(maximum=2**16))
    rows_per_bank: int = field(metadata=bounds(maximum=2**24))
    mac_lanes: int = field(metadata=bounds(maximum=2**16))
    """MACs per bank per MAC command."""
    tck_ns: float = field(metadata=bounds(floor=1e-3, maximum=1e6))
    mac_interval_cycles: int = field(metadata=bounds(maximum=10**6))
    global_buffer_bytes: int = field(metadata=bounds(maximum=2**30, toml="gb_bytes"))
    """Global buffer size in bytes (TOML key `gb_bytes`): the input-vector chunk one MAC sequence can use."""
    row_outputs: int = field(default=1, metadata=bounds(maximum=2**16))
    """Outputs a bank can compute from one opened row when K is short."""
    dtypes: tuple[str, ...] = field(default=("fp16", "bf16"), metadata=bounds())
    """Precisions the MAC lanes compute in."""
    tRCD: int = field(metadata=_CYCLES)
    tRCD_MAC: int = field(default=-1, metadata=bounds(minimum=-1, maximum=10**6))
    """Activation to first MAC; -1 in a file means tRCD, which loading puts in its place."""
    tRP: int = field(metadata=_CYCLES)
    tRAS: int = field(metadata=_CYCLES)
    tCCD_S: int = field(metadata=_CYCLES)
    tCCD_L: int = field(metadata=_CYCLES)
    tRRD: int = field(metadata=_CYCLES)
    tFAW: int = field(metadata=_CYCLES)
    tCL: int = field(metadata=_CYCLES)
    tREFI: int = field(metadata=bounds(maximum=10**9))
    tRFC: int = field(metadata=_CYCLES)
    tRTP: int = field(default=0, metadata=_CYCLES)
    """Last column read (MAC) to precharge; 0: the rule is absent (only the AiM controller model uses it)."""
    tRC: int = field(default=0, metadata=_CYCLES)
    """Activation to the next activation of the channel; 0: absent (AiM controller model)."""
    tMOD: int = field(default=0, metadata=_CYCLES)
    """Cycles after a change between register read/write mode and MAC mode (AiM's TMOD); 0: absent."""
    blocking_reads: bool = field(default=False, metadata=bounds())
    """The host's command engine waits for RD_MAC and SYNC to complete, channels run independently in
    between, rows stay open until the next activation (the AiM controller: targets/models/aim_timing.py)."""
    all_bank_act: bool = field(metadata=bounds())
    """One command opens a row in every bank (false: banks open one at a time under tRRD/tFAW)."""
    bias_preload: bool = field(default=True, metadata=bounds())
    """WR_BIAS sets the accumulators to a GEMV's bias (false: the host adds it to the results)."""
    act_energy_pj_per_bit: float = field(metadata=_ENERGY)
    read_energy_pj_per_bit: float = field(metadata=_ENERGY)
    io_energy_pj_per_bit: float = field(metadata=_ENERGY)
    mac_energy_pj: float = field(metadata=_ENERGY)


TOPOLOGIES = ("ring", "switch", "torus")
"""How an interconnect joins its chips (targets/models/collective.py costs each collective per topology)."""


@dataclass(frozen=True, kw_only=True)
class InterconnectParams:
    """An interconnect device: the links that join `chips` identical copies of the system's other devices and
    memories (the chips of a DGX, a TPU slice). It runs the collectives (targets/models/collective.py) and no
    other op; collectives read and write its `memory` (the chip memory its links face)."""

    chips: int = field(metadata=bounds(maximum=2**16))
    """Copies of the system's compute devices and memories that the links join."""
    topology: str = field(metadata=bounds(choices=TOPOLOGIES))
    """"ring" (each chip linked to two neighbours), "switch" (every chip one hop from every other through a
    switch, as NVSwitch) or "torus" (a 2-D torus, as TPU v4's ICI within a slice; `torus_x` chips per row)."""
    bandwidth_gbps: float = field(metadata=bounds(floor=MIN_RATE, maximum=1e9))
    """GB/s one chip sends (and, at the same time, receives) over all its links together: per direction."""
    latency_ns: float = field(metadata=bounds(minimum=0.0, maximum=1e9))
    """Per message step of a collective algorithm (one hop: link, switch and software)."""
    launch_latency_ns: float = field(default=0.0, metadata=bounds(minimum=0.0, maximum=1e9))
    """Once per collective (launching it and synchronising the chips), before its steps."""
    energy_pj_per_bit: float = field(default=0.0, metadata=_ENERGY)
    """Per bit sent over one link (one hop)."""
    torus_x: int = field(default=0, metadata=bounds(minimum=0, maximum=2**16))
    """Torus only: chips per row (the other dimension is chips / torus_x)."""


DeviceParams = NpuParams | GpuParams | PimParams | InterconnectParams

_KIND_PARAMS: dict[str, type[DeviceParams]] = {
    "accelerator": GpuParams,
    "gpu": GpuParams,
    "interconnect": InterconnectParams,
    "npu": NpuParams,
    "pim": PimParams,
}
DEVICE_KINDS = tuple(sorted(_KIND_PARAMS))

_FIELD_KINDS: dict[Any, Any] = {
    int: int,
    float: float,
    str: str,
    bool: bool,
    dict[str, float]: "dtype-table",
    tuple[str, ...]: "dtypes",
}
"""A parameter field's type -> the `Key` kind its TOML value is validated as."""


@cache
def param_keys(cls: type[DeviceParams]) -> dict[str, tuple[str, Key]]:
    """TOML key -> (field name, `Key`) of a parameter class, in field order: each `Key` has the field's type,
    its default (None = required) and the `bounds` in its metadata."""
    hints = get_type_hints(cls)
    out: dict[str, tuple[str, Key]] = {}
    for f in fields(cls):
        m = f.metadata
        default = None if f.default is MISSING else f.default
        key = Key(_FIELD_KINDS[hints[f.name]], default, m["choices"], m["minimum"], m["maximum"], m["floor"])
        out[m["toml"] or f.name] = (f.name, key)
    return out


def _get(table: dict[str, Any], key: str, spec: Key | type, where: str) -> Any:
    if not isinstance(spec, Key):
        spec = Key(spec)
    if key not in table:
        if spec.default is not None:
            return spec.default
        raise SystemConfigError(f"{where}.{key}: missing")
    value = table[key]
    here = f"{where}.{key}"
    if spec.kind == "dtype-table":
        if not isinstance(value, dict) or not value:
            raise SystemConfigError(f"{here}: expected a table of dtype = TFLOP/s, e.g. {{ bf16 = 989 }}")
        for dtype, rate in value.items():
            if dtype not in DTYPES:
                raise SystemConfigError(f"{here}.{dtype}: unknown dtype (expected one of {', '.join(DTYPES)})")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
                raise SystemConfigError(f"{here}.{dtype}: expected a positive number, got {rate!r}")
            if not MIN_RATE <= rate <= _RATE_TABLE_MAX:
                raise SystemConfigError(
                    f"{here}.{dtype}: must be from {MIN_RATE:g} to {_RATE_TABLE_MAX:g} TFLOP/s, got {rate!r}"
                )
        return {d: float(r) for d, r in value.items()}
    if spec.kind == "dtypes":
        if not isinstance(value, list) or not value or not all(isinstance(d, str) and d in DTYPES for d in value):
            raise SystemConfigError(f"{here}: expected a list of dtypes out of {', '.join(DTYPES)}, got {value!r}")
        return tuple(value)
    kind = spec.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise SystemConfigError(f"{here}: expected {kind.__name__}, got {value!r}")
    if kind in (int, float):
        if not math.isfinite(value):
            raise SystemConfigError(f"{here}: must be a finite number, got {value!r}")
        if spec.minimum is None and value <= 0:
            raise SystemConfigError(f"{here}: must be positive, got {value!r}")
        if spec.minimum is not None and value < spec.minimum:
            raise SystemConfigError(f"{here}: must be at least {spec.minimum:g}, got {value!r}")
        floor = spec.floor if spec.floor is not None else (MIN_RATE if kind is float and spec.minimum is None else None)
        if floor is not None and value < floor:
            raise SystemConfigError(f"{here}: must be at least {floor:g}, got {value!r}")
        maximum = spec.maximum if spec.maximum is not None else (MAX_INT if kind is int else MAX_FLOAT)
        if value > maximum:
            raise SystemConfigError(f"{here}: must be at most {maximum:g}, got {value!r}")
    if spec.choices and value not in spec.choices:
        raise SystemConfigError(f"{here}: {value!r} is not one of {', '.join(spec.choices)}")
    return value


AIM_LIMITS = {"channels": 32, "banks_per_channel": 16, "columns_per_row": 64, "column_bytes": 32}
"""What the AiM ISR can address: a 32-bit channel mask, 16 banks, opsize up to one 2 KB row of 32 B columns."""


PIM_DTYPES = ("fp16", "bf16")
"""Precisions PIM MAC lanes compute in: 2-byte elements (pim.PIM_ELEMENT_BYTES) is what the layout and timing assume."""


def _check_pim(p: PimParams, where: str) -> PimParams:
    """The checks across keys of a pim device; returns its parameters with tRCD_MAC resolved."""
    if p.tRCD_MAC < 0:
        p = replace(p, tRCD_MAC=p.tRCD)
    bad = [d for d in p.dtypes if d not in PIM_DTYPES]
    if bad:
        raise SystemConfigError(f"{where}.dtypes: PIM MAC lanes compute in {', '.join(PIM_DTYPES)}, not {bad[0]}")
    column = p.column_bytes
    if column % 2:
        raise SystemConfigError(f"{where}.column_bytes: must hold whole 2-byte elements, got {column}")
    if p.row_bytes % column:
        raise SystemConfigError(f"{where}.row_bytes: must be whole {column}-byte columns, got {p.row_bytes}")
    if p.banks_per_channel % p.bank_groups:
        raise SystemConfigError(f"{where}.bank_groups: must divide banks_per_channel ({p.banks_per_channel})")
    if p.tRFC >= p.tREFI:
        raise SystemConfigError(f"{where}.tRFC: must be shorter than tREFI ({p.tREFI})")
    if p.global_buffer_bytes % column:
        raise SystemConfigError(f"{where}.gb_bytes: must be whole {column}-byte columns")
    if p.isa != "aim":
        return p
    if p.row_outputs != 1:
        raise SystemConfigError(
            f"{where}.row_outputs: AiM has one MAC accumulator per bank and MAC_ABK no column address, so it must be 1"
        )
    if p.mac_lanes > column // 2:
        raise SystemConfigError(f"{where}.mac_lanes: AiM MACs one input vector per column: at most {column // 2} lanes")
    if p.channels > AIM_LIMITS["channels"]:
        raise SystemConfigError(f"{where}.channels: AiM addresses at most {AIM_LIMITS['channels']} channels")
    if p.banks_per_channel > AIM_LIMITS["banks_per_channel"]:
        raise SystemConfigError(f"{where}.banks_per_channel: AiM has at most {AIM_LIMITS['banks_per_channel']} banks")
    if column != AIM_LIMITS["column_bytes"]:
        raise SystemConfigError(f"{where}.column_bytes: AiM columns are {AIM_LIMITS['column_bytes']} bytes")
    columns, rest = divmod(p.row_bytes, column)
    if rest or not 1 <= columns <= AIM_LIMITS["columns_per_row"]:
        raise SystemConfigError(
            f"{where}.row_bytes: must be 1..{AIM_LIMITS['columns_per_row']} whole {column}-byte columns"
        )
    return p


def _check_interconnect(p: InterconnectParams, where: str, others: list[str]) -> None:
    """The checks across keys of an interconnect device (and that the system has no other)."""
    if others:
        raise SystemConfigError(f"{where}.kind: a system has one interconnect, and devices.{others[0]} is one")
    if p.topology == "torus":
        if p.torus_x < 2 or p.chips % p.torus_x or p.chips // p.torus_x < 2:
            raise SystemConfigError(
                f"{where}.torus_x: a torus of {p.chips} chips needs torus_x >= 2 chips per row dividing chips "
                f"into at least 2 rows, got {p.torus_x}"
            )
    elif p.torus_x:
        raise SystemConfigError(f"{where}.torus_x: only a torus has rows (topology is {p.topology!r})")


def _table(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict) or not value:
        raise SystemConfigError(f"{where}: missing or empty [{key}] table")
    return value


def _check_unknown(table: dict[str, Any], known: set[str], where: str, what: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise SystemConfigError(f"{where}.{unknown[0]}: unknown key for {what}")


_MEMORY_KEYS = {
    "capacity_gb": Key(float, floor=1e-9, maximum=MAX_CAPACITY_GB),
    "bandwidth_gbps": _RATE,
    "energy_pj_per_bit": Key(float, minimum=0.0, maximum=1e6),
    "technology": Key(str, default=""),
    "pim_sharing": Key(str, default="conflict", choices=PIM_SHARING),
}
_LINK_KEYS = {"between", "bandwidth_gbps", "latency_ns", "energy_pj_per_bit"}


def device_preset_names() -> list[str]:
    """Device presets (targets/presets/devices/*.toml) a system's device table can start from."""
    folder = resources.files("pimc.targets").joinpath("presets", "devices")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


@cache
def _device_preset(name: str) -> dict[str, Any]:
    text = resources.files("pimc.targets").joinpath("presets", "devices", f"{name}.toml").read_text()
    return tomllib.loads(text)


def _with_device_preset(dtable: dict[str, Any], where: str) -> dict[str, Any]:
    """A device table that names `preset = "..."` gets that preset's keys, overridden by its own."""
    if "preset" not in dtable:
        return dtable
    name = dtable["preset"]
    if not isinstance(name, str) or name not in device_preset_names():
        raise SystemConfigError(
            f"{where}.preset: unknown device preset {name!r} (have {', '.join(device_preset_names())})"
        )
    merged = {**_device_preset(name), **dtable}
    del merged["preset"]
    return merged


def parse_system(doc: dict[str, Any], source: str) -> System:
    """Validate a parsed TOML document; every error names the offending key."""
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SystemConfigError(f"{source}: name: missing (a string naming the system)")
    unknown = sorted(set(doc) - {"name", "description", "memories", "devices", "links"})
    if unknown:
        raise SystemConfigError(f"{source}: {unknown[0]}: unknown key for a system")
    memories: dict[str, Memory] = {}
    for mname, mtable in _table(doc, "memories", source).items():
        where = f"{source}: memories.{mname}"
        if not isinstance(mtable, dict):
            raise SystemConfigError(f"{where}: expected a table")
        _check_unknown(mtable, set(_MEMORY_KEYS), where, "a memory")
        values = {key: _get(mtable, key, spec, where) for key, spec in _MEMORY_KEYS.items()}
        memories[mname] = Memory(mname, **values)
    devices: dict[str, Device] = {}
    for dname, dtable in _table(doc, "devices", source).items():
        where = f"{source}: devices.{dname}"
        if not isinstance(dtable, dict):
            raise SystemConfigError(f"{where}: expected a table")
        dtable = _with_device_preset(dtable, where)
        kind = _get(dtable, "kind", str, where)
        if kind not in _KIND_PARAMS:
            raise SystemConfigError(
                f"{where}.kind: unknown device kind {kind!r} (expected one of {', '.join(DEVICE_KINDS)})"
            )
        memory = _get(dtable, "memory", str, where)
        if memory not in memories:
            raise SystemConfigError(f"{where}.memory: no memory named {memory!r} (have {sorted(memories)})")
        cls = _KIND_PARAMS[kind]
        keys = param_keys(cls)
        _check_unknown(dtable, set(keys) | {"kind", "memory", "description"}, where, f"a {kind} device")
        params = cls(**{name: _get(dtable, key, spec, where) for key, (name, spec) in keys.items()})
        if isinstance(params, PimParams):
            params = _check_pim(params, where)
        if isinstance(params, InterconnectParams):
            _check_interconnect(params, where, [n for n, d in devices.items() if d.kind == "interconnect"])
        description = _get(dtable, "description", Key(str, default=""), where)
        devices[dname] = Device(dname, kind, memory, params, description)
    links: list[Link] = []
    raw_links = doc.get("links", [])
    if not isinstance(raw_links, list) or not all(isinstance(t, dict) for t in raw_links):
        raise SystemConfigError(f"{source}: links: expected [[links]] tables")
    for i, ltable in enumerate(raw_links):
        where = f"{source}: links[{i}]"
        _check_unknown(ltable, _LINK_KEYS, where, "a link")
        between = ltable.get("between")
        if not (
            isinstance(between, list)
            and len(between) == 2
            and all(isinstance(b, str) and b in memories for b in between)
        ):
            raise SystemConfigError(f"{where}.between: expected two memory names out of {sorted(memories)}")
        links.append(
            Link(
                between[0],
                between[1],
                _get(ltable, "bandwidth_gbps", _RATE, where),
                _get(ltable, "latency_ns", Key(float, default=0.0, minimum=0.0, maximum=1e12), where),
                _get(ltable, "energy_pj_per_bit", Key(float, default=0.0, minimum=0.0, maximum=1e6), where),
            )
        )
    description = doc.get("description", "")
    return System(name, str(description), devices, memories, tuple(links), source)


def preset_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml")
        for p in resources.files("pimc.targets").joinpath("presets").iterdir()
        if p.name.endswith(".toml")
    )


def _read_spec(spec: str) -> tuple[str, str]:
    """(TOML text, source) of a preset name or a TOML file path."""
    if spec in preset_names():
        return resources.files("pimc.targets").joinpath("presets", f"{spec}.toml").read_text(), f"{spec}.toml"
    path = Path(spec)
    if not path.is_file():
        raise SystemConfigError(f"system {spec!r}: neither a preset ({', '.join(preset_names())}) nor a TOML file")
    try:
        return path.read_text(), str(path)
    except (OSError, UnicodeDecodeError) as e:
        raise SystemConfigError(f"{path}: cannot read system file: {e}") from None


def _document(spec: str) -> tuple[dict[str, Any], str]:
    """The TOML document of a preset name or a TOML file path, and its source."""
    text, source = _read_spec(spec)
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as e:
        raise SystemConfigError(f"{source}: invalid TOML: {e}") from None


@cache
def load_system(spec: str) -> System:
    """Load a preset by name (see `pimc systems`) or a TOML file by path."""
    return parse_system(*_document(spec))


def system_record(spec: str) -> str:
    """The description `system_for_module` records for a loadable `spec`: its document with every device table
    merged with its device preset (so the record needs no file), and its source, as JSON."""
    doc, source = _document(spec)
    devices = doc.get("devices", {})
    doc["devices"] = {name: _with_device_preset(table, name) for name, table in devices.items()}
    return json.dumps({"source": source, "doc": doc})


@cache
def _system_from_record(record: str) -> System:
    data = json.loads(record)
    return parse_system(data["doc"], data["source"])


def describe_system(system: System) -> str:
    """The full description `pimc systems NAME` prints: memories, links, every device's parameters and derived rates."""
    from pimc.targets.models.cost import device_summary

    out = [f"{system.name}: {system.description}", f"  source: {system.source}", "  memories:"]
    for m in system.memories.values():
        users = [d.name for d in system.compute_devices() if d.memory == m.name]
        shared = ""
        if len(users) > 1:
            shared = f", unified memory of {', '.join(users)}"
            if any(system.devices[u].kind == "pim" for u in users):
                shared += f", PIM sharing {m.pim_sharing}"
        tech = f"{m.technology}, " if m.technology else ""
        out.append(
            f"    {m.name}: {tech}{m.capacity_gb:g} GB, {m.bandwidth_gbps:g} GB/s, "
            f"{m.energy_pj_per_bit:g} pJ/bit{shared}"
        )
    if system.links:
        out.append("  links:")
        for link in system.links:
            out.append(
                f"    {link.a} <-> {link.b}: {link.bandwidth_gbps:g} GB/s, {link.latency_ns:g} ns, "
                f"{link.energy_pj_per_bit:g} pJ/bit"
            )
    out.append("  devices:")
    for d in system.devices.values():
        desc = f" - {d.description}" if d.description else ""
        out.append(f"    {d.name} ({d.kind}, memory {d.memory}){desc}")
        out.append(f"      {device_summary(d, system)}")
        params = ", ".join(
            f"{key} = {_fmt(getattr(d.params, name))}" for key, (name, _) in param_keys(type(d.params)).items()
        )
        out.append(f"      {params}")
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {x:g}" for k, x in v.items()) + "}"
    if isinstance(v, tuple):
        return "[" + ", ".join(v) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v).lower() if isinstance(v, bool) else str(v)


SYSTEM_ATTR = "pimc.system"
"""Module attribute naming the system (preset or TOML path) the IR was costed for."""


SYSTEM_RECORD_ATTR = "pimc.system_description"
"""The whole system description a module was costed for (JSON: the TOML document with device presets merged,
and its source), so that every later pass and output reads the system from the IR, not from a file."""


def system_for_module(module: Any, spec: str | None, *, recost: bool = False) -> System:
    """The system a pass works for: the description recorded on the module (`pimc.system_description`), else the
    one `spec` (the pass's option) or the module's `pimc.system` names, else the default; recorded on the module
    when it has none. `recost` (annotate-cost) loads `spec` afresh and records it; any other pass whose `spec`
    names another system than the module's is an error (the costs would be for the other one)."""
    from xdsl.dialects.builtin import StringAttr

    from pimc.errors import CompileError

    named = module.attributes.get(SYSTEM_ATTR)
    record = module.attributes.get(SYSTEM_RECORD_ATTR)
    if not recost and isinstance(record, StringAttr):
        if spec is not None and isinstance(named, StringAttr) and spec != named.data:
            raise CompileError(
                f"system={spec}: the module was costed for system '{named.data}' "
                "(run annotate-cost{system=...} to cost it for another)"
            )
        return _system_from_record(record.data)
    if spec is None:
        spec = named.data if isinstance(named, StringAttr) else DEFAULT_SYSTEM
    system = load_system(spec)
    module.attributes[SYSTEM_ATTR] = StringAttr(spec)
    module.attributes[SYSTEM_RECORD_ATTR] = StringAttr(system_record(spec))
    return system


def recorded_system(module: Any) -> System:
    """The system a compiled module was costed for, read from the module alone (outputs use this)."""
    from xdsl.dialects.builtin import StringAttr

    from pimc.errors import CompileError

    record = module.attributes.get(SYSTEM_RECORD_ATTR)
    if not isinstance(record, StringAttr):
        raise CompileError("the module has no `pimc.system_description`: run annotate-cost first")
    try:
        return _system_from_record(record.data)
    except (ValueError, KeyError, TypeError) as e:
        raise CompileError(f"the module's `pimc.system_description` is not a system description: {e}") from None
