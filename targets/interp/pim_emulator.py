"""A functional emulator of AiM command streams: the banks as numpy arrays, the real weights in them.

Two sets of xDSL interpreter functions (`xdsl.interpreter.InterpreterFunctions`),
which compose with the reference interpreter's (targets/interp/reference.py) on one
interpreter. `PimFunctions` runs each PIM macro (`pim.gemv`, `pim.attention`):
it writes the macro's matrices into `BankImage`, a sparse model of its device's
DRAM, sets up the host side and an `AimMachine`, and interprets the commands
convert-pim-to-aim put in the macro's region. `AimFunctions` executes those: one
`@impl` per AiM ISR command op, and the `pim.repeat` loops that compress the
stream. `pimc run` uses them for every PIM-placed op and the numpy reference for
the rest, then compares the whole model with onnxruntime. `emulate_gemv` and
`emulate_attention` run one macro on given operands.

Data layout (what `pim-layout`, i.e. the `layout` attributes lower-to-pim sets,
means for the data; `place_matrix`). A K x N matrix with geometry (C channels,
B banks, k_tile, outputs per row R) from channel c0 and row r0: output n is in
pass p = n // (C * B * R); within the pass, output j (of the pass's `outputs`,
which run on `a` channels with `o` outputs per bank, pim_timing.GemvGeometry.
pass_shape) sits in bank unit u = j // o (channel c0 + u // B, bank u % B), slot
s = j % o. Its K elements lie in rows r0 + p * ceil(K / k_tile) + t, tile t
holding elements t * k_tile ..; slot s starts at column s * ceil(K * 2 B /
column_bytes) of its row. Elements past K are zero. A weight is written once at
its rows; an attention's K cache (head h's keys as a D x T matrix, in the rows and
channel group `head_slot` gives it) and V cache (T x Dv) are written from the
op's operands before the macro runs, as the runtime's KV writes would.

Command semantics (AiM ISR, one input vector per command; arkhadem/aim_simulator src/base/request.h):

    WR_GB opsize gpr mask   the global buffer of every masked channel takes opsize
                            columns (16 FP16 values each) from the host's GPR
    WR_BIAS gpr mask        each bank's accumulator of the masked channels is set
                            from the GPR (the bias of the output it computes next)
    MAC_ABK opsize mask row every bank of the masked channels multiplies the first
                            opsize columns of `row` element-wise with the global
                            buffer and adds the products to its accumulator
    RD_MAC gpr mask         the host reads every masked bank's accumulator, which
                            restarts from zero (a pass without WR_BIAS relies on it)
    SYNC, EOC               no data effect

Arithmetic. Weights, inputs and biases are FP16 in the banks, the global buffer
and the GPRs (rounded to nearest even on the way in). Each MAC lane multiplies two
FP16 values exactly (the product fits FP32) and the adder tree and the accumulator
are FP32; RD_MAC rounds the accumulator to FP16. So a K-long dot product carries
FP32 accumulation error (~K * 2^-24 relative) plus one FP16 rounding (2^-11
relative) of the result, on top of the FP16 rounding of its operands. numpy's
summation order within a command differs from a hardware adder tree, within FP32
rounding.

The host. The trace leaves the host's data implicit (GPR 0 is staged before each
write and drained after each read); the emulator's host derives it from the
stream and the layout, as a driver program would, reading the whole stream ahead
(decoded, loops unrolled, before its first command runs): a WR_GB (or WR_BIAS)
serves the next MAC_ABK in the stream, whose row and channels identify the
matrix, the pass and the row tile, so the host writes that tile of its current
input vector (or the pass's biases); an RD_MAC returns the outputs of the pass
its last MAC_ABK read, and the last pass's RD_MAC moves the matrix on to its next
input vector. An attention head's score matrix takes the head's query rows and
yields its score rows; the host turns each into probabilities (scale, mask and
softmax in FP32, as targets/interp/reference.py does them: AiM has no softmax unit) that
feed the head's context matrix. A stream that reads a row no matrix of the macro
owns, leaves an output uncomputed, or does not consume every input vector raises
EmulatorError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.ir import Operation

from pimc.dialects import aim, nn, pim
from pimc.dialects.pim import PIM_ELEMENT_BYTES, PimCommand, ceil_div
from pimc.errors import PimcError
from pimc.targets.interp.reference import attention_probabilities, check_results
from pimc.targets.models.pim_timing import GemvGeometry, block_commands, head_slot, layout_geometry, mask_channels
from pimc.targets.system import Device

FP16 = np.float16
ACC = np.float32


class EmulatorError(PimcError):
    """A command stream does not compute its macro (or cannot be executed)."""


@dataclass
class BankImage:
    """The DRAM of one PIM device: rows allocated on first touch, each [channels, banks, row elements] FP16 (zeros)."""

    channels: int
    banks: int
    row_elements: int
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    placed: dict[tuple[int, int, str], int] = field(default_factory=dict)
    """Weights already written: (row_base, first channel, weight key) -> id of the array written."""

    @classmethod
    def for_device(cls, dev: Device) -> BankImage:
        return cls(dev.pim.channels, dev.pim.banks_per_channel, dev.pim.row_bytes // PIM_ELEMENT_BYTES)

    def row(self, r: int) -> np.ndarray:
        arr = self.rows.get(r)
        if arr is None:
            arr = self.rows[r] = np.zeros((self.channels, self.banks, self.row_elements), FP16)
        return arr


def _slot_columns(k: int, column_bytes: int) -> int:
    """Elements between the starts of two outputs packed in one row (their K vectors, column aligned)."""
    return ceil_div(k * PIM_ELEMENT_BYTES, column_bytes) * (column_bytes // PIM_ELEMENT_BYTES)


def place_matrix(
    image: BankImage, w: np.ndarray, geo: GemvGeometry, row_base: int, first_channel: int, column_bytes: int
) -> None:
    """Write a K x N matrix into the banks as the layout places it (module docstring)."""
    k, n = w.shape
    k_tiles = geo.k_tiles(k)
    stride = _slot_columns(k, column_bytes)
    w16 = w.astype(FP16)
    for p, (n0, count, a, o) in enumerate(geo.pass_outputs(n)):
        block = np.zeros((k, a * geo.banks * o), FP16)
        block[:, :count] = w16[:, n0 : n0 + count]
        block = block.reshape(k, a, geo.banks, o)
        for t in range(k_tiles):
            k0, k1 = t * geo.k_tile, min(k, (t + 1) * geo.k_tile)
            row = image.row(row_base + p * k_tiles + t)
            for s in range(o):
                row[first_channel : first_channel + a, :, s * stride : s * stride + k1 - k0] = np.moveaxis(
                    block[k0:k1, :, :, s], 0, -1
                )


@dataclass
class Matrix:
    """One matrix a macro's stream reads, as its host sees it."""

    name: str
    k: int
    n: int
    geo: GemvGeometry
    row_base: int
    first_channel: int
    vectors: int
    """Input vectors the stream must multiply with it."""
    input_of: Callable[[int], np.ndarray]
    """Input vector i (K values)."""
    output_to: Callable[[int, np.ndarray], None]
    """Receives input vector i's N results."""
    bias: np.ndarray | None = None
    current: int = 0
    """The input vector the host is working on."""
    done: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    results: np.ndarray = field(default_factory=lambda: np.zeros(0, FP16))
    passes: list[tuple[int, int, int, int]] = field(default_factory=list)
    """GemvGeometry.pass_outputs of the matrix."""

    def __post_init__(self) -> None:
        self.passes = list(self.geo.pass_outputs(self.n))

    def owns(self, row: int, span: tuple[int, int] | None) -> bool:
        """Whether a MAC_ABK of `row` on the channels `span` (first, count; None for a scattered mask, which
        covers no matrix's channel group) reads this matrix."""
        if span is None:
            return False
        first, channels = span
        return (
            self.row_base <= row < self.row_base + self.geo.rows(self.k, self.n)
            and self.first_channel <= first
            and first + channels <= self.first_channel + self.geo.channels
        )

    def locate(self, row: int) -> tuple[int, int]:
        """(pass, row tile) of one of the matrix's rows."""
        return divmod(row - self.row_base, self.geo.k_tiles(self.k))


