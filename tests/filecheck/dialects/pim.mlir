// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Round-trip of pim.gemv (without and with bias, with transpose_w, with an
// empty commands region and with AiM commands in it), #pim.gemv_layout, and
// pim.attention (scale only; with a boolean mask, mask_fill and causal).
// The properties (layout, transpose_w; scale, mask_fill, causal, k_layout,
// v_layout, head_channels) print inside the attribute dictionary, after the
// discardable attributes (name, device), and in the generic form as properties.

// CHECK:      builtin.module {
func.func @pim_ops(%x: tensor<1x512xf16>, %xb: tensor<4x8x512xf16>, %v: tensor<512xf16>, %b: tensor<256xf16>, %b2: tensor<1x256xf16>) {
// CHECK-NEXT: func.func @pim_ops(%x: tensor<1x512xf16>, %xb: tensor<4x8x512xf16>, %v: tensor<512xf16>, %b: tensor<256xf16>, %b2: tensor<1x256xf16>) {
  %w = nn.weight "fc.w" : tensor<512x256xf16>
  // CHECK-NEXT: %w = nn.weight "fc.w" : tensor<512x256xf16>
  %wt = nn.weight "fc.wt" : tensor<256x512xf16>
  // CHECK-NEXT: %wt = nn.weight "fc.wt" : tensor<256x512xf16>
  %y0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x512xf16>, tensor<512x256xf16>) -> tensor<1x256xf16> {
  // CHECK-NEXT: %y0 = pim.gemv %x, %w {layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x512xf16>, tensor<512x256xf16>) -> tensor<1x256xf16> {
  }
  // CHECK-NEXT: }{{$}}
  %y1 = pim.gemv %x, %w, %b {layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 8>, name = "fc"} : (tensor<1x512xf16>, tensor<512x256xf16>, tensor<256xf16>) -> tensor<1x256xf16> {
  // CHECK-NEXT: %y1 = pim.gemv %x, %w, %b {name = "fc", layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 8>} : (tensor<1x512xf16>, tensor<512x256xf16>, tensor<256xf16>) -> tensor<1x256xf16> {
  }
  // CHECK-NEXT: }{{$}}
  %y2 = pim.gemv %xb, %wt, %b2 {layout = #pim.gemv_layout<channels = 32, banks = 16, k_tile = 1024, row_base = 16>, transpose_w} : (tensor<4x8x512xf16>, tensor<256x512xf16>, tensor<1x256xf16>) -> tensor<4x8x256xf16> {
  // CHECK-NEXT: %y2 = pim.gemv %xb, %wt, %b2 {layout = #pim.gemv_layout<channels = 32, banks = 16, k_tile = 1024, row_base = 16>, transpose_w} : (tensor<4x8x512xf16>, tensor<256x512xf16>, tensor<1x256xf16>) -> tensor<4x8x256xf16> {
  }
  // CHECK-NEXT: }{{$}}
  %y3 = pim.gemv %v, %wt {transpose_w, layout = #pim.gemv_layout<channels = 1, banks = 1, k_tile = 16, row_base = 1024>, device = #place.device<"pim">} : (tensor<512xf16>, tensor<256x512xf16>) -> tensor<256xf16> {
  // CHECK-NEXT: %y3 = pim.gemv %v, %wt {device = #place.device<"pim">, transpose_w, layout = #pim.gemv_layout<channels = 1, banks = 1, k_tile = 16, row_base = 1024>} : (tensor<512xf16>, tensor<256x512xf16>) -> tensor<256xf16> {
  }
  // CHECK-NEXT: }{{$}}
  %y4 = pim.gemv %x, %w, %b {layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x512xf16>, tensor<512x256xf16>, tensor<256xf16>) -> tensor<1x256xf16> {
  // CHECK-NEXT: %y4 = pim.gemv %x, %w, %b {layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 0>} : (tensor<1x512xf16>, tensor<512x256xf16>, tensor<256xf16>) -> tensor<1x256xf16> {
    aim.wr_bias {gpr = 0 : i64, channel_mask = #pim.channels<0-15>}
    // CHECK-NEXT: aim.wr_bias {gpr = 0 : i64, channel_mask = #pim.channels<0-15>}
    aim.wr_gb {opsize = 32, gpr = 1, channel_mask = #pim.channels<0-15>}
    // CHECK-NEXT: aim.wr_gb {opsize = 32 : i64, gpr = 1 : i64, channel_mask = #pim.channels<0-15>}
    aim.mac_abk {opsize = 32, channel_mask = #pim.channels<0-15>, row = 0}
    // CHECK-NEXT: aim.mac_abk {opsize = 32 : i64, channel_mask = #pim.channels<0-15>, row = 0 : i64}
    aim.mac_abk {opsize = 32, channel_mask = #pim.channels<0-15>, row = 1}
    // CHECK-NEXT: aim.mac_abk {opsize = 32 : i64, channel_mask = #pim.channels<0-15>, row = 1 : i64}
    aim.rd_mac {gpr = 2, channel_mask = #pim.channels<0-15>}
    // CHECK-NEXT: aim.rd_mac {gpr = 2 : i64, channel_mask = #pim.channels<0-15>}
    aim.sync
    // CHECK-NEXT: aim.sync{{$}}
    aim.eoc
    // CHECK-NEXT: aim.eoc{{$}}
  }
  // CHECK-NEXT: }{{$}}
  func.return
  // CHECK-NEXT: func.return{{$}}
}
// CHECK-NEXT: }{{$}}

func.func @pim_attention(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>, %m: tensor<1x1x1x8xi1>) {
// CHECK-NEXT: func.func @pim_attention(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>, %m: tensor<1x1x1x8xi1>) {
  %a0 = pim.attention %q, %k, %v {scale = 0.125 : f64, k_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 2>, head_channels = 4 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  // CHECK-NEXT: %a0 = pim.attention %q, %k, %v {scale = 1.250000e-01 : f64, k_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 2>, head_channels = 4 : i64} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16> {
  }
  // CHECK-NEXT: }{{$}}
  %a1 = pim.attention %q, %k, %v, %m {head_channels = 4 : i64, name = "attn", causal, mask_fill = -1.0e+04 : f64, scale = 0.125 : f64, k_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 2, banks = 16, k_tile = 512, row_base = 2>} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x1x1x8xi1>) -> tensor<1x4x1x64xf16> {
  // CHECK-NEXT: %a1 = pim.attention %q, %k, %v, %m {name = "attn", head_channels = 4 : i64, causal, mask_fill = -1.000000e+04 : f64, scale = 1.250000e-01 : f64, k_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 2, banks = 16, k_tile = 512, row_base = 2>} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x1x1x8xi1>) -> tensor<1x4x1x64xf16> {
  }
  // CHECK-NEXT: }{{$}}
  func.return
  // CHECK-NEXT: func.return{{$}}
}
// CHECK-NEXT: }{{$}}
// CHECK-NEXT: }{{$}}

// GENERIC:      "builtin.module"() ({
// GENERIC-NEXT: "func.func"() <{sym_name = "pim_ops", function_type = (tensor<1x512xf16>, tensor<4x8x512xf16>, tensor<512xf16>, tensor<256xf16>, tensor<1x256xf16>) -> ()}> ({
// GENERIC-NEXT: ^bb0(%x: tensor<1x512xf16>, %xb: tensor<4x8x512xf16>, %v: tensor<512xf16>, %b: tensor<256xf16>, %b2: tensor<1x256xf16>):
// GENERIC-NEXT: %w = "nn.weight"() <{sym_name = "fc.w"}> : () -> tensor<512x256xf16>
// GENERIC-NEXT: %wt = "nn.weight"() <{sym_name = "fc.wt"}> : () -> tensor<256x512xf16>
// GENERIC-NEXT: %y0 = "pim.gemv"(%x, %w) <{layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 0>}> ({
// GENERIC-NEXT: }) : (tensor<1x512xf16>, tensor<512x256xf16>) -> tensor<1x256xf16>
// GENERIC-NEXT: %y1 = "pim.gemv"(%x, %w, %b) <{layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 8>}> ({
// GENERIC-NEXT: }) {name = "fc"} : (tensor<1x512xf16>, tensor<512x256xf16>, tensor<256xf16>) -> tensor<1x256xf16>
// GENERIC-NEXT: %y2 = "pim.gemv"(%xb, %wt, %b2) <{layout = #pim.gemv_layout<channels = 32, banks = 16, k_tile = 1024, row_base = 16>, transpose_w}> ({
// GENERIC-NEXT: }) : (tensor<4x8x512xf16>, tensor<256x512xf16>, tensor<1x256xf16>) -> tensor<4x8x256xf16>
// GENERIC-NEXT: %y3 = "pim.gemv"(%v, %wt) <{transpose_w, layout = #pim.gemv_layout<channels = 1, banks = 1, k_tile = 16, row_base = 1024>}> ({
// GENERIC-NEXT: }) {device = #place.device<"pim">} : (tensor<512xf16>, tensor<256x512xf16>) -> tensor<256xf16>
// GENERIC-NEXT: %y4 = "pim.gemv"(%x, %w, %b) <{layout = #pim.gemv_layout<channels = 16, banks = 16, k_tile = 1024, row_base = 0>}> ({
// GENERIC-NEXT: "aim.wr_bias"() <{gpr = 0 : i64, channel_mask = #pim.channels<0-15>}> : () -> ()
// GENERIC-NEXT: "aim.wr_gb"() <{opsize = 32 : i64, gpr = 1 : i64, channel_mask = #pim.channels<0-15>}> : () -> ()
// GENERIC-NEXT: "aim.mac_abk"() <{opsize = 32 : i64, channel_mask = #pim.channels<0-15>, row = 0 : i64}> : () -> ()
// GENERIC-NEXT: "aim.mac_abk"() <{opsize = 32 : i64, channel_mask = #pim.channels<0-15>, row = 1 : i64}> : () -> ()
// GENERIC-NEXT: "aim.rd_mac"() <{gpr = 2 : i64, channel_mask = #pim.channels<0-15>}> : () -> ()
// GENERIC-NEXT: "aim.sync"() : () -> ()
// GENERIC-NEXT: "aim.eoc"() : () -> ()
// GENERIC-NEXT: }) : (tensor<1x512xf16>, tensor<512x256xf16>, tensor<256xf16>) -> tensor<1x256xf16>
// GENERIC-NEXT: "func.return"() : () -> ()
// GENERIC-NEXT: }) : () -> ()
// GENERIC-NEXT: "func.func"() <{sym_name = "pim_attention", function_type = (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x1x1x8xi1>) -> ()}> ({
// GENERIC-NEXT: ^bb0(%q: tensor<1x4x1x64xf16>, %k: tensor<1x2x8x64xf16>, %v: tensor<1x2x8x64xf16>, %m: tensor<1x1x1x8xi1>):
// GENERIC-NEXT: %a0 = "pim.attention"(%q, %k, %v) <{scale = 1.250000e-01 : f64, k_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 2>, head_channels = 4 : i64}> ({
// GENERIC-NEXT: }) : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>) -> tensor<1x4x1x64xf16>
// GENERIC-NEXT: %a1 = "pim.attention"(%q, %k, %v, %m) <{head_channels = 4 : i64, causal, mask_fill = -1.000000e+04 : f64, scale = 1.250000e-01 : f64, k_layout = #pim.gemv_layout<channels = 4, banks = 16, k_tile = 512, row_base = 0>, v_layout = #pim.gemv_layout<channels = 2, banks = 16, k_tile = 512, row_base = 2>}> ({
// GENERIC-NEXT: }) {name = "attn"} : (tensor<1x4x1x64xf16>, tensor<1x2x8x64xf16>, tensor<1x2x8x64xf16>, tensor<1x1x1x8xi1>) -> tensor<1x4x1x64xf16>
// GENERIC-NEXT: "func.return"() : () -> ()
// GENERIC-NEXT: }) : () -> ()
// GENERIC-NEXT: }) : () -> ()
