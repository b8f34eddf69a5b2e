// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// One case per verifier check of the nn dialect. Each case is a function (or a
// bare op in the implicit module) whose single nn op fails to verify; the CHECK
// lines match the first line of the diagnostic and the annotation on the op.

func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  %0 = nn.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  func.return
}

// CHECK:      {{^}}matmul operands (2, 3) and (4, 5) do not contract
// CHECK:      "nn.matmul"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: matmul operands (2, 3) and (4, 5) do not contract

// -----

func.func @f(%a: tensor<2x3x4xf32>, %b: tensor<5x4x6xf32>) {
  %0 = nn.matmul %a, %b : (tensor<2x3x4xf32>, tensor<5x4x6xf32>) -> tensor<2x3x6xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: matmul operands (2, 3, 4) and (5, 4, 6) do not contract
// CHECK:      "nn.matmul"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: matmul operands (2, 3, 4) and (5, 4, 6) do not contract

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) {
  %0 = nn.matmul %a, %b : (tensor<2x3xf32>, tensor<3x5xf32>) -> tensor<2x4xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: matmul result shape (2, 4) should be (2, 5)
// CHECK:      "nn.matmul"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: matmul result shape (2, 4) should be (2, 5)

// -----

func.func @f(%a: tensor<2x2x3xf32>, %b: tensor<3x5xf32>) {
  %0 = nn.gemm %a, %b : (tensor<2x2x3xf32>, tensor<3x5xf32>) -> tensor<2x5xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemm operands A and B must be 2-D
// CHECK:      "nn.gemm"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemm operands A and B must be 2-D

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  %0 = nn.gemm %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemm inner dimensions differ: 3 vs 4
// CHECK:      "nn.gemm"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemm inner dimensions differ: 3 vs 4

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) {
  %0 = nn.gemm %a, %b {trans_b = 1 : i64} : (tensor<2x3xf32>, tensor<3x5xf32>) -> tensor<2x3xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemm inner dimensions differ: 3 vs 5
// CHECK:      "nn.gemm"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemm inner dimensions differ: 3 vs 5

// -----

func.func @f(%a: tensor<3x2xf32>, %b: tensor<3x5xf32>) {
  %0 = nn.gemm %a, %b {trans_a = 1 : i64} : (tensor<3x2xf32>, tensor<3x5xf32>) -> tensor<3x5xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemm result shape (3, 5) should be (2, 5)
// CHECK:      "nn.gemm"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemm result shape (3, 5) should be (2, 5)

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>, %c: tensor<4xf32>) {
  %0 = nn.gemm %a, %b, %c : (tensor<2x3xf32>, tensor<3x5xf32>, tensor<4xf32>) -> tensor<2x5xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemm C of shape (4,) does not broadcast to (2, 5)
// CHECK:      "nn.gemm"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemm C of shape (4,) does not broadcast to (2, 5)

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) {
  %0 = nn.add %a, %b : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: operands (2, 3) and (2, 4) do not broadcast
// CHECK:      "nn.add"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: operands (2, 3) and (2, 4) do not broadcast

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: result shape (3,) should be (2, 3)
// CHECK:      "nn.add"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: result shape (3,) should be (2, 3)

// -----

func.func @f(%a: tensor<4x1xf32>, %b: tensor<3xf32>) {
  %0 = nn.mul %a, %b : (tensor<4x1xf32>, tensor<3xf32>) -> tensor<4x1xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: result shape (4, 1) should be (4, 3)
// CHECK:      "nn.mul"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: result shape (4, 1) should be (4, 3)

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x2xf32>) {
  %0 = nn.mul %a, %b : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x3xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: operands (2, 3) and (3, 2) do not broadcast
// CHECK:      "nn.mul"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: operands (2, 3) and (3, 2) do not broadcast

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.softmax %a {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: softmax axis 2 is out of range for rank 2
// CHECK:      "nn.softmax"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: softmax axis 2 is out of range for rank 2

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.softmax %a {axis = -3 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: softmax axis -3 is out of range for rank 2
// CHECK:      "nn.softmax"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: softmax axis -3 is out of range for rank 2

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.softmax %a : (tensor<2x3xf32>) -> tensor<2x3xf16>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: softmax result type must equal its input type
// CHECK:      "nn.softmax"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: softmax result type must equal its input type

// -----

func.func @f(%a: tensor<2x3xf32>, %s: tensor<3xf32>) {
  %0 = nn.layer_norm %a, %s {axis = -3 : i64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: layer_norm axis -3 is out of range for rank 2
// CHECK:      "nn.layer_norm"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: layer_norm axis -3 is out of range for rank 2

// -----

func.func @f(%a: tensor<2x3xf32>, %s: tensor<3xf32>) {
  %0 = nn.layer_norm %a, %s, %s : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<3x2xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: layer_norm result shape must equal its input shape
// CHECK:      "nn.layer_norm"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: layer_norm result shape must equal its input shape

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.reshape %a : (tensor<2x3xf32>) -> tensor<7xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: reshape changes the element count: 6 -> 7
// CHECK:      "nn.reshape"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: reshape changes the element count: 6 -> 7

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.transpose %a {perm = [0, 0]} : (tensor<2x3xf32>) -> tensor<2x2xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: transpose perm [0, 0] is not a permutation of rank 2
// CHECK:      "nn.transpose"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: transpose perm [0, 0] is not a permutation of rank 2

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.transpose %a {perm = [1, 0, 2]} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: transpose perm [1, 0, 2] is not a permutation of rank 2
// CHECK:      "nn.transpose"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: transpose perm [1, 0, 2] is not a permutation of rank 2

// -----

func.func @f(%a: tensor<2x3x4xf32>) {
  %0 = nn.transpose %a {perm = [2, 0, 1]} : (tensor<2x3x4xf32>) -> tensor<4x3x2xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: transpose result shape should be (4, 2, 3)
// CHECK:      "nn.transpose"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: transpose result shape should be (4, 2, 3)

// -----

%0 = "nn.concat"() <{axis = 0 : i64}> : () -> tensor<2xf32>

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: concat needs at least one input
// CHECK:      "nn.concat"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: concat needs at least one input

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.concat %a {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: concat axis 2 is out of range for rank 2
// CHECK:      "nn.concat"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: concat axis 2 is out of range for rank 2

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) {
  %0 = nn.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<4x3xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: concat input (2, 4) does not match result (4, 3) off axis 0
// CHECK:      "nn.concat"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: concat input (2, 4) does not match result (4, 3) off axis 0

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.concat %a, %b {axis = -1 : i64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x6xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: concat input (3,) does not match result (2, 6) off axis 1
// CHECK:      "nn.concat"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: concat input (3,) does not match result (2, 6) off axis 1

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) {
  %0 = nn.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<2x8xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: concat result dim along axis must be the sum of the inputs'
// CHECK:      "nn.concat"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: concat result dim along axis must be the sum of the inputs'

// -----

func.func @f(%d: tensor<10x4xf32>, %i: tensor<2x3xi64>) {
  %0 = nn.gather %d, %i : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x4xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gather result shape (2, 4) should be (2, 3, 4)
// CHECK:      "nn.gather"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gather result shape (2, 4) should be (2, 3, 4)

// -----

func.func @f(%d: tensor<10x4xf32>, %i: tensor<3xi64>) {
  %0 = nn.gather %d, %i {axis = -1 : i64} : (tensor<10x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gather result shape (3, 4) should be (10, 3)
// CHECK:      "nn.gather"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gather result shape (3, 4) should be (10, 3)

// -----

func.func @f(%d: tensor<10x4xf32>, %i: tensor<2xi64>) {
  %0 = nn.gather %d, %i {axis = 2 : i64} : (tensor<10x4xf32>, tensor<2xi64>) -> tensor<2x4xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gather axis 2 is out of range for rank 2
// CHECK:      "nn.gather"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gather axis 2 is out of range for rank 2

// -----

%0 = nn.weight "encoder.w" : tensor<?x4xf32>

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: weight 'encoder.w' must have a static shape
// CHECK:      "nn.weight"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: weight 'encoder.w' must have a static shape

// -----

%0 = nn.constant dense<1.0> : tensor<4xf32> : tensor<2x2xf32>

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: constant value type must equal the result type
// CHECK:      "nn.constant"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: constant value type must equal the result type

// -----

%0 = nn.constant dense<1> : tensor<4xi32> : tensor<4xi64>

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: constant value type must equal the result type
// CHECK:      "nn.constant"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: constant value type must equal the result type

// -----

func.func @f(%a: tensor<2xf32>) {
  %0 = nn.onnx ""(%a) {alpha = 1.0 : f32} : (tensor<2xf32>) -> tensor<2xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: nn.onnx needs a non-empty op_type
// CHECK:      "nn.onnx"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: nn.onnx needs a non-empty op_type

// -----

func.func @f(%a: tensor<f32>) {
  %0 = nn.concat %a, %a {axis = 0 : i64} : (tensor<f32>, tensor<f32>) -> tensor<f32>
  func.return
}

// CHECK: {{^// -{5}$}}
// CHECK: concat axis 0 is out of range for rank 0

// -----

func.func @f(%a: tensor<f32>, %i: tensor<2xi64>) {
  %0 = nn.gather %a, %i : (tensor<f32>, tensor<2xi64>) -> tensor<2xf32>
  func.return
}

// CHECK: {{^// -{5}$}}
// CHECK: gather axis 0 is out of range for rank 0

// -----

func.func @f(%x: tensor<2x8xf32>, %s: tensor<4xf32>) {
  %0 = nn.layer_norm %x, %s : (tensor<2x8xf32>, tensor<4xf32>) -> tensor<2x8xf32>
  func.return
}

// CHECK: {{^// -{5}$}}
// CHECK: layer_norm scale of shape (4,) does not broadcast to (8,)