class AimMachine:
    """The AiM device executing one macro's stream on a BankImage (module docstring): the global buffers and
    the accumulators, and the host side given by `matrices`, which reads the decoded stream `instrs` ahead."""

    def __init__(
        self, image: BankImage, dev: Device, label: str, instrs: Sequence[PimCommand], matrices: Sequence[Matrix]
    ):
        self.image, self.label, self.instrs, self.matrices = image, label, instrs, matrices
        self.column_elements = dev.pim.column_bytes // PIM_ELEMENT_BYTES
        gb_elements = dev.pim.global_buffer_bytes // PIM_ELEMENT_BYTES
        self.gb = np.zeros((image.channels, gb_elements), FP16)
        self.acc = np.zeros((image.channels, image.banks), ACC)
        self.index = 0
        """The stream position of the next command to execute."""
        self.last: tuple[Matrix, int, int] | None = None
        """(matrix, pass, row tile) the last MAC_ABK read."""
        self.channel_lists: dict[int, tuple[list[int], slice | list[int]]] = {}
        """Per channel mask: its channels, and them as an index of the channel axis (`step`)."""
        self.unit_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        """`_pass_units` by (channel mask, first channel of the matrix, outputs of the pass)."""
        # the matrix, pass and tile each MAC_ABK reads, and for every command the next MAC_ABK at or after it
        self.macs: list[tuple[Matrix, int, int] | None] = [None] * len(instrs)
        self.next_mac = [-1] * (len(instrs) + 1)
        spans: dict[int, tuple[int, int] | None] = {}
        for i in range(len(instrs) - 1, -1, -1):
            ins = instrs[i]
            self.next_mac[i] = self.next_mac[i + 1]
            if ins.kind == "MAC_ABK":
                if ins.channel_mask not in spans:
                    try:
                        spans[ins.channel_mask] = mask_channels(ins.channel_mask, "MAC_ABK")
                    except ValueError:
                        spans[ins.channel_mask] = None
                span = spans[ins.channel_mask]
                assert ins.row is not None, "a MAC_ABK opens a row"
                owner = next((m for m in matrices if m.owns(ins.row, span)), None)
                if owner is None:
                    raise self.fail(i, ins, "reads a row and channels that hold no matrix of this op")
                self.macs[i] = (owner, *owner.locate(ins.row))
                self.next_mac[i] = i
        for m in matrices:
            m.done, m.results = np.zeros(m.n, bool), np.zeros(m.n, FP16)

    def fail(self, index: int, instr: PimCommand, why: str) -> EmulatorError:
        return EmulatorError(f"op '{self.label}': command {index} ({aim.trace_line(instr)}): {why}")

    def step(self, op: aim.AimCommandOp) -> tuple[int, PimCommand, list[int], slice | list[int]]:
        """(stream position, command, masked channels, and the same as an index of the channel axis: a slice
        where they are contiguous) of `op`, the next command of the stream."""
        i = self.index
        ins = self.instrs[i]
        assert ins.kind == op.name.removeprefix("aim.").upper(), f"{op.name} executed as command {i} ({ins.kind})"
        self.index += 1
        found = self.channel_lists.get(ins.channel_mask)
        if found is None:
            listed = [c for c in range(self.image.channels) if ins.channel_mask >> c & 1]
            contiguous = bool(listed) and listed[-1] - listed[0] == len(listed) - 1
            found = self.channel_lists[ins.channel_mask] = (
                listed,
                slice(listed[0], listed[-1] + 1) if contiguous else listed,
            )
        channels, at = found
        return i, ins, channels, at

    def _served(self, i: int, ins: PimCommand) -> tuple[Matrix, int, int]:
        """(matrix, pass, row tile) of the MAC_ABK a WR_GB or WR_BIAS at stream position i feeds."""
        j = self.next_mac[i]
        if j < 0:
            raise self.fail(i, ins, "no MAC_ABK follows to use the data")
        served = self.macs[j]
        assert served is not None
        mat = served[0]
        if mat.current >= mat.vectors:
            raise self.fail(i, ins, f"matrix {mat.name} has no input vector {mat.current}")
        return served

    def write_gb(self, op: aim.WrGbOp) -> None:
        """WR_GB: the global buffers of the masked channels take `opsize` columns of the input vector's row
        tile the next MAC_ABK multiplies (FP16, zero past K)."""
        i, ins, _, at = self.step(op)
        mat, _, t = self._served(i, ins)
        x = mat.input_of(mat.current)
        k0 = t * mat.geo.k_tile
        chunk = np.zeros(ins.opsize * self.column_elements, FP16)
        part = x[k0 : min(mat.k, k0 + mat.geo.k_tile)].astype(FP16)[: chunk.size]
        chunk[: part.size] = part
        self.gb[at, : chunk.size] = chunk

    def write_bias(self, op: aim.WrBiasOp) -> None:
        """WR_BIAS: each masked bank's accumulator takes the FP16 bias of the output it computes in the pass
        the next MAC_ABK belongs to (0 without a bias)."""
        i, ins, channels, at = self.step(op)
        mat, p, _ = self._served(i, ins)
        self.acc[at] = self._pass_values(mat, p, mat.bias, ins.channel_mask, channels).astype(FP16).astype(ACC)

    def mac(self, op: aim.MacAbkOp) -> None:
        """MAC_ABK: every bank of the masked channels adds the FP32 dot product of the first `opsize` columns of
        `row` and the global buffer to its accumulator."""
        i, ins, _, at = self.step(op)
        self.last = self.macs[i]
        width = ins.opsize * self.column_elements
        assert ins.row is not None, "a MAC_ABK opens a row"
        rows = self.image.row(ins.row)[at, :, :width].astype(ACC)
        self.acc[at] += np.einsum("cbe,ce->cb", rows, self.gb[at, :width].astype(ACC))

    def read_mac(self, op: aim.RdMacOp) -> None:
        """RD_MAC: the host reads the masked banks' accumulators, rounded to FP16, as outputs of the pass the
        last MAC_ABK read; the accumulators restart from zero."""
        i, ins, channels, at = self.step(op)
        if self.last is None:
            raise self.fail(i, ins, "reads results before any MAC_ABK")
        mat, p, _ = self.last
        results = self.acc[at].astype(FP16)
        self.acc[at] = 0
        self._deliver(mat, p, channels, results, i, ins)

    def finish(self) -> None:
        """The end of the stream: an error unless every matrix was multiplied with all its input vectors."""
        assert self.index == len(self.instrs), f"{self.index} of {len(self.instrs)} commands executed"
        for m in self.matrices:
            if m.current != m.vectors:
                raise EmulatorError(
                    f"op '{self.label}': the stream multiplied {m.name} with {m.current} of its "
                    f"{m.vectors} input vectors"
                )

    def _units(self, mat: Matrix, p: int) -> tuple[int, int, int, int]:
        n0, count, a, o = mat.passes[p]
        if o != 1:
            raise EmulatorError(f"op '{self.label}': {mat.name} packs {o} outputs per row, which AiM cannot read")
        return n0, count, a, o

    def _pass_values(
        self, mat: Matrix, p: int, values: np.ndarray | None, mask: int, channels: list[int]
    ) -> np.ndarray:
        """Per (channel of `mask`, bank) the value of the output that bank computes in pass p (0 where none)."""
        n0, count, _, _ = self._units(mat, p)
        out = np.zeros((len(channels), self.image.banks), ACC)
        if values is None:
            return out
        outputs, holds = self._pass_units(mat, mask, channels, count)
        out[holds] = values[n0 + outputs]
        return out

    def _pass_units(self, mat: Matrix, mask: int, channels: list[int], count: int) -> tuple[np.ndarray, np.ndarray]:
        """Which (masked channel, bank) holds one of a pass's `count` outputs, and which output of the pass each
        of those holds: its bank unit in the matrix's channel group (module docstring). `channels` are the
        channels of `mask`."""
        key = (mask, mat.first_channel, count)
        found = self.unit_cache.get(key)
        if found is None:
            units = (np.asarray(channels, np.int64)[:, None] - mat.first_channel) * self.image.banks + np.arange(
                self.image.banks
            )
            holds = (units >= 0) & (units < count)
            found = self.unit_cache[key] = units[holds], holds
        return found

    def _deliver(self, mat: Matrix, p: int, channels: list[int], results: np.ndarray, i: int, ins: PimCommand) -> None:
        """Hand pass p's results to the matrix's host; after the last pass, its current input vector is done."""
        n0, count, a, _ = self._units(mat, p)
        got, filled = np.zeros(count, FP16), np.zeros(count, bool)
        outputs, holds = self._pass_units(mat, ins.channel_mask, channels, count)
        got[outputs], filled[outputs] = results[holds], True
        if not filled.all():
            raise self.fail(
                i,
                ins,
                f"pass {p} of {mat.name} has outputs on {a} channel(s) from channel "
                f"{mat.first_channel}; the read misses output {n0 + int(np.argmin(filled))}",
            )
        mat.results[n0 : n0 + count] = got
        mat.done[n0 : n0 + count] = True
        if p == len(mat.passes) - 1:
            if not mat.done.all():
                raise self.fail(
                    i,
                    ins,
                    f"{mat.name}: output {int(np.argmin(mat.done))} of input vector {mat.current} was never read",
                )
            mat.output_to(mat.current, mat.results.copy())
            mat.current += 1
            mat.done[:] = False


