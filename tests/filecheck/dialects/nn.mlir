// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Round-trip of every op of the nn dialect through its custom and generic forms.
// Properties with their default value (gemm alpha/beta/trans_*, softmax and
// layer_norm axis, layer_norm epsilon, gather axis) are elided by the custom
// printer; the generic form always shows them.
// nn.onnx without ONNX attributes is covered by nn_onnx_no_attrs.mlir.

// CHECK:      builtin.module {
func.func @nn_ops(%x: tensor<2x8xf32>, %xb: tensor<3x2x8xf32>, %v: tensor<8xf32>, %ids: tensor<2x4xi64>) -> tensor<2x4xf32> {
// CHECK-NEXT: func.func @nn_ops(%x: tensor<2x8xf32>, %xb: tensor<3x2x8xf32>, %v: tensor<8xf32>, %ids: tensor<2x4xi64>) -> tensor<2x4xf32> {
  %w = nn.weight "encoder.w" : tensor<8x4xf32>
  // CHECK-NEXT: %w = nn.weight "encoder.w" : tensor<8x4xf32>
  %wt = nn.weight "encoder.wt" {name = "wt"} : tensor<4x8xf32>
  // CHECK-NEXT: %wt = nn.weight "encoder.wt" {name = "wt"} : tensor<4x8xf32>
  %c = nn.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32> {name = "bias"} : tensor<4xf32>
  // CHECK-NEXT: %c = nn.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32> {name = "bias"} : tensor<4xf32>
  %ci = nn.constant dense<[2, 3]> : tensor<2xi64> : tensor<2xi64>
  // CHECK-NEXT: %ci = nn.constant dense<[2, 3]> : tensor<2xi64> : tensor<2xi64>
  %mm = nn.matmul %x, %w {name = "mm0"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %mm = nn.matmul %x, %w {name = "mm0"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  %bmm = nn.matmul %xb, %w : (tensor<3x2x8xf32>, tensor<8x4xf32>) -> tensor<3x2x4xf32>
  // CHECK-NEXT: %bmm = nn.matmul %xb, %w : (tensor<3x2x8xf32>, tensor<8x4xf32>) -> tensor<3x2x4xf32>
  %vm = nn.matmul %v, %w : (tensor<8xf32>, tensor<8x4xf32>) -> tensor<4xf32>
  // CHECK-NEXT: %vm = nn.matmul %v, %w : (tensor<8xf32>, tensor<8x4xf32>) -> tensor<4xf32>
  %g0 = nn.gemm %x, %w : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %g0 = nn.gemm %x, %w : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  %g1 = nn.gemm %x, %wt, %c {alpha = 2.0 : f32, beta = 0.5 : f32, trans_b = 1 : i64} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %g1 = nn.gemm %x, %wt, %c {alpha = 2.000000e+00 : f32, beta = 5.000000e-01 : f32, trans_b = 1 : i64} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %xt = nn.transpose %x {perm = [1, 0]} : (tensor<2x8xf32>) -> tensor<8x2xf32>
  // CHECK-NEXT: %xt = nn.transpose %x {perm = [1 : i64, 0 : i64]} : (tensor<2x8xf32>) -> tensor<8x2xf32>
  %g2 = nn.gemm %xt, %w, %mm {trans_a = 1 : i64} : (tensor<8x2xf32>, tensor<8x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %g2 = nn.gemm %xt, %w, %mm {trans_a = 1 : i64} : (tensor<8x2xf32>, tensor<8x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %a = nn.add %mm, %c : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %a = nn.add %mm, %c : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %m = nn.mul %a, %g1 {name = "mul0"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %m = nn.mul %a, %g1 {name = "mul0"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %s = nn.softmax %m {axis = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %s = nn.softmax %m {axis = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %s2 = nn.softmax %m : (tensor<2x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %s2 = nn.softmax %m : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %ln0 = nn.layer_norm %s, %c : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %ln0 = nn.layer_norm %s, %c : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %ln1 = nn.layer_norm %s, %c, %c {axis = -1 : i64, epsilon = 1.0e-06 : f32} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %ln1 = nn.layer_norm %s, %c, %c {epsilon = 1.000000e-06 : f32} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %ln2 = nn.layer_norm %s2, %c {axis = 0 : i64} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %ln2 = nn.layer_norm %s2, %c {axis = 0 : i64} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %r = nn.reshape %ln1 : (tensor<2x4xf32>) -> tensor<8xf32>
  // CHECK-NEXT: %r = nn.reshape %ln1 : (tensor<2x4xf32>) -> tensor<8xf32>
  %t = nn.transpose %bmm {perm = [2, 0, 1]} : (tensor<3x2x4xf32>) -> tensor<4x3x2xf32>
  // CHECK-NEXT: %t = nn.transpose %bmm {perm = [2 : i64, 0 : i64, 1 : i64]} : (tensor<3x2x4xf32>) -> tensor<4x3x2xf32>
  %cc = nn.concat %ln0, %ln1 {axis = 0 : i64} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<4x4xf32>
  // CHECK-NEXT: %cc = nn.concat %ln0, %ln1 {axis = 0 : i64} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<4x4xf32>
  %cc1 = nn.concat %ln0, %ln1, %ln2 {axis = -1 : i64} : (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x12xf32>
  // CHECK-NEXT: %cc1 = nn.concat %ln0, %ln1, %ln2 {axis = -1 : i64} : (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x12xf32>
  %emb = nn.weight "embed" : tensor<10x4xf32>
  // CHECK-NEXT: %emb = nn.weight "embed" : tensor<10x4xf32>
  %ga = nn.gather %emb, %ids {name = "embed_lookup"} : (tensor<10x4xf32>, tensor<2x4xi64>) -> tensor<2x4x4xf32>
  // CHECK-NEXT: %ga = nn.gather %emb, %ids {name = "embed_lookup"} : (tensor<10x4xf32>, tensor<2x4xi64>) -> tensor<2x4x4xf32>
  %ga1 = nn.gather %emb, %ci {axis = 1 : i64} : (tensor<10x4xf32>, tensor<2xi64>) -> tensor<10x2xf32>
  // CHECK-NEXT: %ga1 = nn.gather %emb, %ci {axis = 1 : i64} : (tensor<10x4xf32>, tensor<2xi64>) -> tensor<10x2xf32>
  %lo, %hi = nn.onnx "Split"(%cc) {axis = 0 : i64, split = [2, 2]} {domain = "", name = "split0"} : (tensor<4x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>)
  // CHECK-NEXT: %lo, %hi = nn.onnx "Split"(%cc) {axis = 0 : i64, split = [2 : i64, 2 : i64]} {name = "split0", domain = ""} : (tensor<4x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>)
  %e = nn.onnx "Cast"(%hi) {to = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %e = nn.onnx "Cast"(%hi) {to = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %rn = nn.onnx "FusedMatMul"(%x, %w) {alpha = 1.0 : f32, transA = 0 : i64} {domain = "com.microsoft"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %rn = nn.onnx "FusedMatMul"(%x, %w) {alpha = 1.000000e+00 : f32, transA = 0 : i64} {domain = "com.microsoft"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  nn.onnx "Print"(%e, %rn) {label = "out"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> ()
  // CHECK-NEXT: nn.onnx "Print"(%e, %rn) {label = "out"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> ()
  func.return %e : tensor<2x4xf32>
  // CHECK-NEXT: func.return %e : tensor<2x4xf32>
}
// CHECK-NEXT: }{{$}}
// CHECK-NEXT: }{{$}}

// GENERIC:      "builtin.module"() ({
// GENERIC-NEXT: "func.func"() <{sym_name = "nn_ops", function_type = (tensor<2x8xf32>, tensor<3x2x8xf32>, tensor<8xf32>, tensor<2x4xi64>) -> tensor<2x4xf32>}> ({
// GENERIC-NEXT: ^bb0(%x: tensor<2x8xf32>, %xb: tensor<3x2x8xf32>, %v: tensor<8xf32>, %ids: tensor<2x4xi64>):
// GENERIC-NEXT: %w = "nn.weight"() <{sym_name = "encoder.w"}> : () -> tensor<8x4xf32>
// GENERIC-NEXT: %wt = "nn.weight"() <{sym_name = "encoder.wt"}> {name = "wt"} : () -> tensor<4x8xf32>
// GENERIC-NEXT: %c = "nn.constant"() <{value = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>}> {name = "bias"} : () -> tensor<4xf32>
// GENERIC-NEXT: %ci = "nn.constant"() <{value = dense<[2, 3]> : tensor<2xi64>}> : () -> tensor<2xi64>
// GENERIC-NEXT: %mm = "nn.matmul"(%x, %w) {name = "mm0"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %bmm = "nn.matmul"(%xb, %w) : (tensor<3x2x8xf32>, tensor<8x4xf32>) -> tensor<3x2x4xf32>
// GENERIC-NEXT: %vm = "nn.matmul"(%v, %w) : (tensor<8xf32>, tensor<8x4xf32>) -> tensor<4xf32>
// GENERIC-NEXT: %g0 = "nn.gemm"(%x, %w) <{alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = 0 : i64, trans_b = 0 : i64}> : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %g1 = "nn.gemm"(%x, %wt, %c) <{alpha = 2.000000e+00 : f32, beta = 5.000000e-01 : f32, trans_b = 1 : i64, trans_a = 0 : i64}> : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %xt = "nn.transpose"(%x) <{perm = [1 : i64, 0 : i64]}> : (tensor<2x8xf32>) -> tensor<8x2xf32>
// GENERIC-NEXT: %g2 = "nn.gemm"(%xt, %w, %mm) <{trans_a = 1 : i64, alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_b = 0 : i64}> : (tensor<8x2xf32>, tensor<8x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %a = "nn.add"(%mm, %c) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %m = "nn.mul"(%a, %g1) {name = "mul0"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %s = "nn.softmax"(%m) <{axis = 1 : i64}> : (tensor<2x4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %s2 = "nn.softmax"(%m) <{axis = -1 : i64}> : (tensor<2x4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %ln0 = "nn.layer_norm"(%s, %c) <{axis = -1 : i64, epsilon = 1.000000e-05 : f32}> : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %ln1 = "nn.layer_norm"(%s, %c, %c) <{axis = -1 : i64, epsilon = 1.000000e-06 : f32}> : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %ln2 = "nn.layer_norm"(%s2, %c) <{axis = 0 : i64, epsilon = 1.000000e-05 : f32}> : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %r = "nn.reshape"(%ln1) : (tensor<2x4xf32>) -> tensor<8xf32>
// GENERIC-NEXT: %t = "nn.transpose"(%bmm) <{perm = [2 : i64, 0 : i64, 1 : i64]}> : (tensor<3x2x4xf32>) -> tensor<4x3x2xf32>
// GENERIC-NEXT: %cc = "nn.concat"(%ln0, %ln1) <{axis = 0 : i64}> : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<4x4xf32>
// GENERIC-NEXT: %cc1 = "nn.concat"(%ln0, %ln1, %ln2) <{axis = -1 : i64}> : (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x12xf32>
// GENERIC-NEXT: %emb = "nn.weight"() <{sym_name = "embed"}> : () -> tensor<10x4xf32>
// GENERIC-NEXT: %ga = "nn.gather"(%emb, %ids) <{axis = 0 : i64}> {name = "embed_lookup"} : (tensor<10x4xf32>, tensor<2x4xi64>) -> tensor<2x4x4xf32>
// GENERIC-NEXT: %ga1 = "nn.gather"(%emb, %ci) <{axis = 1 : i64}> : (tensor<10x4xf32>, tensor<2xi64>) -> tensor<10x2xf32>
// GENERIC-NEXT: %lo, %hi = "nn.onnx"(%cc) <{op_type = "Split", onnx_attrs = {axis = 0 : i64, split = [2 : i64, 2 : i64]}, domain = ""}> {name = "split0"} : (tensor<4x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>)
// GENERIC-NEXT: %e = "nn.onnx"(%hi) <{op_type = "Cast", onnx_attrs = {to = 1 : i64}}> : (tensor<2x4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: %rn = "nn.onnx"(%x, %w) <{op_type = "FusedMatMul", onnx_attrs = {alpha = 1.000000e+00 : f32, transA = 0 : i64}, domain = "com.microsoft"}> : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
// GENERIC-NEXT: "nn.onnx"(%e, %rn) <{op_type = "Print", onnx_attrs = {label = "out"}}> : (tensor<2x4xf32>, tensor<2x4xf32>) -> ()
// GENERIC-NEXT: "func.return"(%e) : (tensor<2x4xf32>) -> ()
// GENERIC-NEXT: }) : () -> ()
// GENERIC-NEXT: }) : () -> ()
