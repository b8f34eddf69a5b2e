// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline}' | filecheck %s
// RUN: pimc opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline}' | filecheck %s

// roofline, at fp16: every product is fastest on PIM: fc and fc_again 13 cycles (WR_GB, then MAC_ABK 4 + RD_MAC 2
// per pass, 2 passes), linear 15 (+ a WR_BIAS per pass), long_k 14 (K = 40 is two row tiles), each x 1000/999 ns
// for refresh; against 15.2 / 16 / 20.4 / 15.2 ns on the GPU and 43 / 43 / 45 / 43 on the NPU (SCALE-Sim cycles).
// The add is fastest on the GPU (2.4 ns vs 4.8 on the NPU). PIM (dram) -> GPU (hbm) crosses the link:
// 16 bytes take 100 ns + 16 B / 5 GB/s = 103.2 ns and 16 * 8 bits * 1 pJ. One transfer per value, after its producer.

// CHECK:      %y = nn.matmul %x, %w {name = "fc", cost = {{.*}}pim = 13.013013013013014 : f64{{.*}}, device = #place.device<"pim">}
// CHECK-NEXT: %0 = place.transfer %y {bytes = 16 : i64, latency_ns = 1.032000e+02 : f64, energy_pj = 1.280000e+02 : f64, src = #place.device<"pim">, dst = #place.device<"gpu">} : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT: %g = nn.gemm %x, %wt, %c {name = "linear", cost = {{.*}}pim = 15.015015015015015 : f64{{.*}}, device = #place.device<"pim">, trans_b = 1 : i64}
// CHECK-NEXT: %1 = place.transfer %g {bytes = 16 : i64, latency_ns = 1.032000e+02 : f64, energy_pj = 1.280000e+02 : f64, src = #place.device<"pim">, dst = #place.device<"gpu">} : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT: %k = nn.matmul %u, %v {name = "long_k", cost = {{.*}}pim = 14.014014014014014 : f64{{.*}}, device = #place.device<"pim">}
// CHECK-NEXT: %y2 = nn.matmul %x, %w {name = "fc_again", cost = {{.*}}, device = #place.device<"pim">}
// CHECK-NEXT: %s = nn.add %0, %1 {name = "sum", cost = {{.*}}latency_ns = {npu = 4.800000e+00 : f64, gpu = 2.400000e+00 : f64}{{.*}}, device = #place.device<"gpu">}

// A module is partitioned once: a second placement would keep the first one's copies.
// RUN: not xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},partition' 2>&1 | filecheck %s --check-prefix=TWICE
// TWICE: xdsl-opt: error: partition: the module is already partitioned (it holds place.transfer ops)

// Each function is one phase: a second function of the same phase is refused (the schedule keys on the phase).
// RUN: pimc opt %examples/gpt2-small.pim --dim layers=1 | sed 's/phase = "prefill"/phase = "decode"/g' > %t.mlir
// RUN: not xdsl-opt %t.mlir -p 'annotate-cost,partition{strategy=roofline}' 2>&1 | filecheck %s --check-prefix=SAMEPHASE
// SAMEPHASE: xdsl-opt: error: partition: @decode is phase 'decode', as an earlier function is
