// RUN: xdsl-opt %inputs/two-heads.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=pim-only},lower-to-pim,convert-pim-to-aim' | filecheck %s
// RUN: xdsl-opt %inputs/two-heads.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=pim-only},lower-to-pim' --print-op-generic | filecheck %s --check-prefix=GENERIC

// Two K/V heads on 2 channels x 2 banks. One channel per head (head_channels = 1) ties on time with
// both channels per head (two waves of one pass each) and writes the query to half as many global
// buffers, so each head gets its own channel: head 0 runs on #pim.channels<0>, head 1 on #pim.channels<1>,
// both in the same rows, and the two heads run side by side.
// Score: K-dim D = 16 (one 32-byte column), T = 4 keys over 2 banks = 2 passes, rows 0-1.
// Context: K-dim T = 4 (one column), Dv = 4 outputs over 2 banks = 2 passes, rows 2-3.
// The nn.attention's scale becomes the pim.attention's `scale` property (printed after the discardable
// attributes); the generic form shows it among the properties.

// CHECK:      %a = pim.attention %q, %k, %v {name = "attn", {{.*}}, device = #place.device<"pim">, scale = 2.500000e-01 : f64, k_layout = #pim.gemv_layout<channels = 1, banks = 2, k_tile = 32, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 2, k_tile = 32, row_base = 2>, head_channels = 1 : i64}
// The second head is the first shifted one channel up: a pim.repeat of 2 stepping 1 channel.
// CHECK-NEXT: pim.repeat 2 rows + 0 channels + 1 {
// CHECK-NEXT: aim.wr_gb {opsize = 1 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0>, row = 0 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0>, row = 1 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0>}
// CHECK-NEXT: aim.wr_gb {opsize = 1 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0>, row = 2 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0>, row = 3 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0>}
// CHECK-NEXT: }
// CHECK-NEXT: aim.sync
// CHECK-NEXT: }

// GENERIC:      "pim.attention"(%q, %k, %v) <{scale = 2.500000e-01 : f64, k_layout = #pim.gemv_layout<channels = 1, banks = 2, k_tile = 32, row_base = 0>, v_layout = #pim.gemv_layout<channels = 1, banks = 2, k_tile = 32, row_base = 2>, head_channels = 1 : i64}> ({
// GENERIC-NEXT: }) {name = "attn", {{.*}}, device = #place.device<"pim">} : (tensor<1x2x1x16xf32>, tensor<1x2x4x16xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x1x4xf32>
