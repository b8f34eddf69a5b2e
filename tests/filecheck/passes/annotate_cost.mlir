// RUN: xdsl-opt %s -p 'annotate-cost{system="%inputs/test-system.toml"}' | filecheck %s
// RUN: pimc opt %s -p 'annotate-cost{system="%inputs/test-system.toml"}' | filecheck %s

// RUN: pimc opt %s -p 'annotate-cost{system="%inputs/test-system.toml" dtype=fp32}' | filecheck %s --check-prefix=FP32

// Hand-computed on the toy system (inputs/test-system.toml), at the default fp16 (2 bytes per element):
// fc: FLOPs = 2*16*8 = 256; bytes = (16 + 16*8 + 8) * 2 = 304; intensity = 256/304.
//   npu: one 4x4 output-stationary array, SCALE-Sim cycles ceil(1/4)*ceil(8/4)*(4+4+16-2)-1 = 43 at 1 GHz,
//        against 304 B / 10 GB/s = 30.4 ns: 43 ns, compute-bound; energy 128 MACs * 1 pJ + 304*8 bits * 1 pJ = 2560.
//   gpu: max(256/1000, 304/20) = 15.2 ns; energy 256 FLOPs * 1 pJ + 304*8 = 2688.
//   pim: 2 channels x 2 banks, 2 passes of 4 outputs, K = 16 fits one 1-column tile: WR_GB 1 (1 cycle),
//        MAC_ABK (max(tRCD_MAC 2 + 1, tRAS 3) + tRP 1 = 4), RD_MAC (tCL 1 + tCCD_L 1 = 2), MAC_ABK 4, RD_MAC 2
//        = 13 cycles * tREFI/(tREFI - tRFC) = 13 * 1000/999 ns; energy: io (1 + 2) * 2 channels * 256 bits,
//        act 2 * 2*2 banks * 512 bits, read 2 * 4 * 256, 2 * 4 * 16 MACs, all at 1 pJ = 7808.
// bias: FLOPs = 8; bytes = (8 + 8 + 8) * 2 = 48; npu = max(8/8, 48/10) = 4.8; gpu = max(8/100, 48/20) = 2.4;
//   energy 8 + 48*8 = 392 on both; no pim.
// softmax: FLOPs = 5*8 = 40; bytes = 32; npu = max(40/8, 3.2) = 5 (compute); gpu = max(0.4, 1.6) = 1.6.
// act (generic ONNX op): element-wise, FLOPs = 8, bytes = 32.
// reshape: nothing moves: 0 FLOPs, 0 bytes, 0 ns and 0 pJ everywhere, bound "none".
// In fp32 every float tensor costs 4 bytes, and the PIM (fp16/bf16 lanes) cannot run fc.

func.func @main(%x: tensor<1x16xf32>) -> tensor<2x4xf32> {
  %w = nn.weight "w" : tensor<16x8xf32>
  %b = nn.weight "b" : tensor<8xf32>
  %y = nn.matmul %x, %w {name = "fc"} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32>
  %z = nn.add %y, %b {name = "bias"} : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  %s = nn.softmax %z {name = "softmax", axis = -1 : i64} : (tensor<1x8xf32>) -> tensor<1x8xf32>
  %a = nn.onnx "Relu"(%s) {} {name = "act"} : (tensor<1x8xf32>) -> tensor<1x8xf32>
  %r = nn.reshape %a {name = "reshape"} : (tensor<1x8xf32>) -> tensor<2x4xf32>
  func.return %r : tensor<2x4xf32>
}

// CHECK:      builtin.module attributes {pimc.system = "{{.*}}test-system.toml", pimc.system_description = "{\22source\22: {{.*}}test-system.toml\22, \22doc\22: {\22name\22: \22test\22{{.*}}, pimc.dtype = "fp16"} {
// CHECK:        %w = nn.weight "w" : tensor<16x8xf32>
// CHECK-NEXT:   %b = nn.weight "b" : tensor<8xf32>
// CHECK-NEXT:   %y = nn.matmul %x, %w {name = "fc", cost = {flops = 256 : i64, bytes = 304 : i64, intensity = 0.84210526315789469 : f64, latency_ns = {npu = 4.300000e+01 : f64, pim = 13.013013013013014 : f64, gpu = 1.520000e+01 : f64}, energy_pj = {npu = 2.560000e+03 : f64, pim = 7.808000e+03 : f64, gpu = 2.688000e+03 : f64}, bound = {npu = "compute", pim = "memory", gpu = "memory"}}}
// CHECK-NEXT:   %z = nn.add %y, %b {name = "bias", cost = {flops = 8 : i64, bytes = 48 : i64, intensity = 0.16666666666666666 : f64, latency_ns = {npu = 4.800000e+00 : f64, gpu = 2.400000e+00 : f64}, energy_pj = {npu = 3.920000e+02 : f64, gpu = 3.920000e+02 : f64}, bound = {npu = "memory", gpu = "memory"}}}
// CHECK-NEXT:   %s = nn.softmax %z {name = "softmax", cost = {flops = 40 : i64, bytes = 32 : i64, intensity = 1.250000e+00 : f64, latency_ns = {npu = 5.000000e+00 : f64, gpu = 1.600000e+00 : f64}, energy_pj = {npu = 2.960000e+02 : f64, gpu = 2.960000e+02 : f64}, bound = {npu = "compute", gpu = "memory"}}}
// CHECK-NEXT:   %a = nn.onnx "Relu"(%s) {} {name = "act", cost = {flops = 8 : i64, bytes = 32 : i64, intensity = 2.500000e-01 : f64, latency_ns = {npu = 3.200000e+00 : f64, gpu = 1.600000e+00 : f64}, energy_pj = {npu = 2.640000e+02 : f64, gpu = 2.640000e+02 : f64}, bound = {npu = "memory", gpu = "memory"}}}
// CHECK-NEXT:   %r = nn.reshape %a {name = "reshape", cost = {flops = 0 : i64, bytes = 0 : i64, intensity = 0.000000e+00 : f64, latency_ns = {npu = 0.000000e+00 : f64, gpu = 0.000000e+00 : f64}, energy_pj = {npu = 0.000000e+00 : f64, gpu = 0.000000e+00 : f64}, bound = {npu = "none", gpu = "none"}}}

// FP32:      builtin.module attributes {pimc.system = "{{.*}}test-system.toml", pimc.system_description = {{.*}}, pimc.dtype = "fp32"} {
// FP32:        %y = nn.matmul %x, %w {name = "fc", cost = {flops = 256 : i64, bytes = 608 : i64, intensity = 0.42105263157894735 : f64, latency_ns = {npu = 6.080000e+01 : f64, gpu = 3.040000e+01 : f64}
