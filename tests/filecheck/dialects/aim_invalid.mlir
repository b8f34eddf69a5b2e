// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// Invalid AiM commands: one op per case, checked against the opsize range
// (1..64), the channel set (at least one of AiM's channels 0-31) and
// non-negative gpr / row.

aim.wr_gb {opsize = 0 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0>}

// CHECK:      {{^}}opsize 0 must be in 1..64 (columns of one row)
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: opsize 0 must be in 1..64 (columns of one row)

// -----

aim.wr_gb {opsize = 65 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: opsize 65 must be in 1..64 (columns of one row)
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: opsize 65 must be in 1..64 (columns of one row)

// -----

aim.wr_gb {opsize = 1 : i64, gpr = 0 : i64, channel_mask = #pim.channels<>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask #pim.channels<> selects no channel
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask #pim.channels<> selects no channel

// -----

aim.wr_gb {opsize = 1 : i64, gpr = -1 : i64, channel_mask = #pim.channels<0>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gpr must be non-negative, got -1
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gpr must be non-negative, got -1

// -----

aim.wr_gb {gpr = 0 : i64, channel_mask = #pim.channels<0>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: property 'opsize' expected in operation 'aim.wr_gb'
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: property 'opsize' expected in operation 'aim.wr_gb'

// -----

aim.wr_bias {gpr = 0 : i64, channel_mask = #pim.channels<>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask #pim.channels<> selects no channel
// CHECK:      "aim.wr_bias"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask #pim.channels<> selects no channel

// -----

aim.wr_bias {gpr = 0 : i64, channel_mask = #pim.channels<32>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask #pim.channels<32> selects channel 32; AiM has channels 0-31
// CHECK:      "aim.wr_bias"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask #pim.channels<32> selects channel 32; AiM has channels 0-31

// -----

aim.wr_bias {gpr = -2 : i64, channel_mask = #pim.channels<0>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gpr must be non-negative, got -2
// CHECK:      "aim.wr_bias"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gpr must be non-negative, got -2

// -----

aim.mac_abk {opsize = 0 : i64, channel_mask = #pim.channels<0>, row = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: opsize 0 must be in 1..64 (columns of one row)
// CHECK:      "aim.mac_abk"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: opsize 0 must be in 1..64 (columns of one row)

// -----

aim.mac_abk {opsize = 65 : i64, channel_mask = #pim.channels<0>, row = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: opsize 65 must be in 1..64 (columns of one row)
// CHECK:      "aim.mac_abk"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: opsize 65 must be in 1..64 (columns of one row)

// -----

aim.mac_abk {opsize = 8 : i64, channel_mask = #pim.channels<0-15, 24-79>, row = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask #pim.channels<0-15, 24-79> selects channel 79; AiM has channels 0-31
// CHECK:      "aim.mac_abk"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask #pim.channels<0-15, 24-79> selects channel 79; AiM has channels 0-31

// -----

aim.mac_abk {opsize = 8 : i64, channel_mask = #pim.channels<0>, row = -1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: row must be non-negative, got -1
// CHECK:      "aim.mac_abk"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: row must be non-negative, got -1

// -----

aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask #pim.channels<> selects no channel
// CHECK:      "aim.rd_mac"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask #pim.channels<> selects no channel

// -----

aim.rd_mac {gpr = -3 : i64, channel_mask = #pim.channels<0>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gpr must be non-negative, got -3
// CHECK:      "aim.rd_mac"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gpr must be non-negative, got -3

// -----

// Every field but the channel set is an i64 property.
aim.rd_mac {gpr = 0 : i32, channel_mask = #pim.channels<0>}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: Expected attribute i64 but got i32

// -----

// The channel set is a #pim.channels attribute, not an integer mask.
aim.rd_mac {gpr = 0 : i64, channel_mask = 3 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: 3 : i64 should be of base attribute pim.channels
