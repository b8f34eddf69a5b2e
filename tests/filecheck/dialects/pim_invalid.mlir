// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// Invalid pim IR: one pim.gemv (or one #pim.gemv_layout) per case. Errors in
// the layout attribute are raised while parsing, before any op exists, so
// xdsl-opt prints only the message for them.

func.func @f(%x: tensor<1x8xf16>, %w: tensor<8x4x2xf16>) {
  %0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x8xf16>, tensor<8x4x2xf16>) -> tensor<1x4xf16> {
  }
  func.return
}

// CHECK:      {{^}}gemv weight must be 2-D, got shape (8, 4, 2)
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemv weight must be 2-D, got shape (8, 4, 2)

// -----

func.func @f(%x: tensor<1x8xf16>, %w: tensor<16x4xf16>) {
  %0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x8xf16>, tensor<16x4xf16>) -> tensor<1x4xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv input (1, 8) does not match weight (16, 4): K differs
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemv input (1, 8) does not match weight (16, 4): K differs

// -----

func.func @f(%x: tensor<1x8xf16>, %w: tensor<8x4xf16>) {
  %0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>, transpose_w} : (tensor<1x8xf16>, tensor<8x4xf16>) -> tensor<1x8xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv input (1, 8) does not match weight (8, 4): K differs
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemv input (1, 8) does not match weight (8, 4): K differs

// -----

func.func @f(%x: tensor<f16>, %w: tensor<1x4xf16>) {
  %0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<f16>, tensor<1x4xf16>) -> tensor<4xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv input () does not match weight (1, 4): K differs
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemv input () does not match weight (1, 4): K differs

// -----

func.func @f(%x: tensor<1x8xf16>, %w: tensor<8x4xf16>) {
  %0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x8xf16>, tensor<8x4xf16>) -> tensor<4xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv result shape (4,) should be (1, 4)
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemv result shape (4,) should be (1, 4)

// -----

func.func @f(%x: tensor<2x3x8xf16>, %w: tensor<4x8xf16>) {
  %0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>, transpose_w} : (tensor<2x3x8xf16>, tensor<4x8xf16>) -> tensor<2x3x8xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv result shape (2, 3, 8) should be (2, 3, 4)
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemv result shape (2, 3, 8) should be (2, 3, 4)

// -----

func.func @f(%x: tensor<1x8xf16>, %w: tensor<8x4xf16>, %b: tensor<8xf16>) {
  %0 = pim.gemv %x, %w, %b {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x8xf16>, tensor<8x4xf16>, tensor<8xf16>) -> tensor<1x4xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv bias must have N=4 elements
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemv bias must have N=4 elements

// -----

func.func @f(%x: tensor<1x8xf16>, %w: tensor<8x4xf16>, %b: tensor<2x4xf16>) {
  %0 = pim.gemv %x, %w, %b {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x8xf16>, tensor<8x4xf16>, tensor<2x4xf16>) -> tensor<1x4xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv bias must have N=4 elements
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gemv bias must have N=4 elements

// -----

// A multi-block commands region is rejected by the NoTerminator trait.
func.func @f(%x: tensor<1x8xf16>, %w: tensor<8x4xf16>) {
  %0 = "pim.gemv"(%x, %w) <{layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = 0>}> ({
    aim.sync
    cf.br ^bb1
  ^bb1:
    aim.eoc
    "test.termop"() : () -> ()
  }) : (tensor<1x8xf16>, tensor<8x4xf16>) -> tensor<1x4xf16>
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: 'pim.gemv' does not contain single-block regions
// CHECK:      "pim.gemv"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: 'pim.gemv' does not contain single-block regions

// -----

// The layout is verified when it is parsed, so only the message is printed.
func.func @f(%x: tensor<1x8xf16>, %w: tensor<8x4xf16>) {
  %0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 0, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x8xf16>, tensor<8x4xf16>) -> tensor<1x4xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv layout channels must be positive

// -----

"test.op"() {layout = #pim.gemv_layout<channels = -1, banks = 16, k_tile = 1024, row_base = 0>} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv layout channels must be positive

// -----

"test.op"() {layout = #pim.gemv_layout<channels = 1, banks = 0, k_tile = 1024, row_base = 0>} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv layout banks must be positive

// -----

"test.op"() {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 0, row_base = 0>} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv layout k_tile must be positive

// -----

"test.op"() {layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 1024, row_base = -1>} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gemv layout row_base must be non-negative
