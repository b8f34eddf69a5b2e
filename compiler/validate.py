"""`pimc validate`: run the emitted PIM traces in the real simulators and compare them with pimc's timing.

A model is compiled as `pimc compile` would; then for every PIM device with a
simulator (AiM ISA: the AiM trace simulator, arkhadem/aim_simulator; AttAcc ISA:
AttAcc's Ramulator 2, scale-snu/attacc_simulator) the device's trace is run whole,
and split at op boundaries: each macro's commands alone, as a trace of their own
(an AiM trace ends with `AiM EOC`; an AttAcc device writes one file per HBM3 stack
and an op takes as long as its slowest stack). Macros whose command streams are
equal but for a constant row offset (`pim.stream_signature`: Llama-2-7B's 32
layers run GEMVs of four shapes) are simulated once: a macro's rows are opened
and closed within it, so the offset changes no timing.

What is compared. A simulator counts cycles of the device's command clock (the
clocks the timing presets' parameters are counted in; `tck_ns` of the device, see
docs/validate.md for why each simulator's cycle is that clock), so simulator ns =
cycles x tck_ns. pimc's side is the op's command stream timed by pimc's model
(`pim_timing.stream_counts`, which the report's figure equals): refresh-free when
the simulator issues no refresh (`Simulator.refreshes`, AiM). AttAcc's simulator
refreshes every tREFI from the trace's start, so pimc's side there is its controller
model with that same refresh schedule (targets/models/attacc_timing.py), per op and
for the whole trace (whose channels run on without waiting for each other); the
report keeps the average refresh stretch, which is what a long run sees. The
report's own figure is printed beside it. error = pimc / simulator - 1.

The simulators are not part of pimc: each is a command `SIM TRACE [MODE] LOG` that
prints `memory_system_cycles N` (the form of the wrappers docs/validate.md shows how
to build), named by `--aim-sim` / `--attacc-sim` or PIMC_AIM_SIM / PIMC_ATTACC_SIM.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pimc.dialects import nn, pim
from pimc.dialects.place import device_of
from pimc.errors import PimcError
from pimc.targets.system import Device, System


@dataclass(frozen=True)
class Simulator:
    """A PIM simulator pimc's traces of one ISA run in."""

    isa: str
    label: str
    option: str
    env: str
    refreshes: bool
    """Whether the simulator issues refresh (if not, pimc's refresh-free cycles are compared)."""
    modes: tuple[str, ...] = ()
    """Timing modes the command takes after the trace (AttAcc: npc, pc); the first is the default."""


SIMULATORS = {
    "aim": Simulator("aim", "AiM", "--aim-sim", "PIMC_AIM_SIM", refreshes=False),
    "attacc": Simulator("attacc", "AttAcc", "--attacc-sim", "PIMC_ATTACC_SIM", refreshes=True, modes=("npc", "pc")),
}
"""The simulators by ISA. AiM: aim_simulator's all-bank refresh (src/dram_controller/impl/refresh/
all_bank_refresh.cpp) walks a rank level that its GDDR6 organisation lacks, so it issues no REFab. AttAcc: the
AllBankHBM3 refresh manager (pim_ramulator_src/all_bank_refresh_hbm3.cpp) refreshes every nREFI."""

_CYCLES = re.compile(r"memory_system_cycles:?\s*(\d+)")


class SimulatorError(PimcError):
    """A simulator is not given, does not start, fails, or prints no cycle count."""


def relative_error(pimc: float, sim: int) -> float:
    """pimc / simulator - 1 (infinite when the simulator took no cycles)."""
    return pimc / sim - 1 if sim else float("inf")


@dataclass
class OpRow:
    """One PIM op: what pimc says and what the simulator measured."""

    name: str
    phase: str
    device: str
    kind: str
    report_ns: float
    pimc_cycles: float
    sim_cycles: int = 0
    tck_ns: float = 1.0

    @property
    def pimc_ns(self) -> float:
        return self.pimc_cycles * self.tck_ns

    @property
    def sim_ns(self) -> float:
        return self.sim_cycles * self.tck_ns

    @property
    def error(self) -> float:
        return relative_error(self.pimc_cycles, self.sim_cycles)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "device": self.device,
            "op": self.kind,
            "report_ns": self.report_ns,
            "pimc_ns": self.pimc_ns,
            "simulator_cycles": self.sim_cycles,
            "simulator_ns": self.sim_ns,
            "error": self.error,
        }


@dataclass
class DeviceTotal:
    """A device's whole trace: the sum of pimc's op times against one simulator run of the whole trace."""

    device: str
    simulator: str
    mode: str
    tck_ns: float
    pimc_cycles: float
    sim_cycles: int
    ops: int

    @property
    def error(self) -> float:
        return relative_error(self.pimc_cycles, self.sim_cycles)

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "simulator": self.simulator,
            "mode": self.mode,
            "ops": self.ops,
            "pimc_ns": self.pimc_cycles * self.tck_ns,
            "simulator_cycles": self.sim_cycles,
            "simulator_ns": self.sim_cycles * self.tck_ns,
            "error": self.error,
        }


