// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s

// Round-trip of every AttAcc command op. Channel sets are of any size: the attacc
// preset's 5 HBM3 stacks are channels 0-79, so a command on all of them is
// #pim.channels<0-79> (a mask of 80 bits, which no i64 holds), and one on the
// last stack's channels is #pim.channels<64-79>. `vectors` is how many input
// vectors a global-buffer write holds and a MAC serves (PAPI's FC-PIM: 4).

// CHECK:      builtin.module {
builtin.module {
  attacc.wr_gb {opsize = 32 : i64, vectors = 4 : i64, channel_mask = #pim.channels<0-79>}
  // CHECK-NEXT: attacc.wr_gb {opsize = 32 : i64, vectors = 4 : i64, channel_mask = #pim.channels<0-79>}
  attacc.mac_ab {opsize = 32, vectors = 4, channel_mask = #pim.channels<64-79>, row = 16383}
  // CHECK-NEXT: attacc.mac_ab {opsize = 32 : i64, vectors = 4 : i64, channel_mask = #pim.channels<64-79>, row = 16383 : i64}
  attacc.mv_sb {outputs = 64 : i64, channel_mask = #pim.channels<0-15, 32-47>, row = 7 : i64}
  // CHECK-NEXT: attacc.mv_sb {outputs = 64 : i64, channel_mask = #pim.channels<0-15, 32-47>, row = 7 : i64}
  attacc.sfm {channel_mask = #pim.channels<79>}
  // CHECK-NEXT: attacc.sfm {channel_mask = #pim.channels<79>}
  attacc.mv_gb {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<79>}
  // CHECK-NEXT: attacc.mv_gb {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<79>}
  attacc.barrier
  // CHECK-NEXT: attacc.barrier{{$}}
}
// CHECK-NEXT: }{{$}}