# -- the interpreter functions ------------------------------------------------------------------------

MACHINE = "machine"
"""The interpreter data key (of AimFunctions) of the AimMachine running the current macro's stream."""


def _machine(interpreter: Interpreter, op: Operation) -> AimMachine:
    machine = interpreter.get_data(AimFunctions, MACHINE, lambda: None)
    if not isinstance(machine, AimMachine):
        raise EmulatorError(f"{op.name} runs outside the command stream of a PIM macro")
    return machine


@register_impls
class AimFunctions(InterpreterFunctions):
    """The ops of an AiM command stream, executed on the AimMachine of the macro whose stream it is: one AiM
    ISR command per op (module docstring), and the `pim.repeat` loops."""

    @impl(pim.RepeatOp)
    def run_repeat(self, interpreter: Interpreter, op: pim.RepeatOp, args: PythonValues) -> PythonValues:
        """The body `count` times over; the rows and channel shifts of each iteration are in the decoded
        stream the machine follows."""
        for _ in range(op.count.value.data):
            interpreter.run_ssacfg_region(op.body, (), "pim.repeat")
        return ()

    @impl(aim.WrGbOp)
    def run_wr_gb(self, interpreter: Interpreter, op: aim.WrGbOp, args: PythonValues) -> PythonValues:
        """Input vector columns into the masked channels' global buffers (AimMachine.write_gb)."""
        _machine(interpreter, op).write_gb(op)
        return ()

    @impl(aim.WrBiasOp)
    def run_wr_bias(self, interpreter: Interpreter, op: aim.WrBiasOp, args: PythonValues) -> PythonValues:
        """Biases into the masked banks' accumulators (AimMachine.write_bias)."""
        _machine(interpreter, op).write_bias(op)
        return ()

    @impl(aim.MacAbkOp)
    def run_mac_abk(self, interpreter: Interpreter, op: aim.MacAbkOp, args: PythonValues) -> PythonValues:
        """All-bank multiply-accumulate of a row with the global buffer (AimMachine.mac)."""
        _machine(interpreter, op).mac(op)
        return ()

    @impl(aim.RdMacOp)
    def run_rd_mac(self, interpreter: Interpreter, op: aim.RdMacOp, args: PythonValues) -> PythonValues:
        """The accumulators read out as FP16 outputs (AimMachine.read_mac)."""
        _machine(interpreter, op).read_mac(op)
        return ()

    @impl(aim.SyncOp)
    def run_sync(self, interpreter: Interpreter, op: aim.SyncOp, args: PythonValues) -> PythonValues:
        """A barrier: no data effect (commands execute in stream order)."""
        _machine(interpreter, op).step(op)
        return ()

    @impl(aim.EocOp)
    def run_eoc(self, interpreter: Interpreter, op: aim.EocOp, args: PythonValues) -> PythonValues:
        """End of compute: no data effect."""
        _machine(interpreter, op).step(op)
        return ()


