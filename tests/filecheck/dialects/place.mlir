// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Round-trip of the place dialect: the #place.device attribute as a discardable
// `device` attribute on ops, and place.transfer whose src/dst properties print
// inside the attribute dictionary (after discardable attributes such as name).

// CHECK:      builtin.module {
func.func @place_ops(%x: tensor<1x512xf16>) -> tensor<1x256xf16> {
// CHECK-NEXT: func.func @place_ops(%x: tensor<1x512xf16>) -> tensor<1x256xf16> {
  %w = nn.weight "fc.w" {device = #place.device<"pim">} : tensor<512x256xf16>
  // CHECK-NEXT: %w = nn.weight "fc.w" {device = #place.device<"pim">} : tensor<512x256xf16>
  %h = place.transfer %x {src = #place.device<"npu">, dst = #place.device<"pim">} : tensor<1x512xf16> -> tensor<1x512xf16>
  // CHECK-NEXT: %h = place.transfer %x {src = #place.device<"npu">, dst = #place.device<"pim">} : tensor<1x512xf16> -> tensor<1x512xf16>
  %y = nn.matmul %h, %w {device = #place.device<"pim">, name = "fc"} : (tensor<1x512xf16>, tensor<512x256xf16>) -> tensor<1x256xf16>
  // CHECK-NEXT: %y = nn.matmul %h, %w {device = #place.device<"pim">, name = "fc"} : (tensor<1x512xf16>, tensor<512x256xf16>) -> tensor<1x256xf16>
  %z = place.transfer %y {dst = #place.device<"npu">, name = "fc_out", src = #place.device<"pim">} : tensor<1x256xf16> -> tensor<1x256xf16>
  // CHECK-NEXT: %z = place.transfer %y {name = "fc_out", dst = #place.device<"npu">, src = #place.device<"pim">} : tensor<1x256xf16> -> tensor<1x256xf16>
  %s = nn.softmax %z {device = #place.device<"npu">} : (tensor<1x256xf16>) -> tensor<1x256xf16>
  // CHECK-NEXT: %s = nn.softmax %z {device = #place.device<"npu">} : (tensor<1x256xf16>) -> tensor<1x256xf16>
  %o = place.transfer %s {src = #place.device<"npu">, dst = #place.device<"host_cpu">} : tensor<1x256xf16> -> tensor<1x256xf16>
  // CHECK-NEXT: %o = place.transfer %s {src = #place.device<"npu">, dst = #place.device<"host_cpu">} : tensor<1x256xf16> -> tensor<1x256xf16>
  func.return %o : tensor<1x256xf16>
  // CHECK-NEXT: func.return %o : tensor<1x256xf16>
}
// CHECK-NEXT: }{{$}}
// CHECK-NEXT: }{{$}}

// GENERIC:      "builtin.module"() ({
// GENERIC-NEXT: "func.func"() <{sym_name = "place_ops", function_type = (tensor<1x512xf16>) -> tensor<1x256xf16>}> ({
// GENERIC-NEXT: ^bb0(%x: tensor<1x512xf16>):
// GENERIC-NEXT: %w = "nn.weight"() <{sym_name = "fc.w"}> {device = #place.device<"pim">} : () -> tensor<512x256xf16>
// GENERIC-NEXT: %h = "place.transfer"(%x) <{src = #place.device<"npu">, dst = #place.device<"pim">}> : (tensor<1x512xf16>) -> tensor<1x512xf16>
// GENERIC-NEXT: %y = "nn.matmul"(%h, %w) {device = #place.device<"pim">, name = "fc"} : (tensor<1x512xf16>, tensor<512x256xf16>) -> tensor<1x256xf16>
// GENERIC-NEXT: %z = "place.transfer"(%y) <{dst = #place.device<"npu">, src = #place.device<"pim">}> {name = "fc_out"} : (tensor<1x256xf16>) -> tensor<1x256xf16>
// GENERIC-NEXT: %s = "nn.softmax"(%z) <{axis = -1 : i64}> {device = #place.device<"npu">} : (tensor<1x256xf16>) -> tensor<1x256xf16>
// GENERIC-NEXT: %o = "place.transfer"(%s) <{src = #place.device<"npu">, dst = #place.device<"host_cpu">}> : (tensor<1x256xf16>) -> tensor<1x256xf16>
// GENERIC-NEXT: "func.return"(%o) : (tensor<1x256xf16>) -> ()
// GENERIC-NEXT: }) : () -> ()
// GENERIC-NEXT: }) : () -> ()
