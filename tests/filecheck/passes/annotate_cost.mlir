// RUN: xdsl-opt %s -p 'annotate-cost{system="%inputs/test-system.toml"}' | filecheck %s
// RUN: pimc opt %s -p 'annotate-cost{system="%inputs/test-system.toml"}' | filecheck %s

// Hand-computed on the toy system (inputs/test-system.toml):
// fc: FLOPs = 2*16*8 = 256; bytes = (16 + 16*8 + 8) * 4 = 608; intensity = 256/608.
//   npu = max(256/32, 608/10) = 60.8; gpu = max(256/1000, 608/20) = 30.4;
//   pim = max(256/128, 512/128) + (608-512)/10 = 4 + 9.6 = 13.6.
// bias: FLOPs = 8; bytes = (8 + 8 + 8) * 4 = 96; npu = max(8/8, 96/10) = 9.6; gpu = max(8/100, 96/20) = 4.8; no pim.
// softmax: FLOPs = 5*8 = 40; bytes = 64; npu = max(40/8, 6.4) = 6.4; gpu = max(0.4, 3.2) = 3.2.
// reshape: nothing moves: 0 FLOPs, 0 bytes, 0 ns everywhere.
// act (generic ONNX op): element-wise, FLOPs = 8, bytes = 64.

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

// CHECK:      builtin.module attributes {pimc.system = "{{.*}}test-system.toml"} {
// CHECK:        %w = nn.weight "w" : tensor<16x8xf32>
// CHECK-NEXT:   %b = nn.weight "b" : tensor<8xf32>
// CHECK-NEXT:   %y = nn.matmul %x, %w {name = "fc", cost = {flops = 256 : i64, bytes = 608 : i64, intensity = 0.42105263157894735 : f64, latency_ns = {npu = 6.080000e+01 : f64, pim = 1.360000e+01 : f64, gpu = 3.040000e+01 : f64}}}
// CHECK-NEXT:   %z = nn.add %y, %b {name = "bias", cost = {flops = 8 : i64, bytes = 96 : i64, intensity = 0.083333333333333329 : f64, latency_ns = {npu = 9.600000e+00 : f64, gpu = 4.800000e+00 : f64}}}
// CHECK-NEXT:   %s = nn.softmax %z {name = "softmax", cost = {flops = 40 : i64, bytes = 64 : i64, intensity = 6.250000e-01 : f64, latency_ns = {npu = 6.400000e+00 : f64, gpu = 3.200000e+00 : f64}}}
// CHECK-NEXT:   %a = nn.onnx "Relu"(%s) {} {name = "act", cost = {flops = 8 : i64, bytes = 64 : i64, intensity = 1.250000e-01 : f64, latency_ns = {npu = 6.400000e+00 : f64, gpu = 3.200000e+00 : f64}}}
// CHECK-NEXT:   %r = nn.reshape %a {name = "reshape", cost = {flops = 0 : i64, bytes = 0 : i64, intensity = 0.000000e+00 : f64, latency_ns = {npu = 0.000000e+00 : f64, gpu = 0.000000e+00 : f64}}}