@register_impls
@dataclass
class PimFunctions(InterpreterFunctions):
    """The PIM macros, each run from its command stream (AimFunctions, registered on the same interpreter) on
    the BankImage of the device its `device` attribute names; the result is checked against its type."""

    devices: Mapping[str, Device]
    """The system's devices, by name."""
    device_of: Callable[[Operation], str | None]
    """The name of the device an op is placed on (None: the device named "")."""
    images: dict[str, BankImage] = field(default_factory=dict)
    """The DRAM of each PIM device, kept from macro to macro (weights are written once)."""
    macros: dict[str, int] = field(default_factory=dict)
    """Macros executed (or started, when one fails), by device."""

    def _device(self, op: Operation) -> tuple[Device, BankImage]:
        name = self.device_of(op) or ""
        dev = self.devices[name]
        image = self.images.setdefault(name, BankImage.for_device(dev))
        self.macros[name] = self.macros.get(name, 0) + 1
        return dev, image

    @impl(pim.GemvOp)
    def run_gemv(self, interpreter: Interpreter, op: pim.GemvOp, args: PythonValues) -> PythonValues:
        """y = x . W (+ bias), every output computed by the stream on the device's banks (emulate_gemv)."""
        dev, image = self._device(op)
        x, w, *rest = args
        bias = rest[0] if rest else None
        return check_results(op, [emulate_gemv(op, x, w, bias, dev, image, interpreter)])

    @impl(pim.AttentionOp)
    def run_attention(self, interpreter: Interpreter, op: pim.AttentionOp, args: PythonValues) -> PythonValues:
        """softmax(scale * q . K^T, masked) . V: scores and context on the banks, the probabilities on the host
        with the op's `scale` and `mask_fill` (emulate_attention)."""
        dev, image = self._device(op)
        q, k, v, *rest = args
        mask = rest[0] if rest else None
        scale = op.scale.value.data
        fill = None if op.mask_fill is None else op.mask_fill.value.data

        def probabilities(scores: np.ndarray, row_mask: np.ndarray | None) -> np.ndarray:
            return attention_probabilities(scores, row_mask, scale, fill)

        return check_results(op, [emulate_attention(op, q, k, v, mask, dev, image, probabilities, interpreter)])


