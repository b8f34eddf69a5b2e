"""The `pimc` command line: compile, run, validate, sweep, serve, opt, systems.

Errors caused by the input are printed as one line, `pimc: error: ...`, with exit
status 1; no traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pimc.errors import PimcError
from pimc.limits import MAX_SUB_BATCHES

"""The most interleaved sub-batches `--sub-batches` may ask for (NeuPIMs interleaves 2)."""


class _UsageError(PimcError):
    """A malformed command line (unknown option, missing or ill-typed value)."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are a PimcError: one `pimc: error: ...` line and status 1, like every other."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("pimc").strip()
        raise _UsageError(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")


def _number(text: str, minimum: float, integer: bool, above: bool = False, maximum: float | None = None) -> float:
    """A command-line number, finite and in range; argparse reports the ArgumentTypeError with the option."""
    kind = "an integer" if integer else "a finite number"
    try:
        value: float = int(text) if integer else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
    if value < minimum or (above and value == minimum):
        raise argparse.ArgumentTypeError(f"must be {'>' if above else '>='} {minimum:g}, got {text}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum:g}, got {text}")
    return value


def _output_dir(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("the output directory is an empty path")
    return Path(text)


def _positive_float(maximum: float):
    return lambda text: _number(text, 0.0, integer=False, above=True, maximum=maximum)


def _nonnegative_float(maximum: float):
    return lambda text: _number(text, 0.0, integer=False, maximum=maximum)


def _int_in(minimum: int, maximum: int | None = None):
    return lambda text: int(_number(text, minimum, integer=True, maximum=maximum))


class _Status:
    """One status line on stderr, rewritten as a compile goes through its stages (on a terminal only: a pipe
    or a file gets nothing), cleared before anything else is printed."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False
        self.start = time.monotonic()

    def stage(self, name: str) -> None:
        if not self.enabled:
            return
        sys.stderr.write(f"\r\x1b[Kpimc: {name} ({time.monotonic() - self.start:.1f} s)")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


def _dims(args: argparse.Namespace) -> dict[str, str]:
    """The --dim bindings, with --expert-load carried as the `expert_load` dim (compiler/driver.py)."""
    from pimc.compiler.driver import EXPERT_LOAD_DIM, parse_dims

    dims = parse_dims(args.dim)
    load = getattr(args, "expert_load", None)
    if load is not None:
        if EXPERT_LOAD_DIM in dims:
            raise PimcError("--expert-load and --dim expert_load= both given; give one")
        dims[EXPERT_LOAD_DIM] = load
    return dims


def _expert_load_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--expert-load",
        default=None,
        metavar="DIST",
        help="routing distribution of the model's MoE (route) layers: uniform (default) or zipf:S, expert 0 the "
        "hottest; each expert is compiled at the tokens it receives",
    )


def _cmd_compile(args: argparse.Namespace) -> int:
    from pimc.compiler.driver import compile_model, compile_pipeline, parse_emit, write_outputs
    from pimc.targets.emit.table import format_table
    from pimc.targets.system import load_system

    if args.print_pipeline:
        print(
            compile_pipeline(
                args.system,
                args.strategy,
                args.dtype,
                args.sub_batches,
                args.papi_threshold,
                not args.no_baselines,
                args.tp or 1,
            )
        )
        chips = load_system(args.system).chips
        if args.tp is None and chips > 1:
            print(
                f"pimc: note: system {args.system} has {chips} chips: without --tp the "
                "compile tries every degree that divides them and keeps the fastest (this is --tp 1)",
                file=sys.stderr,
            )
        notes = []  # what the pipeline alone does not reproduce: how the model is imported, the report's option
        if args.sub_batches > 1:
            notes.append(f"the model is imported at --dim batch=B/{args.sub_batches} (one sub-batch)")
        if args.speculate is not None:
            notes.append(
                f"the model is imported at --dim speculate={args.speculate}, and the report and table "
                f"targets take tokens_per_step={args.speculate}"
            )
        for note in notes:
            print(f"pimc: note: {note}", file=sys.stderr)
        return 0

    status = _Status(enabled=not args.quiet and sys.stderr.isatty())
    try:
        result = compile_model(
            args.model,
            system=args.system,
            strategy=args.strategy,
            dims=_dims(args),
            dtype=args.dtype,
            speculate=args.speculate,
            sub_batches=args.sub_batches,
            papi_threshold=args.papi_threshold,
            baselines=not args.no_baselines,
            emit=parse_emit(args.emit),
            background=True,
            progress=status.stage,
            tp=args.tp,
        )
        status.stage("writing the outputs")
        table = None if args.quiet else format_table(result.report, top=args.top)
        files = write_outputs(result, args.output)
    finally:
        status.clear()
    for warning in result.warnings:
        print(f"pimc: warning: {warning}", file=sys.stderr)
    if table is not None:
        print(table)
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from pimc.compiler.driver import compile_model, write_files
    from pimc.compiler.validate import format_validation, validate_module

    status = _Status(enabled=sys.stderr.isatty())
    try:
        result = compile_model(
            args.model,
            system=args.system,
            strategy=args.strategy,
            dims=_dims(args),
            dtype=args.dtype,
            speculate=args.speculate,
            sub_batches=args.sub_batches,
            baselines=False,
            emit=[],
            progress=status.stage,
        )
        assert result.system is not None
        checked = validate_module(
            result.module,
            result.report["model"],
            result.system,
            {"aim": args.aim_sim, "attacc": args.attacc_sim},
            attacc_mode=args.attacc_mode,
            jobs=args.jobs,
            progress=status.stage,
        )
    finally:
        status.clear()
    for warning in result.warnings:
        print(f"pimc: warning: {warning}", file=sys.stderr)
    print(format_validation(checked))
    if args.output is not None:
        files = write_files({"validate.json": checked.to_json()}, args.output)
        print("wrote " + ", ".join(str(f) for f in files))
    if args.max_error is not None and not checked.max_abs_error <= args.max_error:
        print(
            f"pimc: error: max |error| {100 * checked.max_abs_error:.1f}% exceeds --max-error "
            f"{100 * args.max_error:g}%",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_systems(args: argparse.Namespace) -> int:
    from pimc.targets.system import describe_system, load_system, preset_names

    if args.name:
        print(describe_system(load_system(args.name)))
        return 0
    for name in preset_names():
        system = load_system(name)
        devices = ", ".join(f"{d.name} ({d.kind})" for d in system.devices.values())
        print(f"{name:10s} {system.description}  [{devices}]")
    return 0


def _cmd_opt(argv: Sequence[str]) -> int:
    """`pimc opt ARGS`: xDSL's opt driver with pimc's frontends, passes and targets (compiler/opt.py)."""
    from pimc.compiler.opt import PimcOptMain

    PimcOptMain(argv, parser=_Parser).run()
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from pimc.compiler.run import format_run, run_model

    result = run_model(args.model, args.system, args.strategy, _dims(args), args.inputs, args.seed)
    print(format_run(result))
    if args.tolerance is not None and not result.max_error() <= args.tolerance:  # NaN fails too
        print(
            f"pimc: error: max abs error {result.max_error():.6g} exceeds --tolerance {args.tolerance:g}",
            file=sys.stderr,
        )
        return 1
    return 0


def _system_and_strategy(p: argparse.ArgumentParser) -> None:
    """--system and --strategy, as compile, run and validate take them."""
    from pimc.targets.placement.strategies import STRATEGIES
    from pimc.targets.system import DEFAULT_SYSTEM

    p.add_argument("--system", default=DEFAULT_SYSTEM, help="preset name (see `pimc systems`) or TOML file")
    p.add_argument(
        "--strategy",
        default="optimal",
        choices=STRATEGIES,
        metavar="NAME",
        help=f"partition strategy (default optimal): {', '.join(STRATEGIES)}",
    )


def build_parser() -> argparse.ArgumentParser:
    from pimc.targets.dtypes import DEFAULT_DTYPE, DTYPES

    parser = _Parser(prog="pimc", description=(__doc__ or "").partition("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser(
        "compile",
        help="compile a model for a system; write report.json, plan.mlir, command traces, timeline.json, roofline.png",
    )
    c.add_argument("model", help="model file (.onnx, or .pim in pimc's DSL)")
    _system_and_strategy(c)
    c.add_argument(
        "--speculate",
        type=_int_in(1),
        default=None,
        metavar="N",
        help="tokens each decode step verifies (speculative decoding; a DSL model's `speculate` parameter)",
    )
    c.add_argument(
        "--sub-batches",
        type=_int_in(1, MAX_SUB_BATCHES),
        default=1,
        metavar="K",
        help="split --dim batch into K interleaved sub-batches (NeuPIMs), default 1",
    )
    c.add_argument(
        "--papi-threshold",
        type=_positive_float(1e15),
        default=None,
        metavar="TOKENS",
        help="PAPI: FCs over fewer tokens go to FC-PIM (default: the xPU's ridge point in tokens)",
    )
    c.add_argument(
        "--tp",
        type=_int_in(1, 2**16),
        default=None,
        metavar="N",
        help="tensor-parallel degree over the system's chips (Megatron-LM's split); default: every divisor of the "
        "chips is tried and the least latency kept",
    )
    c.add_argument("--no-baselines", action="store_true", help="skip the gpu-only/npu-only/pim-only comparison")
    c.add_argument(
        "--dim",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="bind a symbolic ONNX dim or override a DSL parameter (repeatable), e.g. --dim batch=8",
    )
    _expert_load_arg(c)
    c.add_argument(
        "--dtype",
        choices=DTYPES,
        default=None,
        help=f"deployment precision every byte and FLOP is costed at (default {DEFAULT_DTYPE})",
    )
    c.add_argument(
        "--emit",
        default=None,
        metavar="FORMATS",
        help="command traces to write, comma-separated: aim (pim.aim.trace, AiM simulator), attacc "
        "(pim.attacc.trace, AttAcc simulator); default: those of the system's PIM devices",
    )
    c.add_argument("-o", "--output", default="out", type=_output_dir, help="output directory (default: out)")
    c.add_argument(
        "--top",
        type=_int_in(0),
        default=None,
        metavar="N",
        help="table rows: the N slowest ops (0: every op; default: every op up to 100, else the 25 slowest)",
    )
    c.add_argument(
        "--quiet", action="store_true", help="print no table and no summary, only warnings and the files written"
    )
    c.add_argument(
        "--print-pipeline",
        action="store_true",
        help="print the pass pipeline this compile runs (for `xdsl-opt -p` / `pimc opt -p`) and exit",
    )
    c.set_defaults(func=_cmd_compile)

    # `pimc opt` has xdsl-opt's own arguments (main hands them to compiler/opt.py); listed here for --help
    sub.add_parser(
        "opt",
        help="xdsl-opt with pimc's frontends (.onnx, .pim, .mlir), passes and targets: run a pass "
        "pipeline (-p) and print the IR or a target's output (-t); `pimc opt -h` lists all",
    )

    r = sub.add_parser(
        "run",
        help="execute the compiled plan (PIM ops from their command streams on an emulator) "
        "and compare with onnxruntime",
    )
    r.add_argument("model", help="ONNX model with its weights")
    _system_and_strategy(r)
    r.add_argument(
        "--inputs",
        type=Path,
        default=None,
        metavar="FILE.npz",
        help="graph inputs keyed by name (default: seeded random inputs)",
    )
    r.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=0, help="seed of the random inputs (default 0)")
    r.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="as for compile")
    _expert_load_arg(r)
    r.add_argument(
        "--tolerance",
        type=_nonnegative_float(1e300),
        default=None,
        metavar="T",
        help="exit with status 1 when the max abs error exceeds T",
    )
    r.set_defaults(func=_cmd_run)

    v = sub.add_parser(
        "validate",
        help="compile a model, run its PIM traces in the real simulators (whole and per op) and compare "
        "pimc's timing with theirs",
    )
    v.add_argument("model", help="model file (.onnx, or .pim in pimc's DSL)")
    _system_and_strategy(v)
    v.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="as for compile")
    _expert_load_arg(v)
    v.add_argument("--dtype", choices=DTYPES, default=None, help="as for compile")
    v.add_argument("--speculate", type=_int_in(1), default=None, metavar="N", help="as for compile")
    v.add_argument("--sub-batches", type=_int_in(1, MAX_SUB_BATCHES), default=1, metavar="K", help="as for compile")
    v.add_argument(
        "--aim-sim",
        default=None,
        metavar="CMD",
        help="the AiM trace simulator: a command `CMD TRACE LOG` printing memory_system_cycles "
        "(default: $PIMC_AIM_SIM)",
    )
    v.add_argument(
        "--attacc-sim",
        default=None,
        metavar="CMD",
        help="AttAcc's Ramulator 2: a command `CMD TRACE MODE LOG` printing memory_system_cycles "
        "(default: $PIMC_ATTACC_SIM)",
    )
    v.add_argument(
        "--attacc-mode",
        choices=("npc", "pc"),
        default="npc",
        help="AttAcc timing: npc (no power constraint, as the hbm3-pim preset; default) or pc (power-limited)",
    )
    v.add_argument(
        "--jobs", type=_int_in(1, 256), default=None, metavar="N", help="simulator runs at once (default: cores)"
    )
    v.add_argument(
        "--max-error",
        type=_nonnegative_float(1e300),
        default=None,
        metavar="F",
        help="exit with status 1 when an op's or a whole trace's |error| exceeds F (0.1 = 10%%)",
    )
    v.add_argument(
        "-o", "--output", default=None, type=_output_dir, help="directory to write validate.json into (default: none)"
    )
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("systems", help="list the bundled system presets, or describe one")
    s.add_argument("name", nargs="?", help="a preset name or TOML file to describe in full")
    s.set_defaults(func=_cmd_systems)

    w = sub.add_parser("sweep", help="compile a model over systems x dim values; write sweep.csv and sweep.png")
    w.add_argument("model", help="model file (.onnx, or .pim in pimc's DSL)")
    w.add_argument(
        "--system",
        action="append",
        required=True,
        metavar="SYSTEM[:STRATEGY]",
        help="preset name or TOML file (repeatable), optionally with its own strategy, e.g. attacc:gpu-only",
    )
    w.add_argument(
        "--dim",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="values to sweep a dim or DSL parameter over (repeatable; every combination is compiled), "
        "e.g. --dim batch=1,4,16,64",
    )
    w.add_argument("--strategy", default="optimal", help="partition strategy (default: optimal)")
    w.add_argument("--dtype", choices=DTYPES, default=None, help=f"as for compile (default {DEFAULT_DTYPE})")
    w.add_argument(
        "--speculate",
        type=_int_in(1),
        default=None,
        metavar="N",
        help="tokens per decode step, as for compile (default 1)",
    )
    w.add_argument("-o", "--output", default="sweep", type=_output_dir, help="output directory (default: sweep)")
    w.set_defaults(func=_cmd_sweep)

    v = sub.add_parser(
        "serve",
        help="simulate a serving engine (continuous batching, paged KV cache, chunked prefill) on a stream of "
        "requests; write summary.json, requests.csv, iterations.csv, serve.png",
    )
    v.add_argument("model", help="model in pimc's DSL (.pim) with batch, speculate and past parameters")
    _system_and_strategy(v)
    v.add_argument("--dtype", choices=DTYPES, default=None, help=f"as for compile (default {DEFAULT_DTYPE})")
    v.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="override a DSL parameter")
    _expert_load_arg(v)
    v.add_argument(
        "--tp",
        type=_int_in(1, 2**16),
        default=None,
        metavar="N",
        help="tensor-parallel degree; chips / N replicas serve the requests in turn (default: the smallest "
        "degree the model fits)",
    )
    load = v.add_mutually_exclusive_group(required=True)
    load.add_argument(
        "--requests",
        type=Path,
        metavar="FILE.csv",
        help="requests, one per row: prompt_len, output_len and optionally arrival_s",
    )
    load.add_argument(
        "--rate",
        type=_rates,
        metavar="R[,R...]",
        help="Poisson arrivals at R requests/s (inf: all at once); a list simulates each rate",
    )
    v.add_argument(
        "--num-requests", type=_int_in(1, 10_000_000), default=1000, metavar="N", help="with --rate (default 1000)"
    )
    v.add_argument(
        "--prompt-len",
        default="uniform:64:1024",
        metavar="DIST",
        help="N, uniform:LO:HI, normal:MEAN:STD or exp:MEAN tokens (default uniform:64:1024)",
    )
    v.add_argument(
        "--output-len", default="uniform:16:512", metavar="DIST", help="as --prompt-len (default uniform:16:512)"
    )
    v.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=0, help="seed of lengths and arrivals (default 0)")
    v.add_argument(
        "--max-batch",
        type=_int_in(1, 65536),
        default=256,
        metavar="N",
        help="most requests running at once (default 256)",
    )
    v.add_argument(
        "--max-tokens",
        type=_int_in(1, 1 << 20),
        default=2048,
        metavar="N",
        help="token budget of an iteration (default 2048)",
    )
    v.add_argument(
        "--page-tokens",
        type=_int_in(1, 1 << 16),
        default=16,
        metavar="N",
        help="positions per KV-cache page (default 16)",
    )
    v.add_argument(
        "--kv-pages",
        type=_int_in(1, 1 << 40),
        default=None,
        metavar="N",
        help="KV-cache pages (default: what the memories hold beside weights and activations)",
    )
    v.add_argument(
        "--no-chunked-prefill",
        action="store_true",
        help="prefill whole prompts in iterations of their own before any decode (vLLM v0)",
    )
    v.add_argument("--slo-ttft", type=_positive_float(1e15), default=None, metavar="MS", help="TTFT SLO for goodput")
    v.add_argument("--slo-tpot", type=_positive_float(1e15), default=None, metavar="MS", help="TPOT SLO for goodput")
    v.add_argument(
        "--slo-e2e", type=_positive_float(1e15), default=None, metavar="S", help="end-to-end SLO for goodput"
    )
    v.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where compiled step costs are kept (default $PIMC_CACHE_DIR or ~/.cache/pimc)",
    )
    v.add_argument("--no-cache", action="store_true", help="compile every step shape afresh, keep nothing")
    v.add_argument("-o", "--output", default="serve", type=_output_dir, help="output directory (default: serve)")
    v.set_defaults(func=_cmd_serve)
    return parser


def _rates(text: str) -> list[float]:
    rates = []
    for item in text.split(","):
        item = item.strip()
        try:
            rate = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected rates in requests/s, e.g. 1,4,16 or inf; got {text!r}"
            ) from None
        if not rate > 0:  # NaN too
            raise argparse.ArgumentTypeError(f"a rate must be > 0, got {item}")
        rates.append(rate)
    if len(set(rates)) != len(rates):
        raise argparse.ArgumentTypeError(f"a rate is given twice in {text!r}")
    return rates


def _cmd_serve(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pimc.compiler import serve
    from pimc.compiler.driver import write_files
    from pimc.compiler.step_costs import StepShape, default_cache_dir

    dims = _dims(args)
    prompt = serve.parse_dist(args.prompt_len, "--prompt-len")
    output = serve.parse_dist(args.output_len, "--output-len")
    if args.requests is not None:
        workload = serve.read_workload(args.requests)
        if workload.arrival_s is None:
            raise PimcError(f"{args.requests}: no arrival_s column; give it, or lengths only with --rate")
    else:
        workload = serve.synthetic_workload(args.num_requests, prompt, output, args.seed)
    slo = serve.Slo(args.slo_ttft, args.slo_tpot, args.slo_e2e)
    bar = tqdm(
        total=len(workload.prompt) * (len(args.rate) if args.rate else 1),
        unit="req",
        disable=None,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )

    def advance(finished: int) -> None:
        bar.update(finished)

    def on_compile(shape: StepShape) -> None:
        bar.set_postfix_str(f"compiling {shape.key}", refresh=True)

    try:
        su = serve.setup(
            args.model,
            args.system,
            args.strategy,
            dims,
            args.dtype,
            args.tp,
            args.max_batch,
            args.max_tokens,
            args.page_tokens,
            args.kv_pages,
            not args.no_chunked_prefill,
            None if args.no_cache else (args.cache_dir or default_cache_dir()),
            on_compile,
        )
        runs = serve.serve_runs(su, workload, args.rate, args.seed, slo, advance)
    finally:
        bar.close()
    about = {
        "model": str(args.model),
        "system": args.system,
        "strategy": args.strategy,
        "workload": {
            "source": workload.source,
            "prompt_len": args.prompt_len if args.rate else None,
            "output_len": args.output_len if args.rate else None,
            "seed": args.seed,
        },
    }
    files = serve.output_files(su, runs, about)
    print(
        f"{args.model} on {args.system} ({args.strategy}), tp {su.tp} x {su.replicas} replicas, "
        f"{su.config.pages} KV pages of {su.config.page_tokens}; {su.costs.compiled} step shapes compiled"
    )
    print(serve.format_table([(label, s) for label, _, s in runs]))
    written = write_files(files, args.output)
    print("wrote " + ", ".join(str(f) for f in written))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pimc.compiler.sweep import format_sweep_table, parse_sweep_dims, run_sweep, write_sweep

    dims = parse_sweep_dims(args.dim)
    if not dims:
        raise PimcError("sweep: give at least one --dim NAME=V1,V2,... to sweep over")
    rows = run_sweep(args.model, args.system, dims, args.strategy, args.dtype, args.speculate)
    for row in rows:
        if row["error"]:
            point = " ".join(f"{name}={row[name]}" for name in dims)
            print(f"pimc: warning: {row['system']} {point}: {row['error']}", file=sys.stderr)
    if all(row["error"] for row in rows):
        raise PimcError("sweep: no point compiled")
    files = write_sweep(rows, args.output)
    print(format_sweep_table(rows))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def _one_line(text: str, keep: str = " ") -> str:
    """`text` on one line: line breaks and other control characters (from a file name, an ONNX node name, a
    TOML key) are escaped, but for those in `keep`."""
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def format_error(e: BaseException) -> str:
    """What the CLI prints for an error: `pimc: error: <message>` on one line, then the error's context lines
    (a DSL error's source line and caret, `PimcError.context_lines`), if any."""
    lines = str(e).split("\n")
    n = min(getattr(e, "context_lines", 0), len(lines) - 1)
    head, context = ("\n".join(lines[: len(lines) - n]), lines[len(lines) - n :])
    return "\n".join([f"pimc: error: {_one_line(head)}", *(_one_line(c, " \t") for c in context)])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if any("\0" in a for a in argv):  # a shell cannot pass one; os.stat and friends would raise ValueError
            raise _UsageError("an argument contains a NUL character")
        if argv[:1] == ["opt"]:
            return _cmd_opt(argv[1:])
        args = build_parser().parse_args(argv)
    except (PimcError, OSError, UnicodeError) as e:
        print(format_error(e), file=sys.stderr)
        return 1
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    try:
        return args.func(args)
    except (PimcError, OSError, UnicodeError) as e:
        print(format_error(e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
