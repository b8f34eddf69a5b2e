"""System descriptions: devices, memories and links, read from TOML and validated.

A system is data, not code. Each `[devices.<name>]` table describes one compute
device; each device reads and writes one `[memories.<name>]`; `[[links]]` join
memories. Every rate is stored in units that make `ns` the natural time unit:
GFLOP/s = FLOP per ns, GB/s = bytes per ns.

Device kinds and the keys they take (all required unless a default is given):

- npu: `memory`, `array_rows`, `array_cols`, `cores`, `clock_ghz`, `vector_lanes`
  (vector-unit FLOPs per cycle per core). Peak matrix rate = 2 * rows * cols *
  cores * clock_ghz GFLOP/s (one MAC = 2 FLOPs per PE per cycle).
- gpu: `memory`, `peak_tflops` (dense, data-sheet), `vector_tflops` (non-tensor-core rate).
- pim: `memory`, `isa` ("aim"), `channels`, `banks_per_channel`, `row_bytes`,
  `column_bytes`, `rows_per_bank`, `mac_lanes` (MACs per bank per MAC command),
  `tck_ns`, `mac_interval_cycles`. Peak = 2 * channels * banks * lanes /
  (mac_interval_cycles * tck_ns) GFLOP/s; internal bandwidth = channels * banks
  * column_bytes / (mac_interval_cycles * tck_ns) GB/s (each bank streams one
  column per MAC interval).

Memories: `capacity_gb`, `bandwidth_gbps`. Links: `between = [mem_a, mem_b]`,
`bandwidth_gbps`, `latency_ns`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pimc.compiler.errors import SystemConfigError

DEFAULT_SYSTEM = "npu-aim"


@dataclass(frozen=True)
class Memory:
    name: str
    capacity_gb: float
    bandwidth_gbps: float


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    bandwidth_gbps: float
    latency_ns: float


@dataclass(frozen=True)
class Device:
    """One compute device. `params` holds its kind-specific keys, validated on load."""

    name: str
    kind: str
    memory: str
    params: dict[str, Any] = field(default_factory=dict)

    def p(self, key: str) -> Any:
        return self.params[key]


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

    def link_between(self, mem_a: str, mem_b: str) -> Link:
        for link in self.links:
            if {link.a, link.b} == {mem_a, mem_b}:
                return link
        raise SystemConfigError(f"{self.source}: no [[links]] entry joins memories '{mem_a}' and '{mem_b}'")


_KIND_KEYS: dict[str, dict[str, type]] = {
    "npu": {
        "array_rows": int,
        "array_cols": int,
        "cores": int,
        "clock_ghz": float,
        "vector_lanes": int,
    },
    "gpu": {"peak_tflops": float, "vector_tflops": float},
    "pim": {
        "isa": str,
        "channels": int,
        "banks_per_channel": int,
        "row_bytes": int,
        "column_bytes": int,
        "rows_per_bank": int,
        "mac_lanes": int,
        "tck_ns": float,
        "mac_interval_cycles": int,
    },
}
_PIM_ISAS = ("aim",)


def _get(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise SystemConfigError(f"{where}.{key}: missing")
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SystemConfigError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    if kind in (int, float) and value <= 0:
        raise SystemConfigError(f"{where}.{key}: must be positive, got {value!r}")
    return value


AIM_LIMITS = {"channels": 32, "banks_per_channel": 16, "columns_per_row": 64, "column_bytes": 32}
"""What the AiM ISR can address: a 32-bit channel mask, 16 banks, opsize up to one 2 KB row of 32 B columns."""


def _check_pim_isa(params: dict[str, Any], where: str) -> None:
    if params["isa"] not in _PIM_ISAS:
        raise SystemConfigError(f"{where}.isa: unsupported PIM ISA {params['isa']!r} (expected one of {_PIM_ISAS})")
    if params["channels"] > AIM_LIMITS["channels"]:
        raise SystemConfigError(f"{where}.channels: AiM addresses at most {AIM_LIMITS['channels']} channels")
    if params["banks_per_channel"] > AIM_LIMITS["banks_per_channel"]:
        raise SystemConfigError(f"{where}.banks_per_channel: AiM has at most {AIM_LIMITS['banks_per_channel']} banks")
    if params["column_bytes"] != AIM_LIMITS["column_bytes"]:
        raise SystemConfigError(f"{where}.column_bytes: AiM columns are {AIM_LIMITS['column_bytes']} bytes")
    columns, rest = divmod(params["row_bytes"], params["column_bytes"])
    if rest or not 1 <= columns <= AIM_LIMITS["columns_per_row"]:
        raise SystemConfigError(
            f"{where}.row_bytes: must be 1..{AIM_LIMITS['columns_per_row']} whole {params['column_bytes']}-byte columns"
        )


def _table(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict) or not value:
        raise SystemConfigError(f"{where}: missing or empty [{key}] table")
    return value


def parse_system(doc: dict[str, Any], source: str) -> System:
    """Validate a parsed TOML document; every error names the offending key."""
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SystemConfigError(f"{source}: name: missing (a string naming the system)")
    memories: dict[str, Memory] = {}
    for mname, mtable in _table(doc, "memories", source).items():
        where = f"{source}: memories.{mname}"
        if not isinstance(mtable, dict):
            raise SystemConfigError(f"{where}: expected a table")
        memories[mname] = Memory(
            mname, _get(mtable, "capacity_gb", float, where), _get(mtable, "bandwidth_gbps", float, where)
        )
    devices: dict[str, Device] = {}
    for dname, dtable in _table(doc, "devices", source).items():
        where = f"{source}: devices.{dname}"
        if not isinstance(dtable, dict):
            raise SystemConfigError(f"{where}: expected a table")
        kind = _get(dtable, "kind", str, where)
        if kind not in _KIND_KEYS:
            raise SystemConfigError(f"{where}.kind: unknown device kind {kind!r} (expected one of {sorted(_KIND_KEYS)})")
        memory = _get(dtable, "memory", str, where)
        if memory not in memories:
            raise SystemConfigError(f"{where}.memory: no memory named {memory!r} (have {sorted(memories)})")
        params = {key: _get(dtable, key, t, where) for key, t in _KIND_KEYS[kind].items()}
        unknown = set(dtable) - set(_KIND_KEYS[kind]) - {"kind", "memory", "description"}
        if unknown:
            raise SystemConfigError(f"{where}.{sorted(unknown)[0]}: unknown key for a {kind} device")
        if kind == "pim":
            _check_pim_isa(params, where)
        devices[dname] = Device(dname, kind, memory, params)
    links: list[Link] = []
    raw_links = doc.get("links", [])
    if not isinstance(raw_links, list) or not all(isinstance(t, dict) for t in raw_links):
        raise SystemConfigError(f"{source}: links: expected [[links]] tables")
    for i, ltable in enumerate(raw_links):
        where = f"{source}: links[{i}]"
        between = ltable.get("between")
        if not (
            isinstance(between, list) and len(between) == 2 and all(isinstance(b, str) and b in memories for b in between)
        ):
            raise SystemConfigError(f"{where}.between: expected two memory names out of {sorted(memories)}")
        latency = ltable.get("latency_ns", 0.0)
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0:
            raise SystemConfigError(f"{where}.latency_ns: expected a non-negative number, got {latency!r}")
        links.append(Link(between[0], between[1], _get(ltable, "bandwidth_gbps", float, where), float(latency)))
    description = doc.get("description", "")
    return System(name, str(description), devices, memories, tuple(links), source)


def preset_names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files("pimc.targets").joinpath("presets").iterdir()
                  if p.name.endswith(".toml"))


@cache
def load_system(spec: str) -> System:
    """Load a preset by name (see `pimc systems`) or a TOML file by path."""
    if spec in preset_names():
        text = resources.files("pimc.targets").joinpath("presets", f"{spec}.toml").read_text()
        source = f"{spec}.toml"
    else:
        path = Path(spec)
        if not path.is_file():
            raise SystemConfigError(f"system {spec!r}: neither a preset ({', '.join(preset_names())}) nor a TOML file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise SystemConfigError(f"{path}: cannot read system file: {e}") from None
        source = str(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SystemConfigError(f"{source}: invalid TOML: {e}") from None
    return parse_system(doc, source)


SYSTEM_ATTR = "pimc.system"
"""Module attribute naming the system (preset or TOML path) the IR was costed for."""


def system_for_module(module: Any, spec: str | None) -> System:
    """The system a pass works for: its own option, else the module's `pimc.system`, else the default.

    The chosen spec is recorded on the module so later passes of a pipeline agree.
    """
    from xdsl.dialects.builtin import StringAttr

    if spec is None:
        attr = module.attributes.get(SYSTEM_ATTR)
        spec = attr.data if isinstance(attr, StringAttr) else DEFAULT_SYSTEM
    system = load_system(spec)
    module.attributes[SYSTEM_ATTR] = StringAttr(spec)
    return system