def emulate_gemv(
    op: pim.GemvOp,
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None,
    dev: Device,
    image: BankImage,
    interpreter: Interpreter | None = None,
) -> np.ndarray:
    """Run a pim.gemv's command stream: y = x . W (+ bias), its rows computed on the emulated banks.

    `interpreter` executes the stream (one with AimFunctions registered; default: a new one)."""
    m, k, n = op.mkn()
    geo = layout_geometry(op.layout, k, dev)
    base = op.layout.row_base.value.data
    weight = op.w.owner.sym_name.data if isinstance(op.w.owner, nn.WeightOp) else nn.op_label(op)
    key = (base, 0, f"{weight}{' (transposed)' if op.transpose_w is not None else ''}")
    if image.placed.get(key) != id(w):
        place_matrix(image, w.T if op.transpose_w is not None else w, geo, base, 0, dev.pim.column_bytes)
        image.placed[key] = id(w)
    xs = x.reshape(m, k)
    y = np.zeros((m, n), ACC)

    def sink(i: int, values: np.ndarray) -> None:
        y[i] = values

    mat = Matrix(
        f"weight {weight!r}", k, n, geo, base, 0, m, lambda i: xs[i], sink, None if bias is None else bias.reshape(n)
    )
    _run(op, dev, image, [mat], interpreter)
    return y.reshape(*x.shape[:-1], n)


