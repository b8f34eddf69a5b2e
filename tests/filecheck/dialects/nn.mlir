// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Round-trip of every op of the nn dialect in its custom form.

// CHECK:      builtin.module {
// CHECK-NEXT:   func.func @nn_ops(%x: tensor<2x8xf32>, %ids: tensor<2x4xi64>) -> tensor<2x4xf32> {

func.func @nn_ops(%x: tensor<2x8xf32>, %ids: tensor<2x4xi64>) -> tensor<2x4xf32> {
  %w = nn.weight "encoder.w" : tensor<8x4xf32>
  // CHECK-NEXT: %w = nn.weight "encoder.w" : tensor<8x4xf32>

  %wt = nn.weight "encoder.wt" {name = "wt"} : tensor<4x8xf32>
  // CHECK-NEXT: %wt = nn.weight "encoder.wt" {name = "wt"} : tensor<4x8xf32>

  %c = nn.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32> {name = "bias"} : tensor<4xf32>
  // CHECK-NEXT: %c = nn.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32> {name = "bias"} : tensor<4xf32>

  %ci = nn.constant dense<[2, 2]> : tensor<2xi64> : tensor<2xi64>
  // CHECK-NEXT: %ci = nn.constant dense<2> : tensor<2xi64> : tensor<2xi64>

  %mm = nn.matmul %x, %w {name = "mm0"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  // CHECK-NEXT: %mm = nn.matmul %x, %w {name = "mm0"} : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>

  %bmm = nn.matmul %cc, %w : (tensor<4x4xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
  // CHECK-NEXT: %bmm = nn.matmul
