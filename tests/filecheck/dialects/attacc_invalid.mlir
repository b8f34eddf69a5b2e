// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// Invalid AttAcc commands: one op per case. A command runs on at least one channel,
// covers at least one column (at most one 32-column row for a MAC) and serves at
// least one input vector.

attacc.wr_gb {opsize = 1 : i64, vectors = 1 : i64, channel_mask = #pim.channels<>}

// CHECK:      {{^}}attacc.wr_gb: channel_mask selects no channel
// CHECK:      "attacc.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: attacc.wr_gb: channel_mask selects no channel

// -----

attacc.mac_ab {opsize = 33 : i64, vectors = 1 : i64, channel_mask = #pim.channels<0-79>, row = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: attacc.mac_ab: opsize 33 exceeds the 32 columns of a row
// CHECK:      "attacc.mac_ab"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: attacc.mac_ab: opsize 33 exceeds the 32 columns of a row

// -----

attacc.mac_ab {opsize = 8 : i64, vectors = 0 : i64, channel_mask = #pim.channels<0-79>, row = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: attacc.mac_ab: vectors must be at least 1
// CHECK:      "attacc.mac_ab"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: attacc.mac_ab: vectors must be at least 1

// -----

attacc.mv_gb {opsize = 0 : i64, vectors = 1 : i64, channel_mask = #pim.channels<3>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: attacc.mv_gb: opsize must be at least 1
// CHECK:      "attacc.mv_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: attacc.mv_gb: opsize must be at least 1

// -----

attacc.mv_sb {outputs = 16 : i64, channel_mask = #pim.channels<0-15>, row = -1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: attacc.mv_sb: row must be non-negative
// CHECK:      "attacc.mv_sb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: attacc.mv_sb: row must be non-negative