def emulate_attention(
    op: pim.AttentionOp,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None,
    dev: Device,
    image: BankImage,
    probabilities: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
    interpreter: Interpreter | None = None,
) -> np.ndarray:
    """Run a pim.attention's command stream: every head's scores and context on the emulated banks, the
    softmax between them on the host (`probabilities(scores, mask)`, the reference's scale/mask/softmax).

    `interpreter` executes the stream (one with AimFunctions registered; default: a new one)."""
    b, hq, hkv, s, t, d, dv = op.dims()
    group = hq // hkv
    kg, vg = layout_geometry(op.k_layout, d, dev), layout_geometry(op.v_layout, t, dev)
    k_rows, v_rows = kg.rows(d, t), vg.rows(t, dv)
    k_base, v_base = op.k_layout.row_base.value.data, op.v_layout.row_base.value.data
    width, column_bytes = op.head_channels.value.data, dev.pim.column_bytes
    full_mask = None if mask is None else np.broadcast_to(mask, (b, hq, s, t))
    out = np.zeros((b, hq, s, dv), ACC)
    matrices: list[Matrix] = []
    softmax_of: dict[int, Matrix] = {}  # AttAcc: the V cache's input vectors come from the K cache's scores
    for h in range(b * hkv):
        bi, kv = divmod(h, hkv)
        first, wave = head_slot(h, width, dev.pim.channels)
        kr, vr = k_base + wave * k_rows, v_base + wave * v_rows
        place_matrix(image, k[bi, kv].T, kg, kr, first, column_bytes)  # D x T: keys are the outputs
        place_matrix(image, v[bi, kv], vg, vr, first, column_bytes)  # T x Dv
        scores = np.zeros((group * s, t), ACC)
        queries = q[bi, kv * group : (kv + 1) * group].reshape(group * s, d)
        heads_mask = None if full_mask is None else full_mask[bi, kv * group : (kv + 1) * group].reshape(group * s, t)

        def score_sink(i: int, values: np.ndarray, scores: np.ndarray = scores) -> None:
            scores[i] = values

        def context_input(i: int, scores: np.ndarray = scores, hm: np.ndarray | None = heads_mask) -> np.ndarray:
            return probabilities(scores[i], None if hm is None else hm[i])

        def context_sink(i: int, values: np.ndarray, bi: int = bi, kv: int = kv) -> None:
            g, si = divmod(i, s)
            out[bi, kv * group + g, si] = values

        matrices.append(
            Matrix(f"head {h}'s K cache", d, t, kg, kr, first, group * s, lambda i, qs=queries: qs[i], score_sink)
        )
        matrices.append(Matrix(f"head {h}'s V cache", t, dv, vg, vr, first, group * s, context_input, context_sink))
        softmax_of[id(matrices[-1])] = matrices[-2]
    _run(op, dev, image, matrices, interpreter, softmax_of)
    return out


