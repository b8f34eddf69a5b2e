// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// Invalid place IR: each case holds one place.transfer that fails to verify.

func.func @f(%x: tensor<4xf32>) {
  %0 = place.transfer %x {src = #place.device<"npu">, dst = #place.device<"npu">} : tensor<4xf32> -> tensor<4xf32>
  func.return
}

// CHECK:      {{^}}transfer from device 'npu' to itself
// CHECK:      "place.transfer"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: transfer from device 'npu' to itself

// -----

func.func @f(%x: tensor<4xf32>) {
  %0 = place.transfer %x {src = #place.device<"npu">, dst = #place.device<"pim">} : tensor<4xf32> -> tensor<4xf16>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: transfer result type must equal its input type
// CHECK:      "place.transfer"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: transfer result type must equal its input type

// -----

func.func @f(%x: tensor<4xf32>) {
  %0 = place.transfer %x {src = #place.device<"npu">, dst = #place.device<"pim">} : tensor<4xf32> -> tensor<2x2xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: transfer result type must equal its input type
// CHECK:      "place.transfer"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: transfer result type must equal its input type

// -----

func.func @f(%x: tensor<4xf32>) {
  %0 = place.transfer %x {src = #place.device<"npu">} : tensor<4xf32> -> tensor<4xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: property 'dst' expected in operation 'place.transfer'
// CHECK:      "place.transfer"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: property 'dst' expected in operation 'place.transfer'

// -----

// A property of the wrong kind fails when the op is built from the parsed IR.
func.func @f(%x: tensor<4xf32>) {
  %0 = place.transfer %x {src = #place.device<"npu">, dst = "pim"} : tensor<4xf32> -> tensor<4xf32>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: "pim" should be of base attribute place.device
