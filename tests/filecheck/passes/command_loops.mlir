// RUN: xdsl-opt %inputs/big-gemv.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=pim-only},lower-to-pim,pim-to-commands' | filecheck %s
// RUN: xdsl-opt %inputs/big-gemv.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=pim-only},lower-to-pim,pim-to-commands' | xdsl-opt | filecheck %s

// Loop-compressed commands: K = 64 is two row tiles (32 elements = 2 columns each), N = 16 over
// 2 channels x 2 banks is 4 passes, M = 2 input rows. Pass p reads rows 2p and 2p+1, so the passes
// are one pim.repeat stepping 2 rows, and the two input rows repeat it with no step. The second
// RUN line checks that the printed form parses back to the same IR.

// CHECK:      %y = pim.gemv %x, %w {name = "big", {{.*}}, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 0>}
// CHECK-NEXT: pim.repeat 2 rows + 0 channels + 0 {
// CHECK-NEXT:   pim.repeat 4 rows + 2 channels + 0 {
// CHECK-NEXT:     aim.wr_gb {opsize = 2 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT:     aim.mac_abk {opsize = 2 : i64, channel_mask = #pim.channels<0-1>, row = 0 : i64}
// CHECK-NEXT:     aim.wr_gb {opsize = 2 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT:     aim.mac_abk {opsize = 2 : i64, channel_mask = #pim.channels<0-1>, row = 1 : i64}
// CHECK-NEXT:     aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT:   }
// CHECK-NEXT: }
// CHECK-NEXT: aim.sync
// CHECK-NEXT: }
