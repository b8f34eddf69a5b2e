"""The collectives' latency-bandwidth model (targets/models/collective.py) against hand-worked figures."""

from __future__ import annotations

import pytest

from pimc.errors import SystemConfigError
from pimc.targets.models.collective import collective_cost
from pimc.targets.system import InterconnectParams, load_system, parse_system


def _link(topology: str, chips: int, torus_x: int = 0, launch: float = 0.0) -> InterconnectParams:
    return InterconnectParams(
        chips=chips,
        topology=topology,
        bandwidth_gbps=100.0,
        latency_ns=10.0,
        launch_latency_ns=launch,
        energy_pj_per_bit=0.5,
        torus_x=torus_x,
    )


@pytest.mark.parametrize(
    ("kind", "ns"),
    [
        # 4 chips, S = 4000 B, alpha 10 ns, beta 100 B/ns
        ("all_reduce", 2 * 3 * 10 + 2 * 3 / 4 * 4000 / 100),  # 120
        ("all_gather", 3 * 10 + 3 / 4 * 4000 / 100),  # 60
        ("reduce_scatter", 3 * 10 + 3 / 4 * 4000 / 100),
        ("all_to_all", 3 * 10 + 4 * 4000 / (4 * 100)),  # floor(16 / 4) = 4 chip-hops of S / p on the busiest link
        ("send_recv", 10 + 4000 / 50),  # one of the two links
    ],
)
def test_ring(kind: str, ns: float) -> None:
    assert collective_cost(kind, 4000, 4, _link("ring", 4)).latency_ns == pytest.approx(ns)


@pytest.mark.parametrize(
    ("kind", "ns"),
    [
        ("all_reduce", 2 * 10 + 2 * 7 / 8 * 8000 / 100),  # 160
        ("all_gather", 10 + 7 / 8 * 8000 / 100),  # 80
        ("all_to_all", 10 + 7 / 8 * 8000 / 100),
        ("send_recv", 10 + 8000 / 100),
    ],
)
def test_switch(kind: str, ns: float) -> None:
    assert collective_cost(kind, 8000, 8, _link("switch", 8)).latency_ns == pytest.approx(ns)


def test_torus_all_reduce_goes_dimension_by_dimension() -> None:
    # 2 x 2 torus, S = 4000 B, each dimension's ring at beta / 2 = 50 B/ns: reduce-scatter along x (10 + 2000 / 50),
    # all-reduce along y of 2000 B (20 + 2000 / 50), all-gather along x (10 + 2000 / 50)
    cost = collective_cost("all_reduce", 4000, 4, _link("torus", 4, torus_x=2))
    assert cost.latency_ns == pytest.approx(50 + 60 + 50)
    assert cost.link_bytes == pytest.approx(2000 + 2000 + 2000)
    # a group of 2 on the torus is a ring at beta / 2
    assert collective_cost("all_reduce", 4000, 2, _link("torus", 4, torus_x=2)).latency_ns == pytest.approx(
        2 * 10 + 4000 / 50
    )


def test_launch_latency_energy_and_one_chip() -> None:
    link = _link("switch", 8, launch=1000.0)
    cost = collective_cost("all_reduce", 8000, 8, link)
    assert cost.latency_ns == pytest.approx(1000 + 160)
    assert cost.link_bytes == pytest.approx(2 * 7 / 8 * 8000)
    assert cost.energy_pj == pytest.approx(2 * 7 / 8 * 8000 * 8 * 0.5)
    alone = collective_cost("all_reduce", 8000, 1, link)
    assert (alone.latency_ns, alone.energy_pj) == (0.0, 0.0)
    with pytest.raises(ValueError, match="a group of 9 chips"):
        collective_cost("all_reduce", 8000, 9, link)


def test_dgx_a100_all_reduce_of_one_megabyte() -> None:
    # NVLink3 through NVSwitch: 3.6 us launch + 2 steps of 0.47 us + 2 x 7/8 x 1 MB at 300 GB/s
    nvlink = load_system("dgx-a100").devices["nvlink"].interconnect
    assert collective_cost("all_reduce", 1e6, 8, nvlink).latency_ns == pytest.approx(3600 + 940 + 1.75e6 / 300)


def _system(**link: object) -> dict[str, object]:
    return {
        "name": "s",
        "memories": {"m": {"capacity_gb": 1, "bandwidth_gbps": 1, "energy_pj_per_bit": 0}},
        "devices": {
            "g": {
                "kind": "gpu",
                "memory": "m",
                "peak_tflops": {"fp16": 1},
                "vector_tflops": {"fp16": 1},
                "compute_efficiency": 1,
                "memory_efficiency": 1,
                "launch_overhead_ns": 0,
                "energy_pj_per_flop": 1,
            },
            "l": {"kind": "interconnect", "memory": "m", "bandwidth_gbps": 1, "latency_ns": 1, **link},
        },
    }


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ({"chips": 4, "topology": "mesh"}, "devices.l.topology: 'mesh' is not one of ring, switch, torus"),
        ({"chips": 6, "topology": "torus", "torus_x": 4}, "devices.l.torus_x: a torus of 6 chips needs torus_x"),
        ({"chips": 4, "topology": "ring", "torus_x": 2}, "devices.l.torus_x: only a torus has rows"),
        ({"topology": "ring"}, "devices.l.chips: missing"),
    ],
)
def test_interconnect_errors_name_the_key(link: dict[str, object], message: str) -> None:
    with pytest.raises(SystemConfigError, match=message):
        parse_system(_system(**link), "s.toml")


def test_a_system_has_one_interconnect() -> None:
    doc = _system(chips=2, topology="ring")
    devices = doc["devices"]
    assert isinstance(devices, dict)
    devices["l2"] = {**devices["l"]}
    with pytest.raises(SystemConfigError, match="a system has one interconnect"):
        parse_system(doc, "s.toml")
