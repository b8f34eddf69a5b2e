"""How fast PIM attention streams the KV cache under `attention_mapping`, against the memory's external bandwidth.

Llama-2-7B decode attention of one layer (32 heads, head dim 128, 512 cached positions, one
new token) on the PIM device of three presets, over batch sizes: the channel grouping chosen,
waves, time of the op (closed form, equal to the emitted stream by tests/unit/test_pim_timing.py),
the KV bytes it reads divided by that time, and the host's effective external bandwidth
(the GPU's memory_efficiency x its memory bandwidth on attacc; the memory bandwidth elsewhere).

    python benchmarks/pim_attention_mapping.py
"""

from __future__ import annotations

from pimc.targets.models.pim_timing import attention_counts, attention_mapping
from pimc.targets.system import load_system

HEADS, HEAD_DIM, CACHED = 32, 128, 512


def main() -> None:
    print(
        f"{'system':<8} {'batch':>5} {'head_ch':>7} {'waves':>5} {'time_us':>9} {'KV GB/s':>9} {'host GB/s':>9} {'x':>6}"
    )
    for name in ("attacc", "neupims", "npu-aim"):
        system = load_system(name)
        (pim,) = [d for d in system.devices.values() if d.kind == "pim"]
        host = next((d for d in system.devices.values() if d.kind in ("gpu", "npu")), None)
        memory = system.memory_of(host.name) if host else system.memory_of(pim.name)
        efficiency = host.gpu.memory_efficiency if host is not None and host.kind == "gpu" else 1.0
        host_gbps = memory.bandwidth_gbps * efficiency
        for batch in (1, 4, 16, 64, 256):
            dims = (batch, HEADS, HEADS, 1, CACHED, HEAD_DIM, HEAD_DIM)
            mapping = attention_mapping(*dims, pim)
            t_ns = attention_counts(*dims, pim).time_ns(pim)
            kv_bytes = 2 * batch * HEADS * CACHED * HEAD_DIM * 2
            print(
                f"{name:<8} {batch:>5} {mapping.head_channels:>7} {mapping.waves:>5} {t_ns / 1e3:>9.2f} "
                f"{kv_bytes / t_ns:>9.0f} {host_gbps:>9.0f} {kv_bytes / t_ns / host_gbps:>6.2f}"
            )


if __name__ == "__main__":
    main()
