// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t pimc-report | filecheck %s

// report.json from the compiled IR alone. The figures are the schedule's (passes/schedule.mlir): the makespan is
// the add's end, 133.628 ns; PIM is busy 13.013 + 15.015 + 14.014 + 13.013 = 55.055 ns of it; the two copies
// to the GPU take 103.2 ns and 16 B each. The function is not named after a phase, so its name is the phase.
// CHECK:      "schema_version": 3,
// CHECK:      "strategy": "roofline",
// CHECK:      "totals": {
// CHECK-NEXT:   "latency_ns": 133.62802802802804,
// CHECK:        "latency_ns_by_device": {
// CHECK-NEXT:     "npu": 0.0,
// CHECK-NEXT:     "pim": 55.05505505505506,
// CHECK-NEXT:     "gpu": 2.4
// CHECK:        "transfer_latency_ns": 206.4,
// CHECK:        "transfer_bytes": 32,
// CHECK:      "phases": {
// CHECK-NEXT:   "main": {
// CHECK-NEXT:     "ops": 5,
// CHECK:          "latency_ns": 133.62802802802804,
// The baselines pass's figures: gpu-only 69.2 ns / roofline's 133.628 ns (passes/baselines.mlir).
// CHECK:      "speedup": {
// CHECK-NEXT:   "gpu-only": {
// CHECK-NEXT:     "latency": 0.5178554306397871,
// The check-capacity pass's: the four weights, 848 B, on dram.
// CHECK:      "memory": {
// CHECK-NEXT:   "dram": {
// CHECK-NEXT:     "capacity_bytes": 1000000000,
// CHECK-NEXT:     "weights_bytes": 848,

// Errors are one line: a report of a module never scheduled, a decode step of no tokens, a device the system lacks.
// RUN: not xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition' -t pimc-report 2>&1 | filecheck %s --check-prefix=UNSCHEDULED
// UNSCHEDULED: xdsl-opt: error: the module has no `pimc.schedule`: run schedule first
// RUN: not xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t 'pimc-report{tokens_per_step=0}' 2>&1 | filecheck %s --check-prefix=TOKENS
// TOKENS: xdsl-opt: error: tokens_per_step=0: a decode step verifies at least one token
// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' | sed 's/#place.device<"gpu">/#place.device<"tpu">/' > %t.mlir
// RUN: not xdsl-opt %t.mlir -t pimc-report 2>&1 | filecheck %s --check-prefix=DEVICE
// DEVICE: xdsl-opt: error: op 'sum' is placed on device 'tpu', which has no cost for it (devices with a cost: npu, gpu)
