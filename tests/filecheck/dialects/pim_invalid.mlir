// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// Invalid pim IR: one pim.gemv, pim.attention (or one #pim.gemv_layout) per case. Errors in
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

// -----

// The scale multiplies the scores: finite and positive.
func.func @f(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>) {
  %0 = pim.attention %q, %k, %v {scale = 0.0 : f64, k_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 2>, head_channels = 1 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: pim.attention: scale must be finite and positive, got 0.0
// CHECK:      "pim.attention"
// CHECK-NEXT: ^^^^^^^^^^^^^^^
// CHECK-NEXT: | Operation does not verify: pim.attention: scale must be finite and positive, got 0.0

// -----

// A negative scale.
func.func @f(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>) {
  %0 = pim.attention %q, %k, %v {scale = -0.125 : f64, k_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 2>, head_channels = 1 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: pim.attention: scale must be finite and positive, got -0.125
// CHECK:      "pim.attention"
// CHECK-NEXT: ^^^^^^^^^^^^^^^
// CHECK-NEXT: | Operation does not verify: pim.attention: scale must be finite and positive, got -0.125

// -----

// An infinite scale.
func.func @f(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>) {
  %0 = pim.attention %q, %k, %v {scale = 0x7FF0000000000000 : f64, k_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 2>, head_channels = 1 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: pim.attention: scale must be finite and positive, got inf
// CHECK:      "pim.attention"
// CHECK-NEXT: ^^^^^^^^^^^^^^^
// CHECK-NEXT: | Operation does not verify: pim.attention: scale must be finite and positive, got inf

// -----

// A NaN fill value would make every masked row NaN.
func.func @f(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>) {
  %0 = pim.attention %q, %k, %v {scale = 0.125 : f64, mask_fill = 0x7FF8000000000000 : f64, k_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 2>, head_channels = 1 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: pim.attention: mask_fill must not be NaN or +inf, got nan
// CHECK:      "pim.attention"
// CHECK-NEXT: ^^^^^^^^^^^^^^^
// CHECK-NEXT: | Operation does not verify: pim.attention: mask_fill must not be NaN or +inf, got nan

// -----

// A +inf fill value (-inf is the usual one).
func.func @f(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>) {
  %0 = pim.attention %q, %k, %v {scale = 0.125 : f64, mask_fill = 0x7FF0000000000000 : f64, k_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 2>, head_channels = 1 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: pim.attention: mask_fill must not be NaN or +inf, got inf
// CHECK:      "pim.attention"
// CHECK-NEXT: ^^^^^^^^^^^^^^^
// CHECK-NEXT: | Operation does not verify: pim.attention: mask_fill must not be NaN or +inf, got inf

// -----

// The scale is an f64 property; an f32 one is rejected while parsing, so only the message is printed.
func.func @f(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>) {
  %0 = pim.attention %q, %k, %v {scale = 0.125 : f32, k_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 2>, head_channels = 1 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: f32 should be of base attribute f64

// -----

// The scale is required.
func.func @f(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>) {
  %0 = pim.attention %q, %k, %v {k_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 16, k_tile = 512, row_base = 2>, head_channels = 1 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  }
  func.return
}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: property 'scale' expected in operation 'pim.attention'
// CHECK:      "pim.attention"
// CHECK-NEXT: ^^^^^^^^^^^^^^^
// CHECK-NEXT: | Operation does not verify: property 'scale' expected in operation 'pim.attention'