@dataclass
class Validation:
    model: str
    system: str
    simulators: dict[str, dict[str, Any]]
    rows: list[OpRow] = field(default_factory=list)
    totals: list[DeviceTotal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def max_abs_error(self) -> float:
        errors = [abs(r.error) for r in self.rows] + [abs(t.error) for t in self.totals]
        return max(errors, default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "system": self.system,
            "simulators": self.simulators,
            "error": "pimc / simulator - 1",
            "ops": [r.as_dict() for r in self.rows],
            "totals": [t.as_dict() for t in self.totals],
            "skipped": self.skipped,
            "max_abs_error": self.max_abs_error,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"


def resolve_simulator(sim: Simulator, given: str | None) -> str:
    """The simulator command: `given`, else the environment variable; a SimulatorError naming the option and the
    variable when neither is set, or when the file is not an executable."""
    path = given or os.environ.get(sim.env)
    if not path:
        raise SimulatorError(
            f"no {sim.label} simulator: give {sim.option} PATH or set {sim.env} "
            "(a command `SIM TRACE ... LOG` printing memory_system_cycles; docs/validate.md)"
        )
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise SimulatorError(f"the {sim.label} simulator '{path}' is not an executable file")
    return path


def run_simulator(sim: Simulator, command: str, trace: Path, mode: str | None) -> int:
    """Cycles the simulator reports for one trace file; a SimulatorError naming it and the trace when it fails."""
    log = trace.with_suffix(trace.suffix + ".log")
    args = [command, str(trace), *([mode] if mode else []), str(log)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    except OSError as e:
        raise SimulatorError(f"the {sim.label} simulator '{command}' does not start: {e.strerror}") from e
    out = done.stdout + "\n" + (log.read_text(errors="replace") if log.exists() else "")
    found = _CYCLES.search(out)
    if done.returncode != 0 or found is None:
        last = [ln for ln in (done.stderr + "\n" + out).splitlines() if ln.strip()]
        why = f"exit status {done.returncode}" if done.returncode else "no memory_system_cycles line"
        raise SimulatorError(
            f"the {sim.label} simulator '{command}' failed on {trace.name} ({why})"
            + (f": {last[-1].strip()[:200]}" if last else "")
        )
    return int(found.group(1))


def _macro_kind(op: pim.GemvOp | pim.AttentionOp) -> str:
    if isinstance(op, pim.GemvOp):
        m, k, n = op.mkn()
        return f"gemv M={m} K={k} N={n}"
    b, hq, hkv, s, t, d, _ = op.dims()
    return f"attention B={b} Hq={hq} Hkv={hkv} S={s} T={t} D={d}"


def _pimc_cycles(ops: Sequence[pim.GemvOp | pim.AttentionOp], dev: Device, refresh: bool) -> float:
    """The ops' command streams, one after another, timed by pimc's model as the simulator runs them: on
    AttAcc the controller model with the simulator's refresh schedule from the trace's start when
    `refresh` (attacc_timing); elsewhere the cycles, stretched by the average refresh when `refresh`."""
    from pimc.targets.models import attacc_timing
    from pimc.targets.models.pim_timing import block_commands, stream_counts

    commands = [c for op in ops for c in block_commands(op.commands.block)]
    if dev.pim.isa == "attacc":
        return float(attacc_timing.stream_cycles(commands, dev, refresh))
    counts = stream_counts(commands, dev)
    return counts.time_ns(dev) / dev.pim.tck_ns if refresh else float(counts.cycles)


def _device_traces(
    module: Any, model: str, system: System, device: str, ops: Sequence[pim.GemvOp | pim.AttentionOp] | None
) -> list[str]:
    """The trace files (one, or one per HBM3 stack) of `device`'s macros `ops` (default all)."""
    dev = system.devices[device]
    if dev.pim.isa == "aim":
        from pimc.targets.emit.aim_trace import emit_aim_trace

        return [emit_aim_trace(module, model, system.name, device, ops=ops)]
    from pimc.targets.emit.attacc_trace import emit_attacc_traces

    return [t for t in emit_attacc_traces(module, device, dev, ops=ops) if t.strip()]


def validate_module(
    module: Any,
    model: str,
    system: System,
    simulators: dict[str, str | None],
    attacc_mode: str = "npc",
    workdir: Path | None = None,
    jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Validation:
    """Validate a compiled module's PIM traces (module docstring). `simulators` maps an ISA to the simulator
    command given on the command line (None: its environment variable). Devices of ISAs without a simulator
    are listed in `skipped`."""
    say = progress or (lambda text: None)
    macros_by_device: dict[str, list[pim.GemvOp | pim.AttentionOp]] = {}
    for op in pim.macros(module):
        d = device_of(op)
        if d is not None and op.commands.blocks and op.commands.block.first_op is not None:  # not an idle expert's
            macros_by_device.setdefault(d, []).append(op)
    result = Validation(model, system.name, {})
    # every simulator needed is resolved before any is run: a missing one is named at once
    commands: dict[str, str] = {}
    for device in macros_by_device:
        isa = system.devices[device].pim.isa
        sim = SIMULATORS.get(isa)
        if sim is None:
            result.skipped.append(f"device '{device}': no simulator for isa {isa}")
        elif isa not in commands:
            commands[isa] = resolve_simulator(sim, simulators.get(isa))
    for isa, command in commands.items():
        sim = SIMULATORS[isa]
        result.simulators[isa] = {
            "command": command,
            "mode": attacc_mode if sim.modes else None,
            "refresh": sim.refreshes,
        }
    if not macros_by_device:
        result.skipped.append("no PIM op has a command stream")
    with tempfile.TemporaryDirectory(prefix="pimc-validate-", dir=workdir) as tmp:
        root = Path(tmp)
        runs: list[tuple[Simulator, str, Path, str | None]] = []  # jobs for the pool
        plan: list[tuple[OpRow | DeviceTotal, list[int]]] = []  # what each job's cycles feed (max over stacks)
        for device, ops in macros_by_device.items():
            dev = system.devices[device]
            sim = SIMULATORS.get(dev.pim.isa)
            if sim is None:
                continue
            mode = attacc_mode if sim.modes else None
            seen: dict[object, list[int]] = {}
            rows: list[OpRow] = []
            for op in ops:
                row = OpRow(
                    nn.op_label(op),
                    nn.phase_of(op) or "",
                    device,
                    _macro_kind(op),
                    _report_ns(op, device),
                    _pimc_cycles([op], dev, sim.refreshes),
                    tck_ns=dev.pim.tck_ns,
                )
                rows.append(row)
                key = pim.stream_signature(op.commands.block)[0]
                if key not in seen:
                    seen[key] = []
                    for i, text in enumerate(_device_traces(module, model, system, device, [op])):
                        path = root / f"{device}.op{len(runs)}.{i}.trace"
                        path.write_text(text)
                        seen[key].append(len(runs))
                        runs.append((sim, commands[sim.isa], path, mode))
                plan.append((row, seen[key]))
            whole: list[int] = []
            for i, text in enumerate(_device_traces(module, model, system, device, None)):
                path = root / f"{device}.whole.{i}.trace"
                path.write_text(text)
                whole.append(len(runs))
                runs.append((sim, commands[sim.isa], path, mode))
            whole_cycles = (
                _pimc_cycles(ops, dev, sim.refreshes) if dev.pim.isa == "attacc" else sum(r.pimc_cycles for r in rows)
            )
            total = DeviceTotal(device, sim.label, mode or "", dev.pim.tck_ns, whole_cycles, 0, len(rows))
            plan.append((total, whole))
            result.rows += rows
            result.totals.append(total)
        say(f"simulating {len(runs)} trace(s)")
        with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
            cycles = list(pool.map(lambda job: run_simulator(*job), runs))
        for target, indices in plan:
            target.sim_cycles = max(cycles[i] for i in indices)
    return result


def _report_ns(op: pim.GemvOp | pim.AttentionOp, device: str) -> float:
    """The latency the report gives the op on its device (annotate-cost's figure)."""
    from pimc.targets.annotations import op_cost

    return op_cost(op)[0].get(device, 0.0)


def format_validation(result: Validation) -> str:
    """The table `pimc validate` prints: one line per op, then each device's whole trace."""
    lines = [f"pimc validate: {result.model} on {result.system} (error = pimc / simulator - 1)"]
    for isa, info in result.simulators.items():
        sim = SIMULATORS[isa]
        refresh = "refresh modelled by both" if sim.refreshes else "the simulator issues no refresh: pimc without it"
        mode = f", mode {info['mode']}" if info["mode"] else ""
        lines.append(f"  {sim.label} simulator: {info['command']}{mode} ({refresh})")
    header = f"{'op':<28} {'phase':<8} {'kind':<36} {'report ns':>11} {'pimc ns':>11} {'sim ns':>11} {'error':>8}"
    lines += ["", header, "-" * len(header)]
    for r in result.rows:
        lines.append(
            f"{r.name[:28]:<28} {r.phase[:8]:<8} {r.kind[:36]:<36} {r.report_ns:>11.1f} {r.pimc_ns:>11.1f} "
            f"{r.sim_ns:>11.1f} {100 * r.error:>+7.1f}%"
        )
    lines.append("-" * len(header))
    for t in result.totals:
        name = f"whole trace ({t.device})"
        lines.append(
            f"{name[:28]:<28} {'':<8} {f'{t.ops} ops':<36} {'':>11} {t.pimc_cycles * t.tck_ns:>11.1f} "
            f"{t.sim_cycles * t.tck_ns:>11.1f} {100 * t.error:>+7.1f}%"
        )
    for s in result.skipped:
        lines.append(f"skipped: {s}")
    lines.append(f"max |error| {100 * result.max_abs_error:.1f}% over {len(result.rows)} ops")
    return "\n".join(lines)
