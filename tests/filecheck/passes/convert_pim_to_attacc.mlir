// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-attacc-system.toml"},partition{strategy=roofline},lower-to-pim,convert-pim-to-attacc' | filecheck %s
// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-attacc-system.toml"},partition{strategy=roofline},lower-to-pim,convert-pim-to-attacc' | xdsl-opt | filecheck %s
// RUN: xdsl-opt %inputs/two-heads.mlir -p 'annotate-cost{system="%inputs/test-attacc-system.toml"},partition{strategy=pim-only},lower-to-pim,convert-pim-to-attacc' | filecheck %s --check-prefix=HEADS
// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},lower-to-pim,convert-pim-to-attacc' | filecheck %s --check-prefix=OTHER

// The toy system with an AttAcc device (inputs/test-attacc-system.toml: 2 channels x 2 banks, rows of
// two 32-byte columns). The GEMVs are those of convert_pim_to_aim.mlir: the same command sequence, as
// AttAcc ops. A global-buffer write and a MAC name how many input vectors they serve (1 here: 16
// MAC lanes match a column's 16 FP16 elements); MV_SB moves each bank's result to the buffer die at
// the row the MAC opened. The ISA has no bias preload, so `linear` has no WR_BIAS (the host adds the bias).

// CHECK:      %y = pim.gemv %x, %w {name = "fc", {{.*}}, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 0>} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32> {
// CHECK-NEXT: attacc.wr_gb {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>, row = 0 : i64}
// CHECK-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0-1>, row = 0 : i64}
// CHECK-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>, row = 1 : i64}
// CHECK-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0-1>, row = 1 : i64}
// CHECK-NEXT: attacc.barrier
// CHECK-NEXT: }
// CHECK:      %g = pim.gemv %x, %wt, %c {name = "linear", {{.*}}, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 2>, transpose_w} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32> {
// CHECK-NEXT: attacc.wr_gb {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>, row = 2 : i64}
// CHECK-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0-1>, row = 2 : i64}
// CHECK-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>, row = 3 : i64}
// CHECK-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0-1>, row = 3 : i64}
// CHECK-NEXT: attacc.barrier
// CHECK-NEXT: }
// CHECK:      %k = pim.gemv %u, %v {name = "long_k", {{.*}}, layout = #pim.gemv_layout<channels = 2, banks = 2, k_tile = 32, row_base = 4>} : (tensor<1x40xf32>, tensor<40x4xf32>) -> tensor<1x4xf32> {
// CHECK-NEXT: attacc.wr_gb {opsize = 2 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: attacc.mac_ab {opsize = 2 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>, row = 4 : i64}
// CHECK-NEXT: attacc.wr_gb {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>}
// CHECK-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-1>, row = 5 : i64}
// CHECK-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0-1>, row = 5 : i64}
// CHECK-NEXT: attacc.barrier
// CHECK-NEXT: }

// Attention (two K/V heads, one channel each, as in attention_heads.mlir): the softmax runs in the
// buffer die (SFM) between the score GEMV (rows 0-1) and the context GEMV (rows 2-3), whose input
// arrives from it (MV_GB) rather than from the host; the second head is the first one channel up.

// HEADS:      %a = pim.attention %q, %k, %v {name = "attn", {{.*}}, head_channels = 1 : i64}
// HEADS-NEXT: pim.repeat 2 rows + 0 channels + 1 {
// HEADS-NEXT: attacc.wr_gb {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0>}
// HEADS-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0>, row = 0 : i64}
// HEADS-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0>, row = 0 : i64}
// HEADS-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0>, row = 1 : i64}
// HEADS-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0>, row = 1 : i64}
// HEADS-NEXT: attacc.sfm {channel_mask = #pim.channels<0>}
// HEADS-NEXT: attacc.mv_gb {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0>}
// HEADS-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0>, row = 2 : i64}
// HEADS-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0>, row = 2 : i64}
// HEADS-NEXT: attacc.mac_ab {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0>, row = 3 : i64}
// HEADS-NEXT: attacc.mv_sb {outputs = 1 : i64, channel_mask = #pim.channels<0>, row = 3 : i64}
// HEADS-NEXT: }
// HEADS-NEXT: attacc.barrier
// HEADS-NEXT: }

// Macros on a device of another ISA (AiM here, prefix OTHER) are left without commands.
// OTHER-NOT: attacc.
// OTHER:      %y = pim.gemv %x, %w {name = "fc", {{.*}}} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32> {
// OTHER-NEXT: }
// OTHER-NEXT: place.transfer
// OTHER-NOT: attacc.
