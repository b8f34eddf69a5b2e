"""The functional emulator of AttAcc HBM3-PIM command streams (`attacc` dialect), on pim_emulator's BankImage.

`AttaccMachine` executes one macro's stream by what each op reads and writes,
per channel, so it does not depend on the order of the ops beyond data
dependences (channels interleaved, barriers anywhere). The data layout is
pim_emulator's (`place_matrix`): a matrix's rows and channel group name it, its
pass and its row tile; a bank's row may pack `o` outputs (per_row, up to the
device's row_outputs), slot s at column s * ceil(K * 2 B / column_bytes).

Semantics (dialects/attacc.py, targets/emit/attacc_trace.py):

    wr_gb opsize vectors mask   the host writes `vectors` input vectors into the global buffer of
                                every masked channel, vector j into the buffer's 32-column slot j
                                (opsize columns, FP16, zero past K). Which matrix, row tile and
                                input vectors: the host reads ahead to the next mac_ab on the mask's
                                first channel (its row names the matrix and tile), and writes the
                                matrix's first input vectors not yet delivered.
    mv_gb ...                   the same from the buffer die's softmax unit: the probability rows
                                an earlier attacc.sfm computed (an error if it has not).
    mac_ab opsize vectors mask row
                                every bank of the masked channels reads `opsize` columns of `row`;
                                the row's matrix gives the width w of one output's K chunk in the
                                tile (ceil(chunk * 2 / column_bytes) columns), so the columns are
                                opsize / w outputs; output s's columns times slot j's vector
                                (j < vectors) accumulate in FP32 in accumulator (j, s) of the bank.
                                The global buffer must hold that matrix's tile; each tile of a pass
                                is accumulated once.
    mv_sb outputs mask row      every masked bank moves its `outputs` results (vectors x outputs per
                                bank of the pass `row` belongs to), rounded to FP16, to the buffer
                                die; the accumulators restart from zero. A GEMV's bias (the ISA has
                                no bias preload) is added by the host in FP32 when a vector's last
                                output arrives. The outputs must come from every tile of that pass.
    sfm mask                    the buffer die turns every complete score row of the heads whose
                                channel group starts in the mask into probabilities (scale, mask,
                                softmax in FP32: reference.attention_probabilities)
    barrier                     no data effect

Every check names the op (its stream position and trace form); at the end every
matrix must have been multiplied with all its input vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.ir import Operation

from pimc.dialects import attacc
from pimc.dialects.attacc import ATTACC_COLUMNS_PER_ROW
from pimc.dialects.pim import PIM_ELEMENT_BYTES, CommandKind, PimCommand, ceil_div
from pimc.targets.interp.pim_emulator import ACC, FP16, MACHINE, AimFunctions, BankImage, EmulatorError, Matrix
from pimc.targets.system import Device


@dataclass
class _Acc:
    """What one channel's accumulators hold: (matrix, pass) and the input vectors, the tiles accumulated."""

    mat: Matrix
    p: int
    vectors: tuple[int, ...]
    outputs: int
    tiles: list[int] = field(default_factory=list)


_OP_NAMES = {op.KIND: op.name for op in attacc.COMMAND_OPS}


def _trace(ins: PimCommand) -> str:
    """The command as its attacc op, unrolled: `attacc.mac_ab opsize=32 vectors=4 channels=0x3 row=7`."""
    parts = [_OP_NAMES[ins.kind]]
    if ins.kind == CommandKind.RD_MAC:
        parts.append(f"outputs={ins.vectors}")
    elif ins.kind in (CommandKind.WR_GB, CommandKind.MV_GB, CommandKind.MAC_ABK):
        opsize = ins.opsize // ins.vectors if ins.kind != CommandKind.MAC_ABK else ins.opsize
        parts += [f"opsize={opsize}", f"vectors={ins.vectors}"]
    if ins.kind != CommandKind.SYNC:
        parts.append(f"channels={ins.channel_mask:#x}")
    if ins.row is not None:
        parts.append(f"row={ins.row}")
    return " ".join(parts)


