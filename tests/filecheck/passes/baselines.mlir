// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,baselines' | filecheck %s

// The same costed graph placed by the other strategies and scheduled alike (ns from partition.mlir's figures):
// gpu-only runs everything on the GPU one after another, 15.2 + 16 + 20.4 + 15.2 + 2.4 = 69.2 ns;
// npu-only 43 + 43 + 45 + 43 + 4.8 = 178.8 ns; pim-only runs the products on PIM (55.055 ns) and the add,
// which PIM cannot run, on the NPU of the same memory (4.8 ns, no copy): 59.855 ns; optimal (the chosen
// strategy is roofline) overlaps the GPU and PIM: 33.6 ns.
// CHECK: pimc.baselines = {"gpu-only" = {phases = {main = {latency_ns = 6.920000e+01 : f64, energy_pj = {{[^}]*}}}}, latency_ns = 6.920000e+01 : f64, {{.*}}"npu-only" = {phases = {main = {latency_ns = 1.788000e+02 : f64, {{.*}}"pim-only" = {phases = {main = {latency_ns = 59.855055055055054 : f64, {{.*}}optimal = {phases = {main = {latency_ns = 3.360000e+01 : f64,
