"""DSL frontend: import a `.pim` model description into the `nn` dialect.

A `.pim` file (grammar in `dsl.lark`, parsed by parse.py; reference in docs/dsl.md) declares integer
parameters, the phases of inference (prefill, decode) with their per-phase
variables, inputs, weights and KV caches, and the model as assignments of ops;
`repeat` blocks are unrolled. The importer emits one `func.func` per phase, named
after the phase, in one module: weights first (`nn.weight`, shared by name
between the phases), then the ops in statement order, then `func.return` of the
outputs. Every op carries the discardable attributes `name` (a readable label,
e.g. `layers.3.q`) and `phase`.

Every error in the file is a `ModelImportError` reading
`file:line:column: message`, then the source line and a caret under the column.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from lark import Token, Tree
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    Signedness,
    StringAttr,
    TensorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, OpResult, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from pimc.compiler.frontend.dsl.parse import Loc, Source, location, parse
from pimc.dialects import nn
from pimc.dialects.nn import PHASES
from pimc.errors import LimitError, ModelImportError
from pimc.limits import MAX_ELEMENTS, MAX_OPS, fmt_count, parse_dim_value, shape_problem, shown
from pimc.targets.models.expert_load import ExpertLoad

DEFAULT_PHASE = "prefill"
"""The single phase of a file without `phase` declarations (an encoder, say)."""

DTYPES: dict[str, Attribute] = {
    "f16": f16,
    "bf16": bf16,
    "f32": f32,
    "f64": f64,
    "i1": i1,
    "bool": i1,
    "i8": i8,
    "i16": i16,
    "i32": i32,
    "i64": i64,
    "u8": IntegerType(8, Signedness.UNSIGNED),
}

UNARY_ONNX: dict[str, str] = {
    "relu": "Relu",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "neg": "Neg",
    "abs": "Abs",
    "erf": "Erf",
    "reciprocal": "Reciprocal",
    "cos": "Cos",
    "sin": "Sin",
}
"""Element-wise functions kept as `nn.onnx` with this ONNX op type and no attributes."""


INT_MAX = 2**63 - 1
"""DSL integers are 64-bit: a literal or an arithmetic result outside +-INT_MAX is an error."""

MAX_ITERATIONS = 1_000_000
"""The most `repeat` iterations one import unrolls (an empty body costs no ops, but its iterations still run)."""

F32_MAX = 3.4028234663852886e38
"""Largest finite float32: epsilons are stored as f32 attributes."""


# -- values -----------------------------------------------------------------


@dataclass(frozen=True)
class _DType:
    name: str
    attr: Attribute


@dataclass(frozen=True)
class _Absent:
    """A cache whose shape has a zero dim in this phase: no argument, kv_append passes `new` through."""

    name: str
    type: TensorType


_Value = int | float | str | bool | list["_Value"] | tuple[SSAValue, ...] | _DType | _Absent | SSAValue


@dataclass
class _Binding:
    value: _Value
    kind: str
    """dtype (built in), param, phase variable, loop variable, input, weight, cache, or var (an
    assignment: the only kind that may be assigned again)."""
    loc: Loc


@dataclass
class _Scope:
    parent: _Scope | None
    prefix: str
    """Prepended to the names declared and the ops labelled in this scope, e.g. `layers.3.`."""
    names: dict[str, _Binding] = field(default_factory=dict[str, _Binding])

    def lookup(self, name: str) -> tuple[_Scope, _Binding] | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope, scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        names: set[str] = set()
        scope: _Scope | None = self
        while scope is not None:
            names |= scope.names.keys()
            scope = scope.parent
        return sorted(names)


@dataclass(frozen=True)
class _Label:
    """How the ops of one assignment are named: the root op `base`, nested ops `base.<what>`."""

    base: str
    root: bool

    def of(self, what: str) -> str:
        return self.base if self.root else f"{self.base}.{what}"

    def nested(self) -> _Label:
        return _Label(self.base, False)


@dataclass(frozen=True)
class _Signature:
    params: tuple[str, ...]
    """Positional-or-keyword parameters, in order."""
    required: int
    options: tuple[str, ...] = ()
    """Keyword-only options."""
    variadic: bool = False
    """Takes any number (at least one) of positional tensors, e.g. concat."""

    def describe(self, fn: str) -> str:
        parts = [p if i < self.required else f"{p}?" for i, p in enumerate(self.params)]
        if self.variadic:
            parts = ["x, ..."]
        parts += [f"{o}=" for o in self.options]
        return f"{fn}({', '.join(parts)})"


# -- errors -----------------------------------------------------------------


# -- the importer -------------------------------------------------------------


def _suggest(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _hint(label: str) -> str | None:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in label).strip("_")
    if not cleaned or cleaned[0].isdigit():
        return None
    return cleaned


def _shape(value: SSAValue) -> tuple[int, ...]:
    return nn.tensor_shape(value.type)


def _dtype_of(value: SSAValue) -> Attribute:
    assert isinstance(value.type, TensorType)
    return value.type.element_type


class _TooLarge(Exception):
    """A tensor type the IR cannot hold (limits.shape_problem); the caller names the place."""


@functools.cache
def _tensor_type(dtype: Attribute, shape: tuple[int, ...]) -> TensorType:
    """TensorType(dtype, shape), built once per distinct type (most shapes recur in every layer).

    Raises _TooLarge for a shape no memory can hold (its dims would not even fit the IR's i64)."""
    problem = shape_problem(shape)
    if problem is not None:
        raise _TooLarge(f"the result {_fmt(shape)} has {problem}")
    return TensorType(dtype, shape)


def _fmt(shape: Sequence[int]) -> str:
    return "[" + ", ".join(fmt_count(d) if abs(d) > INT_MAX else str(d) for d in shape) + "]"


class _Phase:
    """The function being built for one phase."""

    def __init__(self, name: str):
        self.name = name
        self.attr = StringAttr(name)
        self.block = Block()
        self.weights: list[Operation] = []
        self.body: list[Operation] = []
        self.outputs: list[SSAValue] = []
        self.labels: set[str] = set()
        self.weight_names: dict[str, Loc] = {}
        self.arg_names: dict[str, Loc] = {}


class _Importer:
    def __init__(self, tree: Tree[Token], source: Source, dims: dict[str, str], expert_load: ExpertLoad):
        self.tree = tree
        self.expert_load = expert_load
        self.routed = False
        """A `route` statement was imported (an --expert-load other than the default applies only then)."""
        self.src = source
        self.dims = dims
        self.model_name: str | None = None
        self.model_loc: Loc | None = None
        self.params = _Scope(None, "")
        self.phases: list[tuple[str, Loc, dict[str, int]]] = []
        self.body: list[Tree[Token]] = []
        self.weight_types: dict[str, tuple[TensorType, str]] = {}
        self.phase: _Phase | None = None
        self.verified: set[tuple[object, ...]] = set()
        self.ops = 0
        """Ops built so far, an op of several results counted once per result (limits.MAX_OPS)."""
        self.iterations = 0
        """`repeat` iterations run so far (MAX_ITERATIONS)."""
        self.where: list[str] = []
        """Where the body is being imported (`phase decode`, `layers.3`): named in errors, see `error`."""

    def error(self, loc: Loc, message: str) -> ModelImportError:
        """An error at `loc`. Errors raised past the first phase or the first repeat iteration hold only
        there (the same statement passed before), so the message names the phase and iteration."""
        where = [w for w in self.where if w]
        return self.src.error(loc, message + (f" (in {', '.join(where)})" if where else ""))

    # -- header: model, params, phases --------------------------------------

    def run(self) -> ModuleOp:
        for name, attr in DTYPES.items():
            self.params.names[name] = _Binding(_DType(name, attr), "dtype", (0, 0))
        for stmt in self.tree.children:
            assert isinstance(stmt, Tree)
            if stmt.data == "model_stmt":
                self.model_decl(stmt)
            elif stmt.data == "param_stmt":
                self.param_decl(stmt)
            elif stmt.data == "phase_stmt":
                self.phase_decl(stmt)
            else:
                self.body.append(stmt)
        if "dtype" not in self.params.names:
            self.params.names["dtype"] = _Binding(self.override("dtype", None, _DType("f32", f32)), "param", (0, 0))
        self.check_dims()
        if not self.phases:
            self.phases.append((DEFAULT_PHASE, (0, 0), {}))
        funcs = [self.build_phase(name, loc, bindings) for name, loc, bindings in self.phases]
        module = ModuleOp(funcs)
        module.attributes["pimc.model"] = StringAttr(self.model_name or Path(self.src.path).stem)
        return module

    def param_names(self) -> list[str]:
        return [n for n, b in self.params.names.items() if b.kind == "param"]

    def check_dims(self) -> None:
        params = self.param_names()
        for name in self.dims:
            if name not in params:
                raise ModelImportError(
                    f"{self.src.path}: unknown dim '{name}'{_suggest(name, params)}; "
                    f"the parameters are: {', '.join(params)}"
                )

    def model_decl(self, stmt: Tree[Token]) -> None:
        if self.model_loc is not None:
            raise self.error(
                location(stmt), f"redefinition of the model name (first given at line {self.model_loc[0]})"
            )
        token = stmt.children[0]
        assert isinstance(token, Token)
        self.model_name = token.value[1:-1] if token.type == "STRING" else token.value
        self.model_loc = location(stmt)

    def declare(self, scope: _Scope, name_tok: Token, value: _Value, kind: str) -> None:
        name = name_tok.value
        found = scope.lookup(name)
        if found is not None and found[1].kind != "dtype":
            prev = found[1]
            raise self.error(
                location(name_tok), f"redefinition of {prev.kind} '{name}' (first defined at line {prev.loc[0]})"
            )
        scope.names[name] = _Binding(value, kind, location(name_tok))

    def override(self, name: str, loc: Loc | None, default: _Value) -> _Value:
        """The value of parameter `name`: its `dims` override if given, else `default`.

        `loc` is the parameter's declaration (None for the implicit `dtype`), named in errors.
        """
        if name not in self.dims:
            return default
        text = str(self.dims[name]).strip()
        message: str | None = None
        value: _Value = default
        if isinstance(default, _DType):
            if text in DTYPES:
                value = _DType(text, DTYPES[text])
            else:
                message = f"--dim {name}={text}: not a dtype (one of {', '.join(DTYPES)})"
        elif (number := parse_dim_value(text)) is None or number < 0:
            message = f"--dim {name}={text}: not a non-negative integer"
        elif number > MAX_ELEMENTS:
            message = (
                f"--dim {name}={shown(text)}: more than any memory can hold (a dim or count is at most "
                f"{fmt_count(MAX_ELEMENTS)})"
            )
        else:
            value = number
        if message is None:
            return value
        if loc is None:
            raise ModelImportError(f"{self.src.path}: {message}")
        raise self.error(loc, message)

    def param_decl(self, stmt: Tree[Token]) -> None:
        name_tok, expr = stmt.children
        assert isinstance(name_tok, Token)
        value = self.eval(expr, self.params, None)
        if not isinstance(value, (_DType, int)) or isinstance(value, bool):
            raise self.error(
                location(expr), f"parameter '{name_tok}' must be an integer or a dtype, got {self.kind_of(value)}"
            )
        if name_tok.value == "dtype" and not isinstance(value, _DType):
            got = self.kind_of(value)
            raise self.error(
                location(expr), f"parameter 'dtype' is the default element type: it must be a dtype, got {got}"
            )
        value = self.override(name_tok.value, location(name_tok), value)
        self.declare(self.params, name_tok, value, "param")

    def phase_decl(self, stmt: Tree[Token]) -> None:
        name_tok, bindings = stmt.children
        assert isinstance(name_tok, Token)
        name = name_tok.value
        if name not in PHASES:
            raise self.error(location(name_tok), f"unknown phase '{name}'; a phase is {' or '.join(PHASES)}")
        for other, loc, _ in self.phases:
            if other == name:
                raise self.error(location(name_tok), f"redefinition of phase '{name}' (first defined at line {loc[0]})")
        scope = _Scope(self.params, "")
        values: dict[str, int] = {}
        for binding in bindings.children if isinstance(bindings, Tree) else []:
            assert isinstance(binding, Tree)
            var, expr = binding.children
            assert isinstance(var, Token)
            value = self.eval(expr, scope, None)
            if not isinstance(value, int) or isinstance(value, bool):
                raise self.error(
                    location(expr), f"phase variable '{var}' must be an integer, got {self.kind_of(value)}"
                )
            self.declare(scope, var, value, "phase variable")
            values[var.value] = value
        if self.phases and set(values) != set(self.phases[0][2]):
            first, _, first_values = self.phases[0]
            raise self.error(
                location(name_tok),
                f"phase '{name}' binds {{{', '.join(values)}}} but phase '{first}' binds {{{', '.join(first_values)}}}; "
                "every phase must bind the same variables",
            )
        self.phases.append((name, location(name_tok), values))

    # -- body: one function per phase --------------------------------------

    def build_phase(self, name: str, loc: Loc, bindings: dict[str, int]) -> func.FuncOp:
        self.phase = phase = _Phase(name)
        self.where = [f"phase {name}" if name != self.phases[0][0] else ""]
        scope = _Scope(self.params, "")
        for var, value in bindings.items():
            scope.names[var] = _Binding(value, "phase variable", loc)
        self.exec_block(self.body, scope)
        if not phase.outputs:
            where = f"phase '{name}'" if loc != (0, 0) else "the model"
            raise self.error(loc if loc != (0, 0) else (1, 1), f"{where} has no outputs; name them with `output NAME`")
        ret = func.ReturnOp(*phase.outputs)
        ret.attributes["phase"] = phase.attr
        block = phase.block
        block.add_ops([*phase.weights, *phase.body, ret])
        arg_types = [a.type for a in block.args]
        return func.FuncOp(name, (arg_types, [v.type for v in phase.outputs]), Region(block))

    def exec_block(self, stmts: Sequence[Tree[Token] | Token], scope: _Scope) -> None:
        for stmt in stmts:
            assert isinstance(stmt, Tree)
            handler = self._STATEMENTS.get(str(stmt.data))
            if handler is None:
                what = str(stmt.data).removesuffix("_stmt")
                raise self.error(location(stmt), f"'{what}' is only allowed at the top level, not inside repeat")
            handler(self, stmt, scope)

    def stmt_decl(self, stmt: Tree[Token], scope: _Scope) -> None:
        kind = str(stmt.data).removesuffix("_stmt")
        phase = self.phase
        assert phase is not None
        for decl in stmt.children:
            assert isinstance(decl, Tree)
            name_tok, dtype_tok, dims = decl.children
            assert isinstance(name_tok, Token)
            shape = tuple(self.decl_dims(dims, name_tok, scope, allow_zero=kind == "cache"))
            problem = shape_problem(shape)
            if problem is not None:
                raise self.limit(location(name_tok), f"{kind} '{name_tok}' {_fmt(shape)} has {problem}")
            tensor_type = _tensor_type(self.decl_dtype(dtype_tok, scope), shape)
            full = scope.prefix + name_tok.value
            value: _Value
            if kind == "weight":
                value = self.weight(full, tensor_type, location(name_tok))
            elif kind == "cache" and 0 in tensor_type.get_shape():
                value = _Absent(full, tensor_type)
            else:
                if full in phase.arg_names:
                    first = phase.arg_names[full][0]
                    raise self.error(
                        location(name_tok), f"redefinition of argument '{full}' (first declared at line {first})"
                    )
                phase.arg_names[full] = location(name_tok)
                value = phase.block.insert_arg(tensor_type, len(phase.block.args))
                value.name_hint = _hint(full)
            self.declare(scope, name_tok, value, kind)

    def decl_dtype(self, token: Tree[Token] | Token | None, scope: _Scope) -> Attribute:
        if token is None:
            found = scope.lookup("dtype")
            assert found is not None and isinstance(found[1].value, _DType)
            return found[1].value.attr
        assert isinstance(token, Token)
        found = scope.lookup(token.value)
        if found is None or not isinstance(found[1].value, _DType):
            raise self.error(
                location(token), f"'{token}' is not a dtype (one of {', '.join(DTYPES)}, or a dtype parameter)"
            )
        return found[1].value.attr

    def decl_dims(self, dims: Tree[Token] | Token | None, name: Token, scope: _Scope, allow_zero: bool) -> list[int]:
        """The dims of a declaration; a zero dim only in a cache (absent in that phase): pimc compiles no
        empty tensors."""
        out: list[int] = []
        for expr in dims.children if isinstance(dims, Tree) else []:
            d = self.int_value(expr, scope, f"a dim of '{name}'")
            if d < 0:
                raise self.error(location(expr), f"a dim of '{name}' is {d}; dims must not be negative")
            if d == 0 and not allow_zero:
                zeros = [f"--dim {k}={v}" for k, v in self.dims.items() if parse_dim_value(str(v)) == 0]
                given = f" (given {', '.join(zeros)})" if zeros else ""
                raise self.error(location(expr), f"a dim of '{name}' is 0; pimc compiles no empty tensors{given}")
            out.append(d)
        return out

    def limit(self, loc: Loc, message: str) -> LimitError:
        """A LimitError at `loc`, formatted as every other error of the file."""
        e = self.error(loc, message)
        limit = LimitError(str(e))
        limit.context_lines = e.context_lines
        return limit

    def weight(self, full: str, tensor_type: TensorType, loc: Loc) -> SSAValue:
        phase = self.phase
        assert phase is not None
        if full in phase.weight_names:
            raise self.error(
                loc, f"redefinition of weight '{full}' (first declared at line {phase.weight_names[full][0]})"
            )
        phase.weight_names[full] = loc
        known = self.weight_types.get(full)
        if known is not None and known[0] != tensor_type:
            raise self.error(
                loc,
                f"weight '{full}' is {_fmt(tensor_type.get_shape())} here but {_fmt(known[0].get_shape())} in phase "
                f"'{known[1]}'; the phases share their weights",
            )
        self.weight_types[full] = (tensor_type, phase.name)
        op = nn.WeightOp(full, tensor_type)
        op.attributes["name"] = StringAttr(full)
        op.attributes["phase"] = phase.attr
        op.results[0].name_hint = _hint(full)
        phase.weights.append(op)
        return op.results[0]

    def stmt_output(self, stmt: Tree[Token], scope: _Scope) -> None:
        phase = self.phase
        assert phase is not None
        for name in stmt.children:
            assert isinstance(name, Token)
            phase.outputs.append(self.tensor_value(self.lookup(name, scope), location(name), f"output '{name}'"))

    def stmt_assign(self, stmt: Tree[Token], scope: _Scope) -> None:
        *targets, expr = stmt.children
        names = [t for t in targets if isinstance(t, Token)]
        value = self.eval(expr, scope, _Label(scope.prefix + ",".join(names), True))
        if len(names) > 1 or isinstance(value, tuple):
            if not isinstance(value, tuple):
                raise self.error(location(names[1]), f"cannot unpack {self.kind_of(value)} into {len(names)} names")
            if len(value) != len(names):
                message = f"the expression gives {len(value)} tensors but {len(names)} names are assigned"
                raise self.error(location(names[0]), message)
            for name, v in zip(names, value, strict=True):
                self.assign(scope, name, v)
            return
        self.assign(scope, names[0], value)

    def assign(self, scope: _Scope, name: Token, value: _Value) -> None:
        if isinstance(value, OpResult) and value.name_hint is None:
            value.name_hint = _hint(scope.prefix + name.value)
        found = scope.lookup(name.value)
        if found is None or found[1].kind == "dtype":
            scope.names[name.value] = _Binding(value, "var", location(name))
            return
        owner, binding = found
        if binding.kind != "var":
            raise self.error(
                location(name),
                f"redefinition of {binding.kind} '{name}' (declared at line {binding.loc[0]}); choose another name",
            )
        owner.names[name.value] = _Binding(value, "var", binding.loc)

    def check_fresh(self, scope: _Scope, name: Token) -> None:
        """A loop variable (repeat's, route's) must not shadow a name already bound."""
        found = scope.lookup(name.value)
        if found is not None and found[1].kind != "dtype":
            prev = found[1]
            raise self.error(
                location(name), f"redefinition of {prev.kind} '{name}' (first defined at line {prev.loc[0]})"
            )

    def stmt_repeat(self, stmt: Tree[Token], scope: _Scope) -> None:
        count_expr, var, *body = stmt.children
        assert isinstance(var, Token)
        count = self.int_value(count_expr, scope, "the repeat count")
        if count < 0:
            raise self.error(location(count_expr), f"the repeat count is {count}; it must not be negative")
        if count > MAX_ITERATIONS:
            raise self.limit(
                location(count_expr),
                f"the repeat count is {fmt_count(count)}; pimc unrolls at most {fmt_count(MAX_ITERATIONS)} iterations",
            )
        self.check_fresh(scope, var)
        piece = var.value
        if isinstance(count_expr, Tree) and count_expr.data == "name":
            piece = str(count_expr.children[0])  # `repeat layers as i` names its weights layers.<i>.*
        ops, iterations = self.ops, self.iterations
        for i in range(count):
            inner = _Scope(scope, f"{scope.prefix}{piece}.{i}.")
            inner.names[var.value] = _Binding(i, "loop variable", location(var))
            self.where.append(inner.prefix[:-1] if i > 0 else "")
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise self.limit(
                    location(count_expr), f"the model unrolls more than {fmt_count(MAX_ITERATIONS)} repeat iterations"
                )
            self.exec_block(body, inner)
            self.where.pop()
            if i == 0 and count > 1:  # every iteration builds the same ops: refuse now what cannot be built
                per_ops = self.ops - ops
                if self.ops + per_ops * (count - 1) > MAX_OPS:
                    raise self.limit(
                        location(count_expr),
                        f"repeat {fmt_count(count)} would build "
                        f"{fmt_count(ops + per_ops * count)} ops ({per_ops} per iteration), more than "
                        f"the {fmt_count(MAX_OPS)} pimc compiles",
                    )
                per_iterations = self.iterations - iterations
                if self.iterations + per_iterations * (count - 1) > MAX_ITERATIONS:
                    raise self.limit(
                        location(count_expr),
                        f"repeat {fmt_count(count)} would unroll "
                        f"{fmt_count(iterations + per_iterations * count)} iterations, more than the "
                        f"{fmt_count(MAX_ITERATIONS)} pimc unrolls",
                    )

    def stmt_route(self, stmt: Tree[Token], scope: _Scope) -> None:
        """`y = route(x, weights, indices, experts) as e, xe { ... yield expr }`: a mixture-of-experts layer.

        x [..., H] and moe_gate's weights and indices [..., k] are flattened to T = prod(...) tokens; expert e of
        the `experts` receives the number of tokens the expert-load model gives it (targets/models/expert_load.py),
        dispatched as `xe` [C_e, H] (nn.moe_dispatch); the body runs once per expert with `e` bound to its index,
        its weights named `<experts>.<e>.<name>` as a repeat's are, and its `yield` gives the expert's output
        [C_e, H]. The experts' outputs are combined by the gate weights (nn.moe_combine) and reshaped to x's
        shape. An expert without tokens in this step keeps its weights and its ops (with zero rows), so that the
        memories hold every expert whatever the routing.
        """
        target, args, var, x_var, *body, result_expr = stmt.children
        assert isinstance(target, Token) and isinstance(var, Token) and isinstance(x_var, Token)
        loc = location(target)
        sig = _Signature(("x", "weights", "indices", "experts"), 4)
        bound, _ = self.bind("route", sig, args, loc)
        label = _Label(scope.prefix + target.value, True)
        call = _Call(self, "route", loc, scope, label, bound, [])
        x, gates, indices = call.tensor("x"), call.tensor("weights"), call.tensor("indices")
        experts = call.integer("experts")
        xs, gs, ids = _shape(x), _shape(gates), _shape(indices)
        if len(xs) == 0 or gs != ids or len(gs) != len(xs) or gs[:-1] != xs[:-1]:
            raise call.error(
                f"x {_fmt(xs)} and the gate's weights {_fmt(gs)} and indices {_fmt(ids)} must be [..., H] and "
                "[..., top_k] over the same tokens"
            )
        if not isinstance(_dtype_of(indices), IntegerType):
            raise call.error(f"indices must be integers (moe_gate's second result), got {_dtype_of(indices)}")
        top_k = gs[-1]
        if not 1 <= top_k <= experts:
            raise call.error(f"top_k {top_k} must be between 1 and the {experts} experts")
        if experts > MAX_ITERATIONS:
            raise self.limit(loc, f"{fmt_count(experts)} experts: pimc unrolls at most {fmt_count(MAX_ITERATIONS)}")
        for name in (var, x_var):
            self.check_fresh(scope, name)
        tokens, hidden = math.prod(xs[:-1]), xs[-1]
        if len(xs) != 2:  # [..., d] -> [T, d]

            def flat(v: SSAValue, part: str) -> SSAValue:
                return call.emit_part(nn.ReshapeOp(v, _tensor_type(_dtype_of(v), (tokens, _shape(v)[-1]))), part)

            x, gates, indices = flat(x, "tokens"), flat(gates, "weights"), flat(indices, "indices")
        loads = self.expert_load.tokens(tokens, experts, top_k)
        self.routed = True
        count_expr = bound["experts"]
        piece = str(count_expr.children[0]) if count_expr.data == "name" else "experts"
        outputs: list[SSAValue] = []
        for e, load in enumerate(loads):
            inner = _Scope(scope, f"{scope.prefix}{piece}.{e}.")
            inner.names[var.value] = _Binding(e, "loop variable", location(var))
            dispatch = nn.MoeDispatchOp(x, indices, e, load)
            xe = self.emit(dispatch, f"{inner.prefix}dispatch", loc).results[0]
            xe.name_hint = _hint(inner.prefix + x_var.value)
            inner.names[x_var.value] = _Binding(xe, "var", location(x_var))
            self.where.append(inner.prefix[:-1] if e > 0 else "")
            self.exec_block(body, inner)
            value = self.eval(result_expr, inner, _Label(f"{inner.prefix}out", True))
            self.where.pop()
            y = self.tensor_value(value, location(result_expr), "the expert's yield")
            if _shape(y) != (load, hidden):
                raise self.error(
                    location(result_expr),
                    f"route: expert {e} yields {_fmt(_shape(y))}; an expert's output must be [tokens, H] like its "
                    f"input {_fmt((load, hidden))}",
                )
            outputs.append(y)
        combine = nn.MoeCombineOp(gates, indices, outputs, list(range(experts)), hidden)
        combined = self.emit(combine, label.base if len(xs) == 2 else f"{label.base}.combine", loc).results[0]
        if len(xs) != 2:
            combined = self.emit(
                nn.ReshapeOp(combined, _tensor_type(_dtype_of(combined), xs)), label.base, loc
            ).results[0]
        self.assign(scope, target, combined)

    _STATEMENTS: ClassVar[dict[str, Callable[[_Importer, Tree[Token], _Scope], None]]] = {
        "input_stmt": stmt_decl,
        "weight_stmt": stmt_decl,
        "cache_stmt": stmt_decl,
        "output_stmt": stmt_output,
        "assign_stmt": stmt_assign,
        "repeat_stmt": stmt_repeat,
        "route_stmt": stmt_route,
    }

    # -- expressions ---------------------------------------------------------

    @staticmethod
    def kind_of(value: _Value) -> str:
        if isinstance(value, bool):
            return "a boolean"
        if isinstance(value, int):
            return f"the integer {value}"
        if isinstance(value, float):
            return f"the number {value}"
        if isinstance(value, str):
            return "a string"
        if isinstance(value, list):
            return "a list"
        if isinstance(value, tuple):
            return f"{len(value)} tensors"
        if isinstance(value, _DType):
            return f"the dtype {value.name}"
        if isinstance(value, _Absent):
            return f"the absent cache '{value.name}'"
        return f"a tensor {_fmt(_shape(value))}"

    def lookup(self, name: Token, scope: _Scope) -> _Value:
        found = scope.lookup(name.value)
        if found is None:
            raise self.error(location(name), f"undefined name '{name}'{_suggest(name.value, scope.visible())}")
        return found[1].value

    def tensor_value(self, value: _Value, loc: Loc, what: str) -> SSAValue:
        if isinstance(value, _Absent):
            raise self.error(
                loc,
                f"{what}: cache '{value.name}' is absent in phase '{self.phase.name if self.phase else ''}' "
                f"(its shape {_fmt(value.type.get_shape())} has a zero dim); only kv_append can take it",
            )
        if not isinstance(value, SSAValue):
            raise self.error(loc, f"{what} must be a tensor, got {self.kind_of(value)}")
        return value

    def int_value(self, node: Tree[Token] | Token, scope: _Scope, what: str) -> int:
        value = self.eval(node, scope, None)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(location(node), f"{what} must be an integer, got {self.kind_of(value)}")
        return value

    def eval(self, node: Tree[Token] | Token, scope: _Scope, label: _Label | None) -> _Value:
        assert isinstance(node, Tree)
        kind = str(node.data)
        if kind == "int":
            text = str(node.children[0])
            if len(text.lstrip("0")) > 19 or int(text) > INT_MAX:
                raise self.error(location(node), f"the integer {shown(text)} is outside the 64-bit range")
            return int(text)
        if kind == "float":
            token = node.children[0]
            assert isinstance(token, Token)
            value = float(token)
            if not math.isfinite(value):
                raise self.error(location(node), f"the number {str(node.children[0])[:24]} is out of range")
            return value
        if kind == "string":
            return str(node.children[0])[1:-1]
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "name":
            token = node.children[0]
            assert isinstance(token, Token)
            return self.lookup(token, scope)
        if kind == "list":
            items = node.children[0]
            return [self.eval(c, scope, label) for c in items.children] if isinstance(items, Tree) else []
        try:
            if kind == "binop":
                return self.binop(node, scope, label)
            if kind == "neg":
                return self.negate(node, scope, label)
            if kind == "attr":
                return self.attribute(node, scope, label)
            if kind == "call":
                return self.call(node, scope, label)
        except _TooLarge as e:  # from the innermost expression that builds the tensor
            raise self.limit(location(node), str(e)) from None
        raise self.error(
            location(node), f"unsupported expression '{kind}'"
        )  # pragma: no cover - grammar and walker agree

    def need_label(self, label: _Label | None, loc: Loc, what: str) -> _Label:
        if label is None:
            raise self.error(loc, f"{what} builds a tensor; ops may only appear on the right of an assignment")
        return label

    def emit(self, op: Operation, label: str, loc: Loc) -> Operation:
        phase = self.phase
        assert phase is not None
        unique = label
        if unique in phase.labels:
            unique = f"{label}@{loc[0]}:{loc[1]}"
            n = 2
            while unique in phase.labels:
                unique = f"{label}@{loc[0]}:{loc[1]}#{n}"
                n += 1
        phase.labels.add(unique)
        self.ops += max(1, len(op.results))
        if self.ops > MAX_OPS:
            raise self.limit(loc, f"the model has more than {fmt_count(MAX_OPS)} ops, the most pimc compiles")
        op.attributes["name"] = StringAttr(unique)
        op.attributes["phase"] = phase.attr
        # an op's verifier reads only its operand and result types and its properties: ops that
        # repeat in every layer are verified once
        key = (op.name, *(v.type for v in op.operands), None, *(r.type for r in op.results), *op.properties.items())
        if key not in self.verified:
            try:
                op.verify()
            except VerifyException as e:
                raise self.error(loc, f"{unique}: {e}") from None
            self.verified.add(key)
        phase.body.append(op)
        return op

    def binop(self, node: Tree[Token], scope: _Scope, label: _Label | None) -> _Value:
        lhs_node, op_tok, rhs_node = node.children
        assert isinstance(op_tok, Token)
        child = label.nested() if label is not None else None
        lhs = self.eval(lhs_node, scope, child)
        rhs = self.eval(rhs_node, scope, child)
        sym = op_tok.value
        loc = location(op_tok)
        numbers = (int, float)
        if (
            isinstance(lhs, numbers)
            and isinstance(rhs, numbers)
            and not isinstance(lhs, bool)
            and not isinstance(rhs, bool)
        ):
            return self.arith(lhs, sym, rhs, loc)
        if not isinstance(lhs, SSAValue) or not isinstance(rhs, SSAValue):
            for value in (lhs, rhs):
                if isinstance(value, _Absent):
                    self.tensor_value(value, loc, f"operand of '{sym}'")  # raises: the cache is absent
            got = f"{self.kind_of(lhs)} and {self.kind_of(rhs)}"
            raise self.error(loc, f"'{sym}' needs two tensors or two numbers, got {got}")
        if sym == "//":
            raise self.error(loc, "'//' is integer floor division; use '/' for tensors")
        what = {"+": "add", "*": "mul", "-": "sub", "/": "div"}[sym]
        lab = self.need_label(label, loc, f"'{sym}'")
        a, b = _shape(lhs), _shape(rhs)
        out = nn.broadcast_shapes(a, b)
        if out is None:
            raise self.error(loc, f"{what} ('{sym}'): shapes {_fmt(a)} and {_fmt(b)} do not broadcast")
        self.same_dtype(loc, what, lhs, rhs)
        result_type = _tensor_type(_dtype_of(lhs), out)
        op: Operation
        if sym == "+":
            op = nn.AddOp(lhs, rhs, result_type)
        elif sym == "*":
            op = nn.MulOp(lhs, rhs, result_type)
        else:
            op = nn.OnnxOp("Sub" if sym == "-" else "Div", [lhs, rhs], [result_type])
        return self.emit(op, lab.of(what), loc).results[0]

    def arith(self, a: int | float, sym: str, b: int | float, loc: Loc) -> int | float:
        value = self._arith(a, sym, b, loc)
        if isinstance(value, int) and abs(value) > INT_MAX:
            raise self.error(loc, f"{a} {sym} {b} is outside the 64-bit integer range")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(loc, f"{a} {sym} {b} is out of range")
        return value

    def _arith(self, a: int | float, sym: str, b: int | float, loc: Loc) -> int | float:
        if sym == "+":
            return a + b
        if sym == "-":
            return a - b
        if sym == "*":
            return a * b
        if b == 0:
            raise self.error(loc, f"division by zero: {a} {sym} {b}")
        if sym == "//":
            if not isinstance(a, int) or not isinstance(b, int):
                raise self.error(loc, f"'//' needs integers, got {a} // {b}")
            return a // b
        if isinstance(a, int) and isinstance(b, int):
            if a % b != 0:
                raise self.error(loc, f"inexact division: {a} / {b} is not an integer (use '//' to round down)")
            return a // b
        return a / b

    def negate(self, node: Tree[Token], scope: _Scope, label: _Label | None) -> _Value:
        op_tok, operand = node.children
        loc = location(op_tok)
        value = self.eval(operand, scope, label.nested() if label is not None else None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
        x = self.tensor_value(value, loc, "operand of unary '-'")
        lab = self.need_label(label, loc, "unary '-'")
        return self.emit(nn.OnnxOp("Neg", [x], [x.type]), lab.of("neg"), loc).results[0]

    def attribute(self, node: Tree[Token], scope: _Scope, label: _Label | None) -> _Value:
        base, attr = node.children
        assert isinstance(attr, Token)
        loc = location(attr)
        if attr.value != "T":
            raise self.error(
                loc, f"unknown attribute '.{attr}' (the only one is '.T', the transpose of the last two dims)"
            )
        x = self.tensor_value(self.eval(base, scope, label.nested() if label is not None else None), loc, "'.T'")
        shape = _shape(x)
        if len(shape) < 2:
            raise self.error(loc, f"'.T' needs a tensor of rank >= 2, got {_fmt(shape)}")
        lab = self.need_label(label, loc, "'.T'")
        perm = [*range(len(shape) - 2), len(shape) - 1, len(shape) - 2]
        result_type = _tensor_type(_dtype_of(x), tuple(shape[p] for p in perm))
        return self.emit(nn.TransposeOp(x, perm, result_type), lab.of("transpose"), loc).results[0]

    def same_dtype(self, loc: Loc, what: str, *values: SSAValue) -> None:
        first = _dtype_of(values[0])
        if any(_dtype_of(v) != first for v in values[1:]):
            dtypes = ", ".join(str(_dtype_of(v)) for v in values)
            raise self.error(loc, f"{what}: operands have different dtypes ({dtypes})")

    # -- calls ---------------------------------------------------------------

    def call(self, node: Tree[Token], scope: _Scope, label: _Label | None) -> _Value:
        fn_tok, args = node.children
        assert isinstance(fn_tok, Token)
        fn = fn_tok.value
        loc = location(fn_tok)
        spec = _OPS.get(fn)
        if spec is None:
            raise self.error(loc, f"unknown op '{fn}'{_suggest(fn, list(_OPS))}")
        signature, builder = spec
        bound, rest = self.bind(fn, signature, args, loc)
        lab = self.need_label(label, loc, f"'{fn}'")
        return builder(_Call(self, fn, loc, scope, lab, bound, rest))

    def bind(
        self, fn: str, sig: _Signature, args: Tree[Token] | Token | None, loc: Loc
    ) -> tuple[dict[str, Tree[Token]], list[Tree[Token]]]:
        positional: list[Tree[Token]] = []
        keywords: dict[str, Tree[Token]] = {}
        for arg in args.children if isinstance(args, Tree) else []:
            assert isinstance(arg, Tree)
            if arg.data == "kwarg":
                key, expr = arg.children
                assert isinstance(key, Token) and isinstance(expr, Tree)
                if key.value not in sig.params and key.value not in sig.options:
                    known = [*sig.params, *sig.options]
                    raise self.error(
                        location(key),
                        f"{fn} has no argument '{key}'{_suggest(key.value, known)}; it takes {sig.describe(fn)}",
                    )
                if key.value in keywords:
                    raise self.error(location(key), f"{fn}: argument '{key}' given twice")
                keywords[key.value] = expr
            else:
                if keywords:
                    raise self.error(location(arg), f"{fn}: positional argument after a keyword argument")
                positional.append(arg)
        if sig.variadic:
            if not positional:
                raise self.error(loc, f"{fn} takes at least one tensor, got none; it takes {sig.describe(fn)}")
            return keywords, positional
        if len(positional) > len(sig.params):
            raise self.error(
                location(positional[len(sig.params)]),
                f"wrong number of arguments: {fn} takes at most {len(sig.params)} positional "
                f"argument{'s' if len(sig.params) > 1 else ''}, "
                f"got {len(positional)}; it takes {sig.describe(fn)}",
            )
        bound = dict(zip(sig.params, positional, strict=False))
        for key, expr in keywords.items():
            if key in bound:
                raise self.error(location(expr), f"{fn}: argument '{key}' given twice")
            bound[key] = expr
        missing = [p for p in sig.params[: sig.required] if p not in bound]
        if missing:
            raise self.error(
                loc,
                f"wrong number of arguments: {fn} needs {', '.join(repr(m) for m in missing)}; it takes {sig.describe(fn)}",
            )
        return bound, []


@dataclass
class _Call:
    """One op call being imported: typed access to its bound arguments."""

    imp: _Importer
    fn: str
    loc: Loc
    scope: _Scope
    label: _Label
    args: dict[str, Tree[Token]]
    rest: list[Tree[Token]]

    def error(self, message: str) -> ModelImportError:
        return self.imp.error(self.loc, f"{self.fn}: {message}")

    def value(self, key: str) -> _Value:
        return self.imp.eval(self.args[key], self.scope, self.label.nested())

    def tensor(self, key: str) -> SSAValue:
        return self.imp.tensor_value(self.value(key), location(self.args[key]), f"{self.fn} argument '{key}'")

    def opt_tensor(self, key: str) -> SSAValue | None:
        return self.tensor(key) if key in self.args else None

    def integer(self, key: str, default: int | None = None) -> int:
        if key not in self.args:
            if default is None:
                raise self.error(f"needs {key}=")
            return default
        value = self.value(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.imp.error(
                location(self.args[key]), f"{self.fn}: {key} must be an integer, got {self.imp.kind_of(value)}"
            )
        return value

    def number(self, key: str, default: float | None) -> float | None:
        if key not in self.args:
            return default
        value = self.value(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.imp.error(
                location(self.args[key]), f"{self.fn}: {key} must be a number, got {self.imp.kind_of(value)}"
            )
        if not abs(value) <= F32_MAX:
            raise self.imp.error(
                location(self.args[key]),
                f"{self.fn}: {key} must be a finite number of magnitude at most {F32_MAX:.3g}, got {value:.3g}",
            )
        return float(value)

    def flag(self, key: str) -> bool:
        if key not in self.args:
            return False
        value = self.value(key)
        if not isinstance(value, bool):
            got = self.imp.kind_of(value)
            raise self.imp.error(location(self.args[key]), f"{self.fn}: {key} must be true or false, got {got}")
        return value

    def string(self, key: str, default: str, choices: Sequence[str]) -> str:
        if key not in self.args:
            return default
        value = self.value(key)
        if not isinstance(value, str) or value not in choices:
            raise self.imp.error(
                location(self.args[key]), f"{self.fn}: {key} must be one of {', '.join(repr(c) for c in choices)}"
            )
        return value

    def ints(self, key: str) -> list[int]:
        value = self.value(key)
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.imp.error(
                location(self.args[key]), f"{self.fn}: {key} must be a list of integers like [0, 2, 1, 3]"
            )
        return [v for v in value if isinstance(v, int)]

    def axis(self, axis: int, rank: int) -> int:
        if not -rank <= axis < rank:
            raise self.error(f"axis {axis} is out of range for rank {rank}")
        return axis % rank

    def emit(self, op: Operation, what: str | None = None) -> SSAValue:
        """Emit the op giving the call's value: labelled `base` at the root, `base.<what>` nested."""
        return self.imp.emit(op, self.label.of(what or self.fn), self.loc).results[0]

    def emit_part(self, op: Operation, part: str) -> SSAValue:
        """Emit an inner op of a multi-op expansion (split_heads' reshape): labelled `<call label>.<part>`."""
        return self.imp.emit(op, f"{self.label.of(self.fn)}.{part}", self.loc).results[0]


# -- op builders: one per DSL function ---------------------------------------


def _linear(c: _Call) -> _Value:
    x = c.tensor("x")
    w_node = c.args["w"]
    transposed = w_node.data == "attr" and str(w_node.children[1]) == "T"
    if transposed:
        inner = w_node.children[0]
        assert isinstance(inner, Tree)
        w_value = c.imp.eval(inner, c.scope, c.label.nested())
        w = c.imp.tensor_value(w_value, location(inner), "linear argument 'w'")
        w_name = str(inner.children[0]) if inner.data == "name" else "linear"
    else:
        w = c.tensor("w")
        w_name = str(w_node.children[0]) if w_node.data == "name" else "linear"
    bias = c.opt_tensor("bias")
    xs, ws = _shape(x), _shape(w)
    if len(ws) != 2:
        raise c.error(f"the weight must be 2-D, got {_fmt(ws)}")
    if len(xs) == 0:
        raise c.error("the input must have at least one dim")
    k, n = (ws[1], ws[0]) if transposed else (ws[0], ws[1])
    layout = "[out, in] (w.T)" if transposed else "[in, out]"
    if xs[-1] != k:
        raise c.error(f"input {_fmt(xs)} and weight {_fmt(ws)} {layout} do not match: {xs[-1]} != {k}")
    if bias is not None and _shape(bias) not in ((n,), (1, n)):
        raise c.error(f"bias {_fmt(_shape(bias))} should be [{n}]")
    c.imp.same_dtype(c.loc, "linear", x, w, *([bias] if bias is not None else []))
    result_type = _tensor_type(_dtype_of(x), (*xs[:-1], n))
    return c.emit(nn.LinearOp(x, w, bias, result_type, transpose_w=transposed), w_name)


def _matmul(c: _Call) -> _Value:
    a, b = c.tensor("a"), c.tensor("b")
    out = nn.matmul_shape(_shape(a), _shape(b))
    if out is None:
        raise c.error(f"shapes {_fmt(_shape(a))} and {_fmt(_shape(b))} do not contract")
    c.imp.same_dtype(c.loc, "matmul", a, b)
    return c.emit(nn.MatMulOp(a, b, _tensor_type(_dtype_of(a), out)))


def _softmax(c: _Call) -> _Value:
    x = c.tensor("x")
    axis = c.integer("axis", -1)
    c.axis(axis, len(_shape(x)))
    return c.emit(nn.SoftmaxOp(x, axis))


def _attention(c: _Call) -> _Value:
    q, k, v = c.tensor("q"), c.tensor("k"), c.tensor("v")
    mask = c.opt_tensor("mask")
    qs, ks, vs = _shape(q), _shape(k), _shape(v)
    if not (len(qs) == len(ks) == len(vs) == 4):
        raise c.error(
            f"q, k, v must be 4-D [batch, heads, seq, head_dim], got q {_fmt(qs)}, k {_fmt(ks)}, v {_fmt(vs)}"
        )
    if ks[:3] != vs[:3] or ks[0] != qs[0] or ks[3] != qs[3]:
        raise c.error(f"shapes do not agree: q {_fmt(qs)}, k {_fmt(ks)}, v {_fmt(vs)}")
    if ks[1] == 0 or qs[1] % ks[1] != 0:
        raise c.error(f"the query heads ({qs[1]}) are not a multiple of the key/value heads ({ks[1]})")
    if mask is not None:
        scores = (qs[0], qs[1], qs[2], ks[2])
        if nn.broadcast_shapes(scores, _shape(mask)) != scores:
            raise c.error(f"mask {_fmt(_shape(mask))} does not broadcast to the scores {_fmt(scores)}")
    c.imp.same_dtype(c.loc, "attention", q, k, v)
    scale = c.number("scale", 1.0 / math.sqrt(qs[3]))
    assert scale is not None
    return c.emit(
        nn.AttentionOp(q, k, v, mask, scale=scale, causal=c.flag("causal"), mask_fill=c.number("mask_fill", None))
    )


def _rms_norm(c: _Call) -> _Value:
    x, scale = c.tensor("x"), c.tensor("scale")
    xs = _shape(x)
    if len(xs) == 0 or nn.broadcast_shapes(xs, _shape(scale)) != xs:
        raise c.error(f"scale {_fmt(_shape(scale))} does not broadcast to the input {_fmt(xs)}")
    eps = c.number("eps", 1e-6)
    assert eps is not None
    return c.emit(nn.RmsNormOp(x, scale, x.type, epsilon=eps))


def _layer_norm(c: _Call) -> _Value:
    x, scale = c.tensor("x"), c.tensor("scale")
    bias = c.opt_tensor("bias")
    xs = _shape(x)
    axis = c.axis(c.integer("axis", -1), len(xs))
    normalized = xs[axis:]
    for what, value in (("scale", scale), ("bias", bias)):
        if value is not None and nn.broadcast_shapes(normalized, _shape(value)) != normalized:
            raise c.error(f"{what} {_fmt(_shape(value))} does not broadcast to the normalised dims {_fmt(normalized)}")
    eps = c.number("eps", 1e-5)
    assert eps is not None
    return c.emit(nn.LayerNormOp(x, scale, bias, axis=axis - len(xs), epsilon=eps))


def _gelu(c: _Call) -> _Value:
    x = c.tensor("x")
    return c.emit(nn.GeluOp(x, c.string("approximate", "none", ("none", "tanh"))))


def _silu(c: _Call) -> _Value:
    return c.emit(nn.SiluOp(c.tensor("x")))


def _rotary(c: _Call) -> _Value:
    x, cos, sin = c.tensor("x"), c.tensor("cos"), c.tensor("sin")
    xs = _shape(x)
    if len(xs) == 0 or xs[-1] % 2 != 0:
        raise c.error(f"needs an even last dim, got {_fmt(xs)}")
    for what, value in (("cos", cos), ("sin", sin)):
        if nn.broadcast_shapes(xs, _shape(value)) != xs:
            raise c.error(f"{what} {_fmt(_shape(value))} does not broadcast to the input {_fmt(xs)}")
    return c.emit(nn.RotaryOp(x, cos, sin))


def _kv_append(c: _Call) -> _Value:
    cache_value = c.value("cache")
    new = c.tensor("new")
    axis = c.integer("axis", -2)
    if isinstance(cache_value, _Absent):
        return new  # no past in this phase: the cache after the step is just the new keys/values
    cache = c.imp.tensor_value(cache_value, location(c.args["cache"]), "kv_append argument 'cache'")
    cs, ns = _shape(cache), _shape(new)
    a = c.axis(axis, len(cs))
    if len(ns) != len(cs) or any(cs[i] != ns[i] for i in range(len(cs)) if i != a):
        raise c.error(f"cache {_fmt(cs)} and new {_fmt(ns)} differ outside axis {axis}")
    c.imp.same_dtype(c.loc, "kv_append", cache, new)
    out = [cs[i] + ns[i] if i == a else cs[i] for i in range(len(cs))]
    return c.emit(nn.KvAppendOp(cache, new, _tensor_type(_dtype_of(cache), tuple(out)), axis))


def _embedding(c: _Call) -> _Value:
    table, ids = c.tensor("table"), c.tensor("ids")
    ts = _shape(table)
    if len(ts) == 0:
        raise c.error("the table must have at least one dim")
    if not isinstance(_dtype_of(ids), IntegerType):
        raise c.error(f"ids must be integers, got {_dtype_of(ids)}")
    out = [*_shape(ids), *ts[1:]]
    return c.emit(nn.GatherOp(table, ids, 0, _tensor_type(_dtype_of(table), tuple(out))))


def _split_heads(c: _Call) -> _Value:
    x = c.tensor("x")
    n = c.integer("heads")
    xs = _shape(x)
    if len(xs) != 3:
        raise c.error(f"needs a 3-D input [batch, seq, heads * head_dim], got {_fmt(xs)}")
    if n <= 0 or xs[2] % n != 0:
        raise c.error(f"the last dim {xs[2]} of {_fmt(xs)} is not a multiple of {n} heads")
    b, s, d = xs[0], xs[1], xs[2] // n
    dtype = _dtype_of(x)
    r = c.emit_part(nn.ReshapeOp(x, _tensor_type(dtype, (b, s, n, d))), "reshape")
    return c.emit(nn.TransposeOp(r, [0, 2, 1, 3], _tensor_type(dtype, (b, n, s, d))))


def _merge_heads(c: _Call) -> _Value:
    x = c.tensor("x")
    xs = _shape(x)
    if len(xs) != 4:
        raise c.error(f"needs a 4-D input [batch, heads, seq, head_dim], got {_fmt(xs)}")
    b, n, s, d = xs
    dtype = _dtype_of(x)
    t = c.emit_part(nn.TransposeOp(x, [0, 2, 1, 3], _tensor_type(dtype, (b, s, n, d))), "transpose")
    return c.emit(nn.ReshapeOp(t, _tensor_type(dtype, (b, s, n * d))))


def _reshape(c: _Call) -> _Value:
    x = c.tensor("x")
    shape = c.ints("shape")
    xs = _shape(x)
    total = math.prod(xs)
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise c.error(f"shape {_fmt(shape)} may hold one -1 and otherwise dims >= 0")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or total % known != 0:
            raise c.error(f"cannot infer the -1 in {_fmt(shape)} from {_fmt(xs)} ({total} elements)")
        shape = [total // known if d == -1 else d for d in shape]
    if math.prod(shape) != total:
        raise c.error(f"cannot reshape {_fmt(xs)} ({total} elements) to {_fmt(shape)} ({math.prod(shape)} elements)")
    return c.emit(nn.ReshapeOp(x, _tensor_type(_dtype_of(x), tuple(shape))))


def _transpose(c: _Call) -> _Value:
    x = c.tensor("x")
    perm = c.ints("perm")
    xs = _shape(x)
    if sorted(perm) != list(range(len(xs))):
        raise c.error(f"perm {_fmt(perm)} is not a permutation of the {len(xs)} dims of {_fmt(xs)}")
    return c.emit(nn.TransposeOp(x, perm, _tensor_type(_dtype_of(x), tuple(xs[p] for p in perm))))


def _concat(c: _Call) -> _Value:
    values = [
        c.imp.tensor_value(c.imp.eval(n, c.scope, c.label.nested()), location(n), "concat argument") for n in c.rest
    ]
    shapes = [_shape(v) for v in values]
    rank = len(shapes[0])
    axis = c.axis(c.integer("axis"), rank)
    for s in shapes[1:]:
        if len(s) != rank or any(s[i] != shapes[0][i] for i in range(rank) if i != axis):
            raise c.error(f"shapes {', '.join(_fmt(s) for s in shapes)} differ outside axis {axis}")
    c.imp.same_dtype(c.loc, "concat", *values)
    out = [sum(s[axis] for s in shapes) if i == axis else shapes[0][i] for i in range(rank)]
    return c.emit(nn.ConcatOp(values, axis, _tensor_type(_dtype_of(values[0]), tuple(out))))


def _split(c: _Call) -> _Value:
    x = c.tensor("x")
    parts = c.integer("parts")
    xs = _shape(x)
    axis = c.axis(c.integer("axis", -1), len(xs))
    if parts <= 0 or xs[axis] % parts != 0:
        raise c.error(f"dim {axis} of {_fmt(xs)} does not split into {parts} equal parts")
    if parts > MAX_OPS:
        raise c.error(f"{parts} parts: pimc builds at most {fmt_count(MAX_OPS)} ops and results")
    piece = _tensor_type(_dtype_of(x), tuple(d // parts if i == axis else d for i, d in enumerate(xs)))
    attrs: dict[str, Attribute] = {"axis": IntegerAttr(axis, 64), "num_outputs": IntegerAttr(parts, 64)}
    op = c.imp.emit(nn.OnnxOp("Split", [x], [piece] * parts, attrs), c.label.of("split"), c.loc)
    return tuple(op.results)


def _moe_gate(c: _Call) -> _Value:
    logits = c.tensor("logits")
    ls = _shape(logits)
    if len(ls) == 0:
        raise c.error("the logits need at least one dim (the experts)")
    top_k = c.integer("top_k")
    if not 1 <= top_k <= ls[-1]:
        raise c.error(f"top_k {top_k} must be between 1 and the {ls[-1]} experts of the logits {_fmt(ls)}")
    scoring = c.string("scoring", "softmax", nn.MOE_SCORINGS)
    scale = c.number("scale", 1.0)
    assert scale is not None
    op = nn.MoeGateOp(logits, top_k, scoring=scoring, normalize=c.flag("normalize"), scale=scale)
    return tuple(c.imp.emit(op, c.label.of("moe_gate"), c.loc).results)


def _slice(c: _Call) -> _Value:
    x = c.tensor("x")
    xs = _shape(x)
    axis = c.axis(c.integer("axis", -1), len(xs))
    start, end = c.integer("start"), c.integer("end")
    if not 0 <= start < end <= xs[axis]:
        raise c.error(f"[{start}, {end}) is not a non-empty range of dim {axis} of {_fmt(xs)}")
    out = tuple(end - start if i == axis else d for i, d in enumerate(xs))
    consts = [
        c.emit_part(nn.ConstantOp(DenseIntOrFPElementsAttr.from_list(TensorType(i64, [1]), [v])), part)
        for v, part in ((start, "starts"), (end, "ends"), (axis, "axes"))
    ]
    return c.emit(nn.OnnxOp("Slice", [x, *consts], [_tensor_type(_dtype_of(x), out)]))


def _unary(onnx_type: str) -> Callable[[_Call], _Value]:
    def build(c: _Call) -> _Value:
        x = c.tensor("x")
        return c.emit(nn.OnnxOp(onnx_type, [x], [x.type]))

    return build


_OPS: dict[str, tuple[_Signature, Callable[[_Call], _Value]]] = {
    "linear": (_Signature(("x", "w", "bias"), 2), _linear),
    "matmul": (_Signature(("a", "b"), 2), _matmul),
    "softmax": (_Signature(("x",), 1, ("axis",)), _softmax),
    "attention": (_Signature(("q", "k", "v", "mask"), 3, ("causal", "scale", "mask_fill")), _attention),
    "rms_norm": (_Signature(("x", "scale"), 2, ("eps",)), _rms_norm),
    "layer_norm": (_Signature(("x", "scale", "bias"), 2, ("eps", "axis")), _layer_norm),
    "gelu": (_Signature(("x",), 1, ("approximate",)), _gelu),
    "silu": (_Signature(("x",), 1), _silu),
    "rotary": (_Signature(("x", "cos", "sin"), 3), _rotary),
    "kv_append": (_Signature(("cache", "new"), 2, ("axis",)), _kv_append),
    "embedding": (_Signature(("table", "ids"), 2), _embedding),
    "split_heads": (_Signature(("x", "heads"), 2), _split_heads),
    "merge_heads": (_Signature(("x",), 1), _merge_heads),
    "reshape": (_Signature(("x", "shape"), 2), _reshape),
    "transpose": (_Signature(("x", "perm"), 2), _transpose),
    "concat": (_Signature((), 0, ("axis",), variadic=True), _concat),
    "split": (_Signature(("x", "parts"), 2, ("axis",)), _split),
    "slice": (_Signature(("x", "start", "end"), 3, ("axis",)), _slice),
    "moe_gate": (_Signature(("logits",), 1, ("top_k", "scoring", "normalize", "scale")), _moe_gate),
    **{fn: (_Signature(("x",), 1), _unary(onnx_type)) for fn, onnx_type in UNARY_ONNX.items()},
}
"""The DSL's functions: name -> (signature, builder)."""


# -- entry points --------------------------------------------------------------


def import_dsl_text(
    text: str, source: str, dims: dict[str, str] | None = None, expert_load: ExpertLoad | None = None
) -> ModuleOp:
    """Import DSL source `text`; `source` names it in errors (and gives the model name without a `model` line).
    `expert_load` is the routing distribution of the `route` statements (default uniform)."""
    src = Source(text, source)
    try:
        tree = parse(src)
        importer = _Importer(tree, src, dict(dims or {}), expert_load or ExpertLoad())
        module = importer.run()
        if expert_load is not None and not importer.routed:
            raise ModelImportError(
                f"{source}: --expert-load {expert_load} given, but the model has no route (MoE) layer"
            )
        return module
    except RecursionError:
        raise ModelImportError(f"{source}: expressions are nested too deeply") from None


def import_dsl(path: str | Path, dims: dict[str, str] | None = None, expert_load: ExpertLoad | None = None) -> ModuleOp:
    """Load a `.pim` file and return a module with one `func.func` per phase (`@prefill`, `@decode`).

    `dims` overrides parameters by name (`--dim batch=8` gives {"batch": "8"}), including `dtype`.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ModelImportError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    return import_dsl_text(text, str(path), dims, expert_load)