class AttaccMachine:
    """The AttAcc device executing one macro's stream (module docstring)."""

    def __init__(
        self,
        image: BankImage,
        dev: Device,
        label: str,
        instrs: Sequence[PimCommand],
        matrices: Sequence[Matrix],
        softmax_of: dict[int, Matrix] | None = None,
    ):
        self.image, self.label, self.instrs, self.matrices = image, label, instrs, matrices
        self.softmax_of = softmax_of or {}
        """id(V matrix) -> the K matrix whose scores the softmax unit turns into its input vectors."""
        self.column_bytes = dev.pim.column_bytes
        self.ce = dev.pim.column_bytes // PIM_ELEMENT_BYTES
        self.slot = ATTACC_COLUMNS_PER_ROW * self.ce
        gb = dev.pim.global_buffer_bytes // PIM_ELEMENT_BYTES
        self.slots = max(1, gb // self.slot)
        self.max_outputs = image.row_elements // self.ce
        self.gb = np.zeros((image.channels, self.slots, self.slot), FP16)
        self.gb_tag: list[tuple[int, int, tuple[int, ...]] | None] = [None] * image.channels
        """Per channel: (id of matrix, row tile, input vectors) the global buffer holds."""
        self.acc = np.zeros((image.channels, image.banks, self.slots, self.max_outputs), ACC)
        self.acc_tag: list[_Acc | None] = [None] * image.channels
        self.index = 0
        self.delivered = {id(m): np.zeros((m.vectors, m.n), bool) for m in matrices}
        self.results = {id(m): np.zeros((m.vectors, m.n), FP16) for m in matrices}
        self.complete = {id(m): np.zeros(m.vectors, bool) for m in matrices}
        self.probabilities: dict[tuple[int, int], np.ndarray] = {}
        """(id of V matrix, vector) -> probability row computed by an sfm."""
        self.channel_lists: dict[int, list[int]] = {}
        # the MACs each buffer write serves: per channel of its mask, the next mac_ab on that channel
        self.serves: dict[int, dict[int, list[int]]] = {}
        """Stream position of a buffer write -> {position of the mac_ab served: the channels it serves}."""
        self.owner: dict[int, tuple[Matrix, int, int]] = {}
        next_mac: dict[int, int] = {}
        for i in range(len(instrs) - 1, -1, -1):
            ins = instrs[i]
            channels = self._channels(ins.channel_mask)
            if ins.kind == CommandKind.MAC_ABK:
                for c in channels:
                    next_mac[c] = i
            elif ins.kind in (CommandKind.WR_GB, CommandKind.MV_GB):
                served: dict[int, list[int]] = {}
                for c in channels:
                    served.setdefault(next_mac.get(c, -1), []).append(c)
                self.serves[i] = served

    def _channels(self, mask: int) -> list[int]:
        found = self.channel_lists.get(mask)
        if found is None:
            found = self.channel_lists[mask] = [c for c in range(self.image.channels) if mask >> c & 1]
        return found

    def fail(self, i: int, ins: PimCommand, why: str) -> EmulatorError:
        return EmulatorError(f"op '{self.label}': command {i} ({_trace(ins)}): {why}")

    def _locate(self, i: int, ins: PimCommand) -> tuple[Matrix, int, int]:
        """(matrix, pass, row tile) of a command's row on its channels."""
        found = self.owner.get(i)
        if found is None:
            channels = self._channels(ins.channel_mask)
            assert ins.row is not None
            span = (channels[0], len(channels)) if channels == list(range(channels[0], channels[-1] + 1)) else None
            mat = next((m for m in self.matrices if m.owns(ins.row, span)), None)
            if mat is None:
                raise self.fail(i, ins, "its row and channels hold no matrix of this op")
            found = self.owner[i] = (mat, *mat.locate(ins.row))
        return found

    def step(self, op: attacc.AttaccCommandOp) -> tuple[int, PimCommand, list[int]]:
        i = self.index
        if i >= len(self.instrs):
            raise EmulatorError(f"op '{self.label}': {op.name} past the end of the decoded stream")
        ins = self.instrs[i]
        assert ins.kind == op.KIND, f"{op.name} executed as command {i} ({ins.kind})"
        self.index += 1
        return i, ins, self._channels(ins.channel_mask)

    def _pending(self, mat: Matrix) -> int:
        """The matrix's first input vector not yet delivered."""
        done = self.complete[id(mat)]
        return int(np.argmin(done)) if not done.all() else mat.vectors

    def write_gb(self, op: attacc.WrGbOp | attacc.MvGbOp) -> None:
        """attacc.wr_gb / attacc.mv_gb: each channel of the mask takes the input vectors of the row tile the
        next attacc.mac_ab on that channel multiplies (module docstring)."""
        i, ins, _ = self.step(op)
        for j, channels in self.serves[i].items():
            if j < 0:
                raise self.fail(i, ins, f"no attacc.mac_ab on channel {channels[0]} follows to use the data")
            self._write_gb(i, ins, j, channels)

    def _write_gb(self, i: int, ins: PimCommand, j: int, channels: list[int]) -> None:
        mat, _, t = self._locate(j, self.instrs[j])
        from_softmax = id(mat) in self.softmax_of
        if from_softmax != (ins.kind == CommandKind.MV_GB):
            source = "the softmax unit (attacc.mv_gb)" if from_softmax else "the host (attacc.wr_gb)"
            raise self.fail(
                i,
                ins,
                f"the next attacc.mac_ab on its channels (command {j}) reads {mat.name}, whose input "
                f"vectors come from {source}",
            )
        v = ins.vectors
        if v > self.slots:
            raise self.fail(i, ins, f"{v} vectors exceed the global buffer's {self.slots} slots")
        first = self._pending(mat)
        if first + v > mat.vectors:
            raise self.fail(i, ins, f"{mat.name} has {mat.vectors} input vectors; vector {mat.vectors} does not exist")
        width = ins.opsize // v
        if width > ATTACC_COLUMNS_PER_ROW:
            raise self.fail(i, ins, f"{width} columns per vector exceed a global-buffer slot")
        k0 = t * mat.geo.k_tile
        chunks = np.zeros((v, self.slot), FP16)
        for s in range(v):
            if from_softmax:
                x = self.probabilities.get((id(mat), first + s))
                if x is None:
                    raise self.fail(
                        i, ins, f"no attacc.sfm has computed the probabilities of row {first + s} for {mat.name}"
                    )
            else:
                x = mat.input_of(first + s)
            part = np.asarray(x)[k0 : min(mat.k, k0 + mat.geo.k_tile)].astype(FP16)[: width * self.ce]
            chunks[s, : part.size] = part
        for c in channels:
            self.gb[c, :v] = chunks
            self.gb_tag[c] = (id(mat), t, tuple(range(first, first + v)))

    def mac(self, op: attacc.MacAbOp) -> None:
        """attacc.mac_ab: every masked bank's open row, as the outputs packed in it, times each of the
        `vectors` global-buffer slots, added to the bank's FP32 accumulators (module docstring)."""
        i, ins, channels = self.step(op)
        mat, p, t = self._locate(i, ins)
        chunk = min(mat.k, (t + 1) * mat.geo.k_tile) - t * mat.geo.k_tile
        w = ceil_div(chunk * PIM_ELEMENT_BYTES, self.column_bytes)
        outs, rest = divmod(ins.opsize, w)
        if rest or outs > self.max_outputs:
            raise self.fail(i, ins, f"{ins.opsize} columns are not whole outputs of {w} columns ({mat.name})")
        v = ins.vectors
        assert ins.row is not None
        row = self.image.row(ins.row)
        for c in channels:
            tag = self.gb_tag[c]
            if tag is None or tag[0] != id(mat) or tag[1] != t:
                raise self.fail(i, ins, f"channel {c}'s global buffer does not hold row tile {t} of {mat.name}")
            if v > len(tag[2]):
                raise self.fail(i, ins, f"channel {c}'s global buffer holds {len(tag[2])} vector(s), not {v}")
            acc = self.acc_tag[c]
            if acc is None:
                acc = self.acc_tag[c] = _Acc(mat, p, tag[2][:v], outs)
            elif (acc.mat, acc.p) != (mat, p):
                raise self.fail(
                    i, ins, f"channel {c}'s accumulators hold pass {acc.p} of {acc.mat.name}, not yet moved out"
                )
            elif (acc.vectors, acc.outputs) != (tag[2][:v], outs):
                raise self.fail(
                    i,
                    ins,
                    f"channel {c}'s accumulators hold {acc.outputs} output(s) for input vectors "
                    f"{list(acc.vectors)}; this MAC computes {outs} for {list(tag[2][:v])}",
                )
            acc.tiles.append(t)
        at = channels
        data = row[at, :, : outs * w * self.ce].astype(ACC).reshape(len(at), self.image.banks, outs, w * self.ce)
        vec = self.gb[at, :v, : w * self.ce].astype(ACC)
        self.acc[at, :, :v, :outs] += np.einsum("cbse,cve->cbvs", data, vec)

    def move_out(self, op: attacc.MvSbOp) -> None:
        """attacc.mv_sb: the masked banks' results of the pass `row` belongs to, in FP16, to the buffer die
        (the matrix's host: scores, or a GEMV's outputs); the accumulators restart from zero."""
        i, ins, channels = self.step(op)
        mat, p, _ = self._locate(i, ins)
        n0, count, _, o = mat.passes[p]
        k_tiles = mat.geo.k_tiles(mat.k)
        key = id(mat)
        for c in channels:
            acc = self.acc_tag[c]
            if acc is None:
                raise self.fail(i, ins, f"channel {c} has no MAC results to move")
            if acc.mat is not mat or acc.p != p:
                raise self.fail(i, ins, f"channel {c}'s accumulators hold pass {acc.p} of {acc.mat.name}")
            if sorted(acc.tiles) != list(range(k_tiles)):
                raise self.fail(i, ins, f"channel {c} accumulated row tiles {acc.tiles} of {k_tiles}")
            if acc.outputs < o or ins.vectors != len(acc.vectors) * o:
                raise self.fail(
                    i,
                    ins,
                    f"pass {p} of {mat.name} has {o} output(s) per bank for {len(acc.vectors)} vector(s); "
                    f"the banks computed {acc.outputs} and the op moves {ins.vectors}",
                )
            u0 = (c - mat.first_channel) * self.image.banks
            results = self.acc[c, :, : len(acc.vectors), :o].astype(FP16)  # bank, vector, slot
            self.acc[c] = 0
            self.acc_tag[c] = None
            for jv, vec in enumerate(acc.vectors):
                idx = (u0 + np.arange(self.image.banks))[:, None] * o + np.arange(o)
                valid = idx < count
                got = self.delivered[key][vec]
                if got[n0 + idx[valid]].any():
                    raise self.fail(i, ins, f"outputs of input vector {vec} of {mat.name} moved twice")
                self.results[key][vec, n0 + idx[valid]] = results[:, jv, :][valid]
                got[n0 + idx[valid]] = True
                if got.all():
                    self._finish_vector(mat, vec)

    def _finish_vector(self, mat: Matrix, vec: int) -> None:
        values = self.results[id(mat)][vec]
        if mat.bias is not None:  # no bias preload: the host adds it
            values = (values.astype(ACC) + mat.bias.astype(FP16).astype(ACC)).astype(ACC)
        mat.output_to(vec, values)
        self.complete[id(mat)][vec] = True
        mat.current = int(self.complete[id(mat)].sum())

    def softmax(self, op: attacc.SfmOp) -> None:
        """attacc.sfm: the buffer die turns the complete score rows of every head whose channel group starts
        in the mask into the probabilities its V cache's input vectors are (an attacc.mv_gb moves them)."""
        _, _, channels = self.step(op)
        covered = set(channels)
        for v_mat in self.matrices:
            k_mat = self.softmax_of.get(id(v_mat))
            if k_mat is None or k_mat.first_channel not in covered:
                continue
            for vec in np.flatnonzero(self.complete[id(k_mat)]):
                key = (id(v_mat), int(vec))
                if key not in self.probabilities:
                    self.probabilities[key] = np.asarray(v_mat.input_of(int(vec)))

    def barrier(self, op: attacc.BarrierOp) -> None:
        """attacc.barrier: no data effect (each op already reads what earlier ops wrote)."""
        self.step(op)

    def finish(self) -> None:
        assert self.index == len(self.instrs), f"{self.index} of {len(self.instrs)} commands executed"
        for m in self.matrices:
            done = self.complete[id(m)]
            if not done.all():
                raise EmulatorError(
                    f"op '{self.label}': the stream multiplied {m.name} with {int(done.sum())} of its "
                    f"{m.vectors} input vectors"
                )


def _machine(interpreter: Interpreter, op: Operation) -> AttaccMachine:
    machine = interpreter.get_data(AimFunctions, MACHINE, lambda: None)
    if not isinstance(machine, AttaccMachine):
        raise EmulatorError(f"{op.name} runs outside the AttAcc command stream of a PIM macro")
    return machine


@register_impls
class AttaccFunctions(InterpreterFunctions):
    """The ops of an AttAcc command stream, executed on the AttaccMachine of the macro whose stream it is
    (`pim.repeat` is AimFunctions', which must be registered too: it only runs its body)."""

    @impl(attacc.WrGbOp)
    def run_wr_gb(self, interpreter: Interpreter, op: attacc.WrGbOp, args: PythonValues) -> PythonValues:
        _machine(interpreter, op).write_gb(op)
        return ()

    @impl(attacc.MvGbOp)
    def run_mv_gb(self, interpreter: Interpreter, op: attacc.MvGbOp, args: PythonValues) -> PythonValues:
        _machine(interpreter, op).write_gb(op)
        return ()

    @impl(attacc.MacAbOp)
    def run_mac_ab(self, interpreter: Interpreter, op: attacc.MacAbOp, args: PythonValues) -> PythonValues:
        _machine(interpreter, op).mac(op)
        return ()

    @impl(attacc.MvSbOp)
    def run_mv_sb(self, interpreter: Interpreter, op: attacc.MvSbOp, args: PythonValues) -> PythonValues:
        _machine(interpreter, op).move_out(op)
        return ()

    @impl(attacc.SfmOp)
    def run_sfm(self, interpreter: Interpreter, op: attacc.SfmOp, args: PythonValues) -> PythonValues:
        _machine(interpreter, op).softmax(op)
        return ()

    @impl(attacc.BarrierOp)
    def run_barrier(self, interpreter: Interpreter, op: attacc.BarrierOp, args: PythonValues) -> PythonValues:
        _machine(interpreter, op).barrier(op)
        return ()
