// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},lower-to-pim' | filecheck %s

// Toy PIM: 2 channels x 2 banks, 64-byte rows = 32 FP16 elements (k_tile).
// fc (K=16, N=8): 4 outputs per pass -> 2 passes x 1 row = rows 0..1.
// linear (Gemm, transB=1, weight [N=8, K=16]): transpose_w, rows 2..3.
// long_k (K=40, N=4): 1 pass x ceil(40/32) = 2 rows: rows 4..5.
// fc_again reads weight w again: it shares rows 0..1.

// CHECK:      %y = pim.gemv %x, %w {name = "fc", cost = {{.*}}, device = #place.device<"pim">, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 0>} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32> {
// CHECK-NEXT: }
// CHECK-NEXT: %0 = place.transfer %y {bytes = 16 : i64, latency_ns = 1.032000e+02 : f64, energy_pj = 1.280000e+02 : f64, src = #place.device<"pim">, dst = #place.device<"gpu">} : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT: %g = pim.gemv %x, %wt, %c {name = "linear", cost = {{.*}}, device = #place.device<"pim">, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 2>, transpose_w} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32> {
// CHECK-NEXT: }
// CHECK-NEXT: %1 = place.transfer %g {bytes = 16 : i64, latency_ns = 1.032000e+02 : f64, energy_pj = 1.280000e+02 : f64, src = #place.device<"pim">, dst = #place.device<"gpu">} : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT: %k = pim.gemv %u, %v {name = "long_k", cost = {{.*}}, device = #place.device<"pim">, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 4>} : (tensor<1x40xf32>, tensor<40x4xf32>) -> tensor<1x4xf32> {
// CHECK-NEXT: }
// CHECK-NEXT: %y2 = pim.gemv %x, %w {name = "fc_again", cost = {{.*}}, device = #place.device<"pim">, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 0>} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32> {
// CHECK-NEXT: }
// CHECK-NEXT: %s = nn.add %0, %1 {name = "sum", cost = {{.*}}, device = #place.device<"gpu">} : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32>
