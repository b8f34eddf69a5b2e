// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline}' | filecheck %s
// RUN: pimc opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline}' | filecheck %s

// roofline: every product is fastest on PIM (13.6 / 16.8 / 22.6 ns vs 30.4 / 32 / 40.8 on the GPU);
// the add is fastest on the GPU (4.8 ns vs 9.6 on the NPU). PIM (dram) -> GPU (hbm) crosses the link:
// 32 bytes take 100 ns + 32 B / 5 GB/s = 106.4 ns. One transfer per value, after its producer.

// CHECK:      %y = nn.matmul %x, %w {name = "fc", cost = {flops = 256 : i64, bytes = 608 : i64, intensity = 0.42105263157894735 : f64, latency_ns = {npu = 6.080000e+01 : f64, pim = 1.360000e+01 : f64, gpu = 3.040000e+01 : f64}}, device = #place.device<"pim">} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32>
// CHECK-NEXT: %0 = place.transfer %y {bytes = 32 : i64, latency_ns = 1.064000e+02 : f64, src = #place.device<"pim">, dst = #place.device<"gpu">} : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT: %g = nn.gemm %x, %wt, %c {name = "linear", cost = {flops = 264 : i64, bytes = 640 : i64, intensity = 4.125000e-01 : f64, latency_ns = {npu = 6.400000e+01 : f64, pim = 1.680000e+01 : f64, gpu = 3.200000e+01 : f64}}, device = #place.device<"pim">, trans_b = 1 : i64} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
// CHECK-NEXT: %1 = place.transfer %g {bytes = 32 : i64, latency_ns = 1.064000e+02 : f64, src = #place.device<"pim">, dst = #place.device<"gpu">} : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT: %k = nn.matmul %u, %v {name = "long_k", cost = {flops = 320 : i64, bytes = 816 : i64, intensity = 0.39215686274509803 : f64, latency_ns = {npu = 8.160000e+01 : f64, pim = 2.260000e+01 : f64, gpu = 4.080000e+01 : f64}}, device = #place.device<"pim">} : (tensor<1x40xf32>, tensor<40x4xf32>) -> tensor<1x4xf32>
// CHECK-NEXT: %y2 = nn.matmul %x, %w {name = "fc_again", cost = {flops = 256 : i64, bytes = 608 : i64, intensity = 0.42105263157894735 : f64, latency_ns = {npu = 6.080000e+01 : f64, pim = 1.360000e+01 : f64, gpu = 3.040000e+01 : f64}}, device = #place.device<"pim">} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32>
// CHECK-NEXT: %s = nn.add %0, %1 {name = "sum", cost = {flops = 8 : i64, bytes = 96 : i64, intensity = 0.083333333333333329 : f64, latency_ns = {npu = 9.600000e+00 : f64, gpu = 4.800000e+00 : f64}}, device = #place.device<"gpu">} : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32>