def _run(
    op: pim.GemvOp | pim.AttentionOp,
    dev: Device,
    image: BankImage,
    matrices: list[Matrix],
    interpreter: Interpreter | None,
    softmax_of: dict[int, Matrix] | None = None,
) -> None:
    """Decode the macro's stream (an error for one the emulator cannot execute) and interpret its ops on an
    AimMachine, or on an AttAcc device an AttaccMachine (targets/interp/attacc_emulator.py; `softmax_of`: the
    K matrix whose scores the buffer die's softmax turns into each V matrix's input, by id of the V matrix)."""
    from pimc.targets.interp.attacc_emulator import AttaccFunctions, AttaccMachine

    label = nn.op_label(op)
    if not op.commands.blocks:
        raise EmulatorError(f"op '{label}' has no command stream to execute (device isa {dev.pim.isa!r})")
    if dev.pim.isa not in ("aim", "attacc"):
        raise EmulatorError(f"op '{label}': the emulator executes AiM and AttAcc streams, not isa {dev.pim.isa!r}")
    try:
        instrs = list(block_commands(op.commands.block))
    except ValueError as e:
        raise EmulatorError(f"op '{label}': {e}") from None
    if interpreter is None:
        interpreter = Interpreter(ModuleOp([]))
        interpreter.register_implementations(AimFunctions())
        interpreter.register_implementations(AttaccFunctions())
    machine: AimMachine | AttaccMachine = (
        AimMachine(image, dev, label, instrs, matrices)
        if dev.pim.isa == "aim"
        else AttaccMachine(image, dev, label, instrs, matrices, softmax_of)
    )
    outer = interpreter.get_data(AimFunctions, MACHINE, lambda: None)
    interpreter.set_data(AimFunctions, MACHINE, machine)
    try:
        interpreter.run_ssacfg_region(op.commands, (), label)
    finally:
        interpreter.set_data(AimFunctions, MACHINE, outer)
    machine.finish()
