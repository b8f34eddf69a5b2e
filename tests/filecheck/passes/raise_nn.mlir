// RUN: xdsl-opt %s -p raise-nn | filecheck %s
// RUN: pimc opt %s -p raise-nn | filecheck %s

// raise-nn on the decomposed forms torch.onnx exports: a linear layer (MatMul with a
// transposed weight + bias Add), RMSNorm, SiLU, GELU (tanh form), rotary embedding on the
// keys, KV-cache appends, and SDPA with GQA (K/V repeated from 2 to 4 heads, K transposed
// through a 3-D reshape, sqrt(scale) on q and k, additive mask, NaN guard). Each raised op
// keeps the result node's name and lists every node it replaces; constants only the patterns
// read are erased; a product of two activations is not a linear layer and stays.

func.func @main(%x: tensor<1x2x8xf32>, %q: tensor<1x4x2x4xf32>, %k: tensor<1x2x2x4xf32>, %v: tensor<1x2x2x4xf32>, %past_k: tensor<1x2x6x4xf32>, %past_v: tensor<1x2x6x4xf32>, %mask: tensor<1x1x2x8xf32>, %cos: tensor<1x1x2x4xf32>, %sin: tensor<1x1x2x4xf32>) -> (tensor<1x2x6xf32>, tensor<1x2x8xf32>, tensor<1x2x6xf32>, tensor<1x2x6xf32>, tensor<1x4x2x4xf32>, tensor<1x2x8xf32>) {
  %w = nn.weight "fc.weight" : tensor<6x8xf32>
  %b = nn.weight "fc.bias" : tensor<6xf32>
  %g = nn.weight "norm.weight" : tensor<8xf32>
  %two = nn.constant dense<2.0> : tensor<f32> : tensor<f32>
  %three = nn.constant dense<3.0> : tensor<f32> : tensor<f32>
  %half = nn.constant dense<0.5> : tensor<f32> : tensor<f32>
  %one = nn.constant dense<1.0> : tensor<f32> : tensor<f32>
  %c044 = nn.constant dense<0.044715> : tensor<f32> : tensor<f32>
  %c079 = nn.constant dense<0.7978845608> : tensor<f32> : tensor<f32>
  %eps = nn.constant dense<1.0e-06> : tensor<f32> : tensor<f32>
  %axes = nn.constant dense<[-1]> : tensor<1xi64> : tensor<1xi64>
  %s0 = nn.constant dense<[2]> : tensor<1xi64> : tensor<1xi64>
  %e0 = nn.constant dense<[4]> : tensor<1xi64> : tensor<1xi64>
  %z0 = nn.constant dense<[0]> : tensor<1xi64> : tensor<1xi64>
  %ax = nn.constant dense<[3]> : tensor<1xi64> : tensor<1xi64>
  %sq = nn.constant dense<0.7071067811865476> : tensor<f32> : tensor<f32>
  %zero = nn.constant dense<0.0> : tensor<f32> : tensor<f32>
  %eshape = nn.constant dense<[1, 2, 2, 8, 4]> : tensor<5xi64> : tensor<5xi64>
  // linear: MatMul(x, Transpose(W)) + bias
  %wt = nn.transpose %w {name = "t_w", perm = [1, 0]} : (tensor<6x8xf32>) -> tensor<8x6xf32>
  %mm = nn.matmul %x, %wt {name = "fc/MatMul"} : (tensor<1x2x8xf32>, tensor<8x6xf32>) -> tensor<1x2x6xf32>
  %lin = nn.add %mm, %b {name = "fc/Add"} : (tensor<1x2x6xf32>, tensor<6xf32>) -> tensor<1x2x6xf32>
  // RMSNorm
  %p = "nn.onnx"(%x, %two) <{op_type = "Pow", onnx_attrs = {}}> {name = "norm/Pow"} : (tensor<1x2x8xf32>, tensor<f32>) -> tensor<1x2x8xf32>
  %mean = "nn.onnx"(%p, %axes) <{op_type = "ReduceMean", onnx_attrs = {keepdims = 1 : i64}}> {name = "norm/ReduceMean"} : (tensor<1x2x8xf32>, tensor<1xi64>) -> tensor<1x2x1xf32>
  %ae = nn.add %mean, %eps {name = "norm/Add"} : (tensor<1x2x1xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %sqrt = "nn.onnx"(%ae) <{op_type = "Sqrt", onnx_attrs = {}}> {name = "norm/Sqrt"} : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  %rs = "nn.onnx"(%sqrt) <{op_type = "Reciprocal", onnx_attrs = {}}> {name = "norm/Reciprocal"} : (tensor<1x2x1xf32>) -> tensor<1x2x1xf32>
  %xn = nn.mul %x, %rs {name = "norm/Mul"} : (tensor<1x2x8xf32>, tensor<1x2x1xf32>) -> tensor<1x2x8xf32>
  %norm = nn.mul %g, %xn {name = "norm/Mul_1"} : (tensor<8xf32>, tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  // SiLU
  %sg = "nn.onnx"(%lin) <{op_type = "Sigmoid", onnx_attrs = {}}> {name = "act/Sigmoid"} : (tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
  %silu = nn.mul %lin, %sg {name = "act/Mul"} : (tensor<1x2x6xf32>, tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
  // GELU, tanh form (GPT-2)
  %gh = nn.mul %lin, %half {name = "gelu/Mul"} : (tensor<1x2x6xf32>, tensor<f32>) -> tensor<1x2x6xf32>
  %gp = "nn.onnx"(%lin, %three) <{op_type = "Pow", onnx_attrs = {}}> {name = "gelu/Pow"} : (tensor<1x2x6xf32>, tensor<f32>) -> tensor<1x2x6xf32>
  %gm = nn.mul %gp, %c044 {name = "gelu/Mul_1"} : (tensor<1x2x6xf32>, tensor<f32>) -> tensor<1x2x6xf32>
  %ga = nn.add %lin, %gm {name = "gelu/Add"} : (tensor<1x2x6xf32>, tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
  %gs = nn.mul %ga, %c079 {name = "gelu/Mul_2"} : (tensor<1x2x6xf32>, tensor<f32>) -> tensor<1x2x6xf32>
  %gt = "nn.onnx"(%gs) <{op_type = "Tanh", onnx_attrs = {}}> {name = "gelu/Tanh"} : (tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
  %g1 = nn.add %gt, %one {name = "gelu/Add_1"} : (tensor<1x2x6xf32>, tensor<f32>) -> tensor<1x2x6xf32>
  %gelu = nn.mul %gh, %g1 {name = "gelu/Mul_3"} : (tensor<1x2x6xf32>, tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
  // rotary on k: cos * k + concat(-k[..., 2:], k[..., :2]) * sin (either operand order)
  %hi = "nn.onnx"(%k, %s0, %e0, %ax) <{op_type = "Slice", onnx_attrs = {}}> {name = "rope/Slice_hi"} : (tensor<1x2x2x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x2x2xf32>
  %lo = "nn.onnx"(%k, %z0, %s0, %ax) <{op_type = "Slice", onnx_attrs = {}}> {name = "rope/Slice_lo"} : (tensor<1x2x2x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x2x2x2xf32>
  %neg = "nn.onnx"(%hi) <{op_type = "Neg", onnx_attrs = {}}> {name = "rope/Neg"} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %rot = nn.concat %neg, %lo {name = "rope/Concat", axis = -1 : i64} : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x4xf32>
  %kc = nn.mul %cos, %k {name = "rope/Mul"} : (tensor<1x1x2x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  %ks = nn.mul %rot, %sin {name = "rope/Mul_1"} : (tensor<1x2x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x2x2x4xf32>
  %kr = nn.add %kc, %ks {name = "rope/Add"} : (tensor<1x2x2x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x2x4xf32>
  // KV-cache append of the rotated keys and the values
  %kall = nn.concat %past_k, %kr {name = "cat_k", axis = -2 : i64} : (tensor<1x2x6x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x8x4xf32>
  %vall = nn.concat %past_v, %v {name = "cat_v", axis = -2 : i64} : (tensor<1x2x6x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x8x4xf32>
  // attention as torch exports SDPA with GQA (2 K/V heads for 4 query heads)
  %ku = nn.reshape %kall {name = "k/Unsqueeze"} : (tensor<1x2x8x4xf32>) -> tensor<1x2x1x8x4xf32>
  %ke = "nn.onnx"(%ku, %eshape) <{op_type = "Expand", onnx_attrs = {}}> {name = "k/Expand"} : (tensor<1x2x1x8x4xf32>, tensor<5xi64>) -> tensor<1x2x2x8x4xf32>
  %kf = nn.reshape %ke {name = "k/Reshape"} : (tensor<1x2x2x8x4xf32>) -> tensor<4x8x4xf32>
  %kt = nn.transpose %kf {name = "k/Transpose", perm = [0, 2, 1]} : (tensor<4x8x4xf32>) -> tensor<4x4x8xf32>
  %k4 = nn.reshape %kt {name = "k/Reshape_1"} : (tensor<4x4x8xf32>) -> tensor<1x4x4x8xf32>
  %vu = nn.reshape %vall {name = "v/Unsqueeze"} : (tensor<1x2x8x4xf32>) -> tensor<1x2x1x8x4xf32>
  %ve = "nn.onnx"(%vu, %eshape) <{op_type = "Expand", onnx_attrs = {}}> {name = "v/Expand"} : (tensor<1x2x1x8x4xf32>, tensor<5xi64>) -> tensor<1x2x2x8x4xf32>
  %v4 = nn.reshape %ve {name = "v/Reshape"} : (tensor<1x2x2x8x4xf32>) -> tensor<1x4x8x4xf32>
  %qs = nn.mul %q, %sq {name = "sdpa/Mul_q"} : (tensor<1x4x2x4xf32>, tensor<f32>) -> tensor<1x4x2x4xf32>
  %ksc = nn.mul %k4, %sq {name = "sdpa/Mul_k"} : (tensor<1x4x4x8xf32>, tensor<f32>) -> tensor<1x4x4x8xf32>
  %sc = nn.matmul %qs, %ksc {name = "sdpa/MatMul"} : (tensor<1x4x2x4xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x2x8xf32>
  %sm = nn.add %sc, %mask {name = "sdpa/Add"} : (tensor<1x4x2x8xf32>, tensor<1x1x2x8xf32>) -> tensor<1x4x2x8xf32>
  %pr = nn.softmax %sm {name = "sdpa/Softmax"} : (tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  %nan = "nn.onnx"(%pr) <{op_type = "IsNaN", onnx_attrs = {}}> {name = "sdpa/IsNaN"} : (tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xi1>
  %pg = "nn.onnx"(%nan, %zero, %pr) <{op_type = "Where", onnx_attrs = {}}> {name = "sdpa/Where"} : (tensor<1x4x2x8xi1>, tensor<f32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  %att = nn.matmul %pg, %v4 {name = "sdpa/MatMul_1"} : (tensor<1x4x2x8xf32>, tensor<1x4x8x4xf32>) -> tensor<1x4x2x4xf32>
  // a product of two activations is not a linear layer and stays
  %xt = nn.transpose %x {name = "xt", perm = [0, 2, 1]} : (tensor<1x2x8xf32>) -> tensor<1x8x2xf32>
  %xx = nn.matmul %xt, %x {name = "xx"} : (tensor<1x8x2xf32>, tensor<1x2x8xf32>) -> tensor<1x8x8xf32>
  %xs = nn.matmul %x, %xx {name = "xs"} : (tensor<1x2x8xf32>, tensor<1x8x8xf32>) -> tensor<1x2x8xf32>
  func.return %silu, %norm, %gelu, %lin, %att, %xs : tensor<1x2x6xf32>, tensor<1x2x8xf32>, tensor<1x2x6xf32>, tensor<1x2x6xf32>, tensor<1x4x2x4xf32>, tensor<1x2x8xf32>
}

// CHECK:      builtin.module {
// CHECK-NEXT: func.func @main(%x: tensor<1x2x8xf32>, %q: tensor<1x4x2x4xf32>, %k: tensor<1x2x2x4xf32>, %v: tensor<1x2x2x4xf32>, %past_k: tensor<1x2x6x4xf32>, %past_v: tensor<1x2x6x4xf32>, %mask: tensor<1x1x2x8xf32>, %cos: tensor<1x1x2x4xf32>, %sin: tensor<1x1x2x4xf32>) -> (tensor<1x2x6xf32>, tensor<1x2x8xf32>, tensor<1x2x6xf32>, tensor<1x2x6xf32>, tensor<1x4x2x4xf32>, tensor<1x2x8xf32>) {
// CHECK-NEXT: %w = nn.weight "fc.weight" : tensor<6x8xf32>
// CHECK-NEXT: %b = nn.weight "fc.bias" : tensor<6xf32>
// CHECK-NEXT: %g = nn.weight "norm.weight" : tensor<8xf32>
// CHECK-NEXT: %lin = nn.linear %x, %w, %b {name = "fc/MatMul", onnx_nodes = ["t_w", "fc/MatMul", "fc/Add"], transpose_w} : (tensor<1x2x8xf32>, tensor<6x8xf32>, tensor<6xf32>) -> tensor<1x2x6xf32>
// CHECK-NEXT: %norm = nn.rms_norm %x, %g {name = "norm/Mul_1", onnx_nodes = ["norm/Pow", "norm/ReduceMean", "norm/Add", "norm/Sqrt", "norm/Reciprocal", "norm/Mul", "norm/Mul_1"]} : (tensor<1x2x8xf32>, tensor<8xf32>) -> tensor<1x2x8xf32>
// CHECK-NEXT: %silu = nn.silu %lin {name = "act/Mul", onnx_nodes = ["act/Sigmoid", "act/Mul"]} : (tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
// CHECK-NEXT: %gelu = nn.gelu %lin {name = "gelu/Mul_3", onnx_nodes = ["gelu/Mul", "gelu/Pow", "gelu/Mul_1", "gelu/Add", "gelu/Mul_2", "gelu/Tanh", "gelu/Add_1", "gelu/Mul_3"], approximate = "tanh"} : (tensor<1x2x6xf32>) -> tensor<1x2x6xf32>
// CHECK-NEXT: %kr = nn.rotary %k, %cos, %sin {name = "rope/Add", onnx_nodes = ["rope/Slice_hi", "rope/Neg", "rope/Slice_lo", "rope/Concat", "rope/Mul_1", "rope/Mul", "rope/Add"]} : (tensor<1x2x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x2x2x4xf32>
// CHECK-NEXT: %kall = nn.kv_append %past_k, %kr {name = "cat_k", onnx_nodes = ["cat_k"]} : (tensor<1x2x6x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x8x4xf32>
// CHECK-NEXT: %vall = nn.kv_append %past_v, %v {name = "cat_v", onnx_nodes = ["cat_v"]} : (tensor<1x2x6x4xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x8x4xf32>
// CHECK-NEXT: %att = nn.attention %q, %kall, %vall, %mask {name = "sdpa/MatMul_1", onnx_nodes = ["sdpa/Softmax", "sdpa/IsNaN", "sdpa/Where", "sdpa/Add", "sdpa/MatMul", "sdpa/Mul_q", "sdpa/Mul_k", "k/Reshape_1", "k/Transpose", "k/Reshape", "k/Expand", "k/Unsqueeze", "v/Reshape", "v/Expand", "v/Unsqueeze", "sdpa/MatMul_1"], scale = 0.49999998288572911 : f64} : (tensor<1x4x2x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x1x2x8xf32>) -> tensor<1x4x2x4xf32>
// CHECK-NEXT: %xt = nn.transpose %x {name = "xt", perm = [0 : i64, 2 : i64, 1 : i64]} : (tensor<1x2x8xf32>) -> tensor<1x8x2xf32>
// CHECK-NEXT: %xx = nn.matmul %xt, %x {name = "xx"} : (tensor<1x8x2xf32>, tensor<1x2x8xf32>) -> tensor<1x8x8xf32>
// CHECK-NEXT: %xs = nn.matmul %x, %xx {name = "xs"} : (tensor<1x2x8xf32>, tensor<1x8x8xf32>) -> tensor<1x2x8xf32>
// CHECK-NEXT: func.return %silu, %norm, %gelu, %lin, %att, %xs : tensor<1x2x6xf32>, tensor<1x2x8xf32>, tensor<1x2x6xf32>, tensor<1x2x6xf32>, tensor<1x4x2x4xf32>, tensor<1x2x8xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
