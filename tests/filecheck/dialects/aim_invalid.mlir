// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// Invalid AiM commands: one op per case, checked against the opsize range
// (1..64), channel_mask range (1 .. 2^32 - 1) and non-negative gpr / row.

aim.wr_gb {opsize = 0 : i64, gpr = 0 : i64, channel_mask = 1 : i64}

// CHECK:      {{^}}opsize 0 must be in 1..64 (columns of one row)
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: opsize 0 must be in 1..64 (columns of one row)

// -----

aim.wr_gb {opsize = 65 : i64, gpr = 0 : i64, channel_mask = 1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: opsize 65 must be in 1..64 (columns of one row)
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: opsize 65 must be in 1..64 (columns of one row)

// -----

aim.wr_gb {opsize = 1 : i64, gpr = 0 : i64, channel_mask = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask 0x0 must select 1..32 channels
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask 0x0 must select 1..32 channels

// -----

aim.wr_gb {opsize = 1 : i64, gpr = -1 : i64, channel_mask = 1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gpr must be non-negative, got -1
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gpr must be non-negative, got -1

// -----

aim.wr_gb {gpr = 0 : i64, channel_mask = 1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: property 'opsize' expected in operation 'aim.wr_gb'
// CHECK:      "aim.wr_gb"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: property 'opsize' expected in operation 'aim.wr_gb'

// -----

aim.wr_bias {gpr = 0 : i64, channel_mask = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask 0x0 must select 1..32 channels
// CHECK:      "aim.wr_bias"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask 0x0 must select 1..32 channels

// -----

aim.wr_bias {gpr = 0 : i64, channel_mask = 4294967296 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask 0x100000000 must select 1..32 channels
// CHECK:      "aim.wr_bias"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask 0x100000000 must select 1..32 channels

// -----

aim.wr_bias {gpr = -2 : i64, channel_mask = 1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gpr must be non-negative, got -2
// CHECK:      "aim.wr_bias"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gpr must be non-negative, got -2

// -----

aim.mac_abk {opsize = 0 : i64, channel_mask = 1 : i64, row = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: opsize 0 must be in 1..64 (columns of one row)
// CHECK:      "aim.mac_abk"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: opsize 0 must be in 1..64 (columns of one row)

// -----

aim.mac_abk {opsize = 65 : i64, channel_mask = 1 : i64, row = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: opsize 65 must be in 1..64 (columns of one row)
// CHECK:      "aim.mac_abk"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: opsize 65 must be in 1..64 (columns of one row)

// -----

aim.mac_abk {opsize = 8 : i64, channel_mask = -1 : i64, row = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask -0x1 must select 1..32 channels
// CHECK:      "aim.mac_abk"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask -0x1 must select 1..32 channels

// -----

aim.mac_abk {opsize = 8 : i64, channel_mask = 1 : i64, row = -1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: row must be non-negative, got -1
// CHECK:      "aim.mac_abk"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: row must be non-negative, got -1

// -----

aim.rd_mac {gpr = 0 : i64, channel_mask = 0 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: channel_mask 0x0 must select 1..32 channels
// CHECK:      "aim.rd_mac"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: channel_mask 0x0 must select 1..32 channels

// -----

aim.rd_mac {gpr = -3 : i64, channel_mask = 1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: gpr must be non-negative, got -3
// CHECK:      "aim.rd_mac"
// CHECK-NEXT: ^^^
// CHECK-NEXT: | Operation does not verify: gpr must be non-negative, got -3

// -----

// Every field is an i64 property.
aim.rd_mac {gpr = 0 : i32, channel_mask = 1 : i64}

// CHECK:      {{^// -{5}$}}
// CHECK-NEXT: Expected attribute i64 but got i32
