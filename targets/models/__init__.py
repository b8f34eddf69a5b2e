"""The per-device cost models: what an op costs (latency, energy, bound) on an NPU, a GPU or a PIM device."""
