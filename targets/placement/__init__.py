"""Placing a phase's ops on devices: the execution model, the strategies and the exact solver, and the memory
footprint of a placement."""
