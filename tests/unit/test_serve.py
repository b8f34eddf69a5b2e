"""`pimc serve`: the engine against hand-worked schedules, the step-cost interpolation, the command end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pimc.compiler import serve
from pimc.compiler.cli import main
from pimc.compiler.step_costs import StepCosts, StepShape
from pimc.errors import PimcError

REPO = Path(__file__).resolve().parents[2]
LLAMA = REPO / "examples" / "llama2-7b.pim"
TINY = ["layers=1", "hidden=64", "heads=4", "kv_heads=2", "ffn=128", "vocab=512"]


class Linear:
    """A hand-written cost model: decode(b, S) = 1000 + 10 b + S ns, prefill(t, c) = 500 + 20 t + c ns; energy
    1 pJ per ns; one device busy half the time."""

    def decode(self, b: int, total_cached: int) -> tuple[float, ...]:
        t = 1000 + 10 * b + total_cached
        return (t, t, t / 2)

    def prefill(self, t: int, cached: int) -> tuple[float, ...]:
        ns = 500 + 20 * t + cached
        return (ns, ns, ns / 2)


def times(reqs: list[serve._Request]) -> list[tuple[float, float, int]]:
    return [(r.first, r.finish, r.preemptions) for r in reqs]


def test_chunked_prefill_schedule_by_hand() -> None:
    # A (t=0, prompt 3, out 3), B (t=0, prompt 5, out 2), C (t=100, prompt 2, out 1); 2 running at most,
    # 4 tokens per iteration, pages of 2 positions, 6 pages.
    #  1  @0     prefill A 3 + B 1 (budget)           560 + 520        = 1080  A's first token
    #  2  @1080  decode A (S=3) + chunk B 3 after 1   1013 + 561       = 2654  (C waits: budget used)
    #  3  @2654  decode A (S=4) + chunk B 1 after 4   1014 + 524       = 4192  A done, B's first token
    #  4  @4192  decode B (S=5) + prefill C 2         1015 + 540       = 5747  B and C done
    config = serve.EngineConfig(max_batch=2, max_tokens=4, page_tokens=2, pages=6, chunked=True)
    reqs, its = serve.simulate([0, 0, 100], [3, 5, 2], [3, 2, 1], Linear(), config)
    assert times(reqs) == [(1080, 4192, 0), (4192, 5747, 0), (5747, 5747, 0)]
    assert [it[1] for it in its] == [0, 1080, 2654, 4192]
    assert [(it[3], it[4]) for it in its] == [(0, 4), (1, 3), (1, 1), (1, 2)]  # decodes, prefill tokens
    assert [it[8] for it in its] == [540, 787, 769, 777.5]  # the device's busy ns: half of each


def test_prefill_first_schedule_by_hand() -> None:
    # the same requests without chunked prefill: a prompt goes whole, in an iteration of prefills only
    #  1  @0     prefill A (B's 5 do not fit the 1 left)    560  = 560
    #  2  @560   prefill B (C: 2 running already)           600  = 1160
    #  3  @1160  decode A, B (S = 3 + 5)                    1028 = 2188  B done
    #  4  @2188  prefill C                                  540  = 2728  C done
    #  5  @2728  decode A (S = 4)                           1014 = 3742  A done
    config = serve.EngineConfig(max_batch=2, max_tokens=4, page_tokens=2, pages=6, chunked=False)
    reqs, _ = serve.simulate([0, 0, 100], [3, 5, 2], [3, 2, 1], Linear(), config)
    assert times(reqs) == [(560, 3742, 0), (1160, 2188, 0), (2728, 2728, 0)]


def test_preemption_by_hand() -> None:
    # 3 pages of 2 positions. A (prompt 2, out 4), B (prompt 2, out 2), both at 0.
    #  1  @0     prefill A 2 + B 2                   540 + 540 = 1080  first tokens of both
    #  2  @1080  A takes the last page for position 3; B needs one too: B, the latest, is preempted
    #            (to recompute its prompt and its token: 3 positions); no admission after a preemption
    #            decode A (S=2)                      1012      = 2092
    #  3  @2092  decode A (S=3); B's 2 pages are not free    1013 = 3105
    #  4  @3105  decode A (S=4)                      1014      = 4119  A done, its 3 pages free
    #  5  @4119  prefill B 3                         560       = 4679  B's second token: done
    config = serve.EngineConfig(max_batch=4, max_tokens=8, page_tokens=2, pages=3, chunked=True)
    reqs, _ = serve.simulate([0, 0], [2, 2], [4, 2], Linear(), config)
    assert times(reqs) == [(1080, 4119, 0), (1080, 4679, 1)]


def test_a_request_larger_than_the_cache_is_an_error() -> None:
    config = serve.EngineConfig(max_batch=4, max_tokens=8, page_tokens=2, pages=3)
    with pytest.raises(PimcError, match="request 1: a prompt of 6 and 2 output tokens need 4 KV pages"):
        serve.simulate([0, 0], [2, 6], [1, 2], Linear(), config)


def test_metrics_of_a_run() -> None:
    config = serve.EngineConfig(max_batch=2, max_tokens=4, page_tokens=2, pages=6)
    w = serve.Workload(np.array([3, 5, 2]), np.array([3, 2, 1]), np.array([0, 0, 100e-9]), "hand")
    result = serve.run(serve.arrivals_ns(w, None, 0), w, Linear(), config)
    s = serve.summarise(result, ["dev"], serve.Slo(ttft_ms=0.005), 1)
    assert s["ttft_ms"]["p50"] == pytest.approx(4192e-6)
    assert s["tpot_ms"]["mean"] == pytest.approx(((4192 - 1080) / 2 + (5747 - 4192)) / 2e6)
    assert s["duration_s"] == pytest.approx(5747e-9)
    assert s["output_tokens"] == 6 and s["requests"] == 3
    assert s["slo_attainment"] == pytest.approx(2 / 3)  # C waited 5647 ns > 5000
    assert s["energy_per_output_token_mj"] == pytest.approx(5747 / 1e9 / 6)
    assert s["utilisation"]["dev"] == pytest.approx(0.5)


def test_replicas_take_requests_in_turn() -> None:
    config = serve.EngineConfig(max_batch=2, max_tokens=4, page_tokens=2, pages=6)
    w = serve.Workload(np.array([3, 3]), np.array([1, 1]), np.array([0.0, 0.0]), "hand")
    result = serve.run(np.zeros(2), w, Linear(), config, replicas=2)
    assert list(result.replica) == [0, 1] and list(result.first) == [560, 560]  # each alone on its replica


def test_poisson_arrivals_scale_with_the_rate() -> None:
    w = serve.synthetic_workload(1000, serve.parse_dist("512", "p"), serve.parse_dist("exp:64", "o"), seed=3)
    a1, a4 = serve.arrivals_ns(w, 1.0, 3), serve.arrivals_ns(w, 4.0, 3)
    assert np.allclose(a1, 4 * a4) and a1[0] == 0
    assert 0.9 < a1[-1] / 1e9 / 1000 < 1.1  # mean gap 1 s
    assert (w.prompt == 512).all() and w.output.min() >= 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("uniform:5:2", "uniform needs integers"),
        ("normal:-1:3", "normal needs 0 < MEAN"),
        ("zipf:2", "expected N, uniform"),
        ("0", "between 1 and"),
        ("exp:nan", "expected N, uniform"),
    ],
)
def test_bad_distributions(text: str, message: str) -> None:
    with pytest.raises(PimcError, match=message):
        serve.parse_dist(text, "--prompt-len")


def test_request_file_errors(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("arrival_s,prompt_len,output_len\n0,10,5\n1.5,x,5\n")
    with pytest.raises(PimcError, match=r"r.csv:3: expected integer"):
        serve.read_workload(f)
    f.write_text("arrival_s,prompt_len,output_len\n2,10,5\n1,10,5\n")
    with pytest.raises(PimcError, match=r"r.csv:3: arrival_s must be .* non-decreasing"):
        serve.read_workload(f)
    f.write_text("prompt,output\n1,2\n")
    with pytest.raises(PimcError, match=r"r.csv:1: the header has no prompt_len or output_len"):
        serve.read_workload(f)


# -- step costs ---------------------------------------------------------------------------------------


def fake_report(shape: StepShape) -> dict:
    """A compiled node whose latency is linear in batch, tokens and cached positions (as the FCs and KV reads
    are), with 10 bytes of KV per position in an 1000-byte memory holding 100 bytes of weights."""
    latency = 100.0 + 7.0 * shape.batch * shape.tokens + 0.5 * shape.batch * shape.cached
    kv = 10 * shape.batch * (shape.cached + shape.tokens)
    return {
        "phases": {shape.phase: {"latency_ns": latency, "energy_pj": 2 * latency}},
        "devices": {"npu": {"busy_ns": latency}},
        "memory": {"hbm": {"kv_cache_bytes": {shape.phase: kv}, "capacity_bytes": 1000, "total_bytes": 100 + kv}},
    }


def test_interpolation_is_exact_for_linear_costs_and_compiles_grid_nodes_only() -> None:
    compiled: list[StepShape] = []

    def compile_node(shape: StepShape) -> dict:
        compiled.append(shape)
        return fake_report(shape)

    costs = StepCosts(compile_node, ["npu"], max_batch=16, max_tokens=64)
    assert costs.kv_figures(StepShape("decode", 1, 1, 1)) == (10.0, 900.0)
    costs.set_capacity(1000)
    for b, total in [(3, 300), (5, 17), (16, 900), (7, 0)]:
        # every request at the mean context: 100 + 7 b + 0.5 S
        assert costs.decode(b, total)[0] == pytest.approx(100 + 7 * b + 0.5 * total)
    for t, c in [(3, 0), (33, 500), (64, 936), (1, 2000)]:  # 2000: past the last node, extrapolated
        assert costs.prefill(t, c)[0] == pytest.approx(100 + 7 * t + 0.5 * c)
    grid_b = {1, 2, 4, 8, 16}
    for s in compiled:
        assert (
            s.cached == 0
            or s.cached & (s.cached - 1) == 0
            or s.cached == (1000 // s.batch if s.phase == "decode" else 1000 - s.tokens)
        )
        assert s.batch in grid_b and (s.phase == "decode" or s.tokens in {1, 2, 4, 8, 16, 32, 64})
    assert all(s.batch * (s.cached + s.tokens) <= 1000 + s.tokens * s.batch for s in compiled)  # within the cache


def test_cost_cache_round_trips(tmp_path: Path) -> None:
    calls = []

    def compile_node(shape: StepShape) -> dict:
        calls.append(shape)
        return fake_report(shape)

    file = tmp_path / "c.json"
    a = StepCosts(compile_node, ["npu"], 8, 8, file)
    a.set_capacity(500)
    first = a.decode(3, 100)
    n = len(calls)
    b = StepCosts(compile_node, ["npu"], 8, 8, file)
    b.set_capacity(500)
    assert b.decode(3, 100) == first and len(calls) == n and b.compiled == 0


# -- the command --------------------------------------------------------------------------------------


def serve_args(out: Path, cache: Path, *extra: str) -> list[str]:
    dims = [a for d in TINY for a in ("--dim", d)]
    return ["serve", str(LLAMA), "--system", "h100", *dims, "--max-batch", "8", "--max-tokens", "64",
            "--cache-dir", str(cache), "-o", str(out), *extra]  # fmt: skip


def test_serve_command_writes_its_outputs_and_a_warm_cache_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--rate", "50,200", "--num-requests", "40", "--prompt-len", "uniform:8:96", "--output-len", "exp:8",
            "--slo-ttft", "50", "--slo-tpot", "5"]  # fmt: skip
    assert main(serve_args(tmp_path / "a", tmp_path / "cache", *args)) == 0
    cold = capsys.readouterr().out
    assert main(serve_args(tmp_path / "b", tmp_path / "cache", *args)) == 0
    warm = capsys.readouterr().out
    assert "step shapes compiled" in cold and " 0 step shapes compiled" in warm
    assert "TTFT ms p50/p90/p99" in warm and "goodput" in warm
    for name in ("summary.json", "requests.csv", "iterations.csv", "serve.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert set(summary["runs"]) == {"50", "200"}
    run = summary["runs"]["200"]
    assert run["requests"] == 40 and run["ttft_ms"]["p99"] >= run["ttft_ms"]["p50"] > 0
    assert 0 < run["utilisation"]["gpu"] <= 1.0 + 1e-9
    rows = list(csv.DictReader((tmp_path / "a" / "requests.csv").read_text().splitlines()))
    assert len(rows) == 80 and {r["rate"] for r in rows} == {"50", "200"}
    # the higher rate queues more: its TTFTs are no shorter on the whole
    assert summary["runs"]["200"]["ttft_ms"]["mean"] >= summary["runs"]["50"]["ttft_ms"]["mean"]


def test_serve_request_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "r.csv"
    f.write_text("arrival_s,prompt_len,output_len\n0,20,4\n0.001,40,2\n")
    assert main(serve_args(tmp_path / "o", tmp_path / "cache", "--requests", str(f), "--kv-pages", "64")) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["engine"]["kv_pages"] == 64 and summary["runs"]["file"]["output_tokens"] == 6


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rate", "1", "--dim", "batch=4"], "--dim batch: serve sets batch at every step"),
        (["--rate", "0"], "a rate must be > 0"),
        (["--rate", "1", "--prompt-len", "uniform:9"], "--prompt-len uniform:9: expected N"),
        (["--rate", "1", "--tp", "3"], "--tp 3: does not divide the 1 chips"),
    ],
)
def test_serve_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(serve_args(tmp_path / "o", tmp_path / "cache", *extra)) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def test_serve_needs_a_dsl_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx = REPO / "examples" / "gpt2-tiny-decode.onnx"
    assert main(["serve", str(onnx), "--rate", "1", "--cache-dir", str(tmp_path), "-o", str(tmp_path / "o")]) == 1
    assert "give a .pim model" in capsys.readouterr().err
