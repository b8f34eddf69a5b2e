// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Round-trip of every AiM command op, at the boundary values the verifiers
// accept: opsize 1 and 64, channel sets #pim.channels<0> and <0-31> (all 32
// channels), <31> (channel 31 alone) and a set of several runs. Channel sets are
// written in any order and overlapping and print canonically (ascending runs,
// a run of one channel as its number). Properties print inside the attribute
// dictionary, after discardable attributes.

// CHECK:      builtin.module {
builtin.module {
  aim.wr_gb {opsize = 64 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-31>}
  // CHECK-NEXT: aim.wr_gb {opsize = 64 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-31>}
  aim.wr_gb {opsize = 1, gpr = 7, channel_mask = #pim.channels<0>, name = "x_chunk0"}
  // CHECK-NEXT: aim.wr_gb {name = "x_chunk0", opsize = 1 : i64, gpr = 7 : i64, channel_mask = #pim.channels<0>}
  aim.wr_bias {gpr = 3 : i64, channel_mask = #pim.channels<8-15, 0-7>}
  // CHECK-NEXT: aim.wr_bias {gpr = 3 : i64, channel_mask = #pim.channels<0-15>}
  aim.mac_abk {opsize = 32 : i64, channel_mask = #pim.channels<10-11, 3, 0-2, 1, 12>, row = 0 : i64}
  // CHECK-NEXT: aim.mac_abk {opsize = 32 : i64, channel_mask = #pim.channels<0-3, 10-12>, row = 0 : i64}
  aim.mac_abk {row = 16383 : i64, opsize = 64 : i64, channel_mask = #pim.channels<31>}
  // CHECK-NEXT: aim.mac_abk {row = 16383 : i64, opsize = 64 : i64, channel_mask = #pim.channels<31>}
  aim.rd_mac {gpr = 4 : i64, channel_mask = #pim.channels<0-15>}
  // CHECK-NEXT: aim.rd_mac {gpr = 4 : i64, channel_mask = #pim.channels<0-15>}
  aim.sync
  // CHECK-NEXT: aim.sync{{$}}
  aim.sync {name = "barrier"}
  // CHECK-NEXT: aim.sync {name = "barrier"}
  aim.eoc
  // CHECK-NEXT: aim.eoc{{$}}
}
// CHECK-NEXT: }{{$}}

// GENERIC:      "builtin.module"() ({
// GENERIC-NEXT: "aim.wr_gb"() <{opsize = 64 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-31>}> : () -> ()
// GENERIC-NEXT: "aim.wr_gb"() <{opsize = 1 : i64, gpr = 7 : i64, channel_mask = #pim.channels<0>}> {name = "x_chunk0"} : () -> ()
// GENERIC-NEXT: "aim.wr_bias"() <{gpr = 3 : i64, channel_mask = #pim.channels<0-15>}> : () -> ()
// GENERIC-NEXT: "aim.mac_abk"() <{opsize = 32 : i64, channel_mask = #pim.channels<0-3, 10-12>, row = 0 : i64}> : () -> ()
// GENERIC-NEXT: "aim.mac_abk"() <{row = 16383 : i64, opsize = 64 : i64, channel_mask = #pim.channels<31>}> : () -> ()
// GENERIC-NEXT: "aim.rd_mac"() <{gpr = 4 : i64, channel_mask = #pim.channels<0-15>}> : () -> ()
// GENERIC-NEXT: "aim.sync"() : () -> ()
// GENERIC-NEXT: "aim.sync"() {name = "barrier"} : () -> ()
// GENERIC-NEXT: "aim.eoc"() : () -> ()
// GENERIC-NEXT: }) : () -> ()
