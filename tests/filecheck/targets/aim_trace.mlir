// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t pimc-aim-trace | filecheck %s

// The AiM simulator's trace of the PIM macros, in program order: fc (K = 16, one 32 B column per row tile on
// 2 channels, mask 0xc0000000 in the simulator's bit order) reads its input once, then one MAC_ABK + RD_MAC per
// pass over the banks (N = 8 outputs on 2 channels x 2 banks: 2 passes), rows 0 and 1; a SYNC closes each macro.
// CHECK:      # pimc AiM trace: model model, system test, device pim
// CHECK-NEXT: # fc: gemv M=1 K=16 N=8 weight w channels=2 row_base=0
// CHECK-NEXT: AiM WR_GB 1 0 0xc0000000
// CHECK-NEXT: AiM MAC_ABK 1 0xc0000000 0
// CHECK-NEXT: AiM RD_MAC 0 0xc0000000
// CHECK-NEXT: AiM MAC_ABK 1 0xc0000000 1
// CHECK-NEXT: AiM RD_MAC 0 0xc0000000
// CHECK-NEXT: AiM SYNC
// CHECK:      AiM EOC
