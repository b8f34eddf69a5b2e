// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Round-trip of the semantic nn ops the frontends raise patterns into (linear, rms_norm,
// gelu, silu, rotary, kv_append, attention with GQA: 8 query heads over 2 K/V heads).
// Defaults (gelu approximate = "none", kv_append axis = -2) are elided by the custom printer.

// CHECK:      builtin.module {
func.func @semantic(%x: tensor<1x4x64xf32>, %q: tensor<1x8x4x16xf32>, %k: tensor<1x2x4x16xf32>, %past: tensor<1x2x12x16xf32>, %mask: tensor<1x1x4x16xf32>, %cos: tensor<1x1x4x16xf32>, %sin: tensor<1x1x4x16xf32>) -> tensor<1x8x4x16xf32> {
// CHECK-NEXT: func.func @semantic(%x: tensor<1x4x64xf32>, %q: tensor<1x8x4x16xf32>, %k: tensor<1x2x4x16xf32>, %past: tensor<1x2x12x16xf32>, %mask: tensor<1x1x4x16xf32>, %cos: tensor<1x1x4x16xf32>, %sin: tensor<1x1x4x16xf32>) -> tensor<1x8x4x16xf32> {
  %w = nn.weight "fc.w" : tensor<64x32xf32>
// CHECK-NEXT: %w = nn.weight "fc.w" : tensor<64x32xf32>
  %wt = nn.weight "fc.wt" : tensor<32x64xf32>
// CHECK-NEXT: %wt = nn.weight "fc.wt" : tensor<32x64xf32>
  %b = nn.weight "fc.b" : tensor<32xf32>
// CHECK-NEXT: %b = nn.weight "fc.b" : tensor<32xf32>
  %g = nn.weight "norm.g" : tensor<64xf32>
// CHECK-NEXT: %g = nn.weight "norm.g" : tensor<64xf32>
  %l0 = nn.linear %x, %w {name = "fc"} : (tensor<1x4x64xf32>, tensor<64x32xf32>) -> tensor<1x4x32xf32>
// CHECK-NEXT: %l0 = nn.linear %x, %w {name = "fc"} : (tensor<1x4x64xf32>, tensor<64x32xf32>) -> tensor<1x4x32xf32>
  %l1 = nn.linear %x, %wt, %b {transpose_w} : (tensor<1x4x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x4x32xf32>
// CHECK-NEXT: %l1 = nn.linear %x, %wt, %b {transpose_w} : (tensor<1x4x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x4x32xf32>
  %n = nn.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
// CHECK-NEXT: %n = nn.rms_norm %x, %g {epsilon = 1.000000e-05 : f32} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  %ge = nn.gelu %l0 : (tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
// CHECK-NEXT: %ge = nn.gelu %l0 : (tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  %gt = nn.gelu %l0 {approximate = "tanh"} : (tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
// CHECK-NEXT: %gt = nn.gelu %l0 {approximate = "tanh"} : (tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  %s = nn.silu %l1 : (tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
// CHECK-NEXT: %s = nn.silu %l1 : (tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
  %r = nn.rotary %k, %cos, %sin : (tensor<1x2x4x16xf32>, tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x2x4x16xf32>
// CHECK-NEXT: %r = nn.rotary %k, %cos, %sin : (tensor<1x2x4x16xf32>, tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x2x4x16xf32>
  %kc = nn.kv_append %past, %r : (tensor<1x2x12x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x16x16xf32>
// CHECK-NEXT: %kc = nn.kv_append %past, %r : (tensor<1x2x12x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x16x16xf32>
  %a = nn.attention %q, %kc, %kc, %mask {scale = 0.25 : f64, causal} : (tensor<1x8x4x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x8x4x16xf32>
// CHECK-NEXT: %a = nn.attention %q, %kc, %kc, %mask {scale = 2.500000e-01 : f64, causal} : (tensor<1x8x4x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x8x4x16xf32>
  %a2 = nn.attention %q, %kc, %kc {scale = 0.25 : f64} : (tensor<1x8x4x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) -> tensor<1x8x4x16xf32>
// CHECK-NEXT: %a2 = nn.attention %q, %kc, %kc {scale = 2.500000e-01 : f64} : (tensor<1x8x4x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) -> tensor<1x8x4x16xf32>
  func.return %a : tensor<1x8x4x16xf32>
// CHECK-NEXT: func.return %a : tensor<1x8x4x16xf32>
}
// CHECK-NEXT: }
// CHECK-NEXT: }

// GENERIC: "nn.linear"(%x, %wt, %b) <{transpose_w}>
// GENERIC: "nn.gelu"(%l0) <{approximate = "none"}>
// GENERIC: "nn.kv_append"(%past, %r) <{axis = -2 : i64}>
// GENERIC: "nn.attention"(%q, %kc, %kc, %mask) <{scale = 2.500000e-01 : f64, causal}>
