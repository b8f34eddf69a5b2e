// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t pimc-table | filecheck %s
// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t 'pimc-table{top=2}' | filecheck %s --check-prefix=TOP

// The table pimc compile prints: one row per op with its device and latency, then the summary.
// CHECK:      #  name      op        shapes            FLOPs  bytes  FLOP/B  device  latency
// CHECK:      0  fc        pim.gemv  1x16,16x8->1x8      256    304    0.84  pim     13.0 ns
// CHECK:      4  sum       nn.add    1x8,1x8->1x8          8     48    0.17  gpu      2.4 ns
// CHECK:      transfers: 2, 32B, 206.4 ns
// CHECK:      phases: main 134 ns
// CHECK:      speedup of roofline over: gpu-only 0.52x, npu-only 1.34x, pim-only 0.45x, optimal 0.25x

// top=2: the two slowest ops (linear 15.0 ns, long_k 14.0 ns), in program order.
// TOP:      1  linear
// TOP-NEXT: 2  long_k
// TOP-NEXT: (the 2 slowest of 5 ops; --top 0 shows every op, report.json has them all)
