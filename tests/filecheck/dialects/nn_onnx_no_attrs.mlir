// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s

// An ONNX node without attributes keeps an explicit empty dictionary in the custom
// form, so that the discardable attributes after it are not read as ONNX attributes.

func.func @f(%a: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %r = nn.onnx "Relu"(%a) {} {name = "act"} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %e = nn.onnx "Erf"(%r) {} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %e : tensor<2x4xf32>
}

// CHECK:      %r = nn.onnx "Relu"(%a) {} {name = "act"} : (tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT: %e = nn.onnx "Erf"(%r) {} : (tensor<2x4xf32>) -> tensor<2x4xf32>
