// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},lower-to-pim,convert-pim-to-aim' | filecheck %s
// RUN: xdsl-opt %inputs/big-gemv.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=pim-only},lower-to-pim,convert-pim-to-aim' | filecheck %s --check-prefix=LOOPS
// RUN: xdsl-opt %inputs/big-gemv.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=pim-only},lower-to-pim,convert-pim-to-aim' | xdsl-opt | filecheck %s --check-prefix=LOOPS
// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-attacc-system.toml"},partition{strategy=roofline},lower-to-pim,convert-pim-to-aim' | filecheck %s --check-prefix=OTHER

// Macros on a device of another ISA (AttAcc here, prefix OTHER) are left without commands.
// OTHER-NOT: aim.
// OTHER:      %y = pim.gemv %x, %w {name = "fc", {{.*}}} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32> {
// OTHER-NEXT: }
// OTHER-NEXT: place.transfer
// OTHER-NOT: aim.

// fc: K=16 -> 16 x 2 B = one 32-byte column (opsize 1). Two passes of 4 outputs, each on channels 0-1
// (#pim.channels<0-1>).
// The input vector goes to the global buffer once because K fits in one row.
// linear: with a bias, every pass starts with WR_BIAS.
// long_k: K=40 spans two rows: 32 elements (2 columns) then 8 (1 column), each chunk written to the GB first.

// CHECK:      %y = pim.gemv %x, %w {name = "fc", cost = {{.*}}, device = #place.device<"pim">, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 0>} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32> {
// CHECK-NEXT: aim.wr_gb {opsize = 1 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0-1>, row = 0 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0-1>, row = 1 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.sync
// CHECK-NEXT: }
// CHECK-NEXT: %0 = place.transfer %y {bytes = 16 : i64, latency_ns = 1.032000e+02 : f64, energy_pj = 1.280000e+02 : f64, src = #place.device<"pim">, dst = #place.device<"gpu">} : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT: %g = pim.gemv %x, %wt, %c {name = "linear", cost = {{.*}}, device = #place.device<"pim">, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 2>, transpose_w} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32> {
// CHECK-NEXT: aim.wr_bias {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.wr_gb {opsize = 1 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0-1>, row = 2 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.wr_bias {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0-1>, row = 3 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.sync
// CHECK-NEXT: }
// CHECK-NEXT: %1 = place.transfer %g {bytes = 16 : i64, latency_ns = 1.032000e+02 : f64, energy_pj = 1.280000e+02 : f64, src = #place.device<"pim">, dst = #place.device<"gpu">} : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT: %k = pim.gemv %u, %v {name = "long_k", cost = {{.*}}, device = #place.device<"pim">, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 4>} : (tensor<1x40xf32>, tensor<40x4xf32>) -> tensor<1x4xf32> {
// CHECK-NEXT: aim.wr_gb {opsize = 2 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.mac_abk {opsize = 2 : i64, channel_mask = #pim.channels<0-1>, row = 4 : i64}
// CHECK-NEXT: aim.wr_gb {opsize = 1 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0-1>, row = 5 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.sync
// CHECK-NEXT: }
// CHECK-NEXT: %y2 = pim.gemv %x, %w {name = "fc_again", cost = {{.*}}, device = #place.device<"pim">, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 0>} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32> {
// CHECK-NEXT: aim.wr_gb {opsize = 1 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0-1>, row = 0 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.mac_abk {opsize = 1 : i64, channel_mask = #pim.channels<0-1>, row = 1 : i64}
// CHECK-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: aim.sync
// CHECK-NEXT: }
// CHECK-NEXT: %s = nn.add %0, %1 {name = "sum", cost = {{.*}}, device = #place.device<"gpu">} : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32>


// Loop-compressed commands: K = 64 is two row tiles (32 elements = 2 columns each), N = 16 over
// 2 channels x 2 banks is 4 passes, M = 2 input rows. Pass p reads rows 2p and 2p+1, so the passes
// are one pim.repeat stepping 2 rows, and the two input rows repeat it with no step. The second
// RUN line checks that the printed form parses back to the same IR.

// LOOPS:      %y = pim.gemv %x, %w {name = "big", {{.*}}, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 0>}
// LOOPS-NEXT: pim.repeat 2 rows + 0 channels + 0 {
// LOOPS-NEXT:   pim.repeat 4 rows + 2 channels + 0 {
// LOOPS-NEXT:     aim.wr_gb {opsize = 2 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// LOOPS-NEXT:     aim.mac_abk {opsize = 2 : i64, channel_mask = #pim.channels<0-1>, row = 0 : i64}
// LOOPS-NEXT:     aim.wr_gb {opsize = 2 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// LOOPS-NEXT:     aim.mac_abk {opsize = 2 : i64, channel_mask = #pim.channels<0-1>, row = 1 : i64}
// LOOPS-NEXT:     aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// LOOPS-NEXT:   }
// LOOPS-NEXT: }
// LOOPS-NEXT: aim.sync
// LOOPS-NEXT: }
