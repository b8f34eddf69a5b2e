// RUN: xdsl-opt %s --split-input-file --parsing-diagnostics --verify-diagnostics | filecheck %s

// #pim.channels: channel numbers and inclusive ascending ranges, comma-separated,
// at most channel 65535. Anything else is a parse error at the offending text.
// A set given out of order or overlapping is accepted and prints canonically.

"test.op"() {c = #pim.channels<5-3>} : () -> ()

// CHECK:      {{^}}"test.op"() {c = #pim.channels<5-3>} : () -> ()
// CHECK-NEXT: {{^ +\^\^\^$}}
// CHECK-NEXT: channel range 5-3 runs backwards

// -----

"test.op"() {c = #pim.channels<0-2, 1, 9, 3>} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK:      "test.op"() {c = #pim.channels<0-3, 9>} : () -> ()

// -----

"test.op"() {c = #pim.channels<1 2>} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK:      Expected '>' to end the channel set

// -----

"test.op"() {c = #pim.channels<-1>} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK:      Expected integer literal (a channel number or a range such as 0-11)

// -----

"test.op"() {c = #pim.channels<0, >} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK:      Expected integer literal (a channel number or a range such as 0-11)

// -----

"test.op"() {c = #pim.channels<0-65536>} : () -> ()

// CHECK:      {{^// -{5}$}}
// CHECK:      channel 65536 is beyond the largest channel number 65535
