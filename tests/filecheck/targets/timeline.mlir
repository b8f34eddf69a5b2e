// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t pimc-timeline | filecheck %s

// timeline.json (Chrome trace events) from the schedule the IR records: one thread per device and link, times in
// microseconds. fc runs 0..13.013 ns on PIM; its result's copy to the GPU 13.013..116.213 ns on the link.
// CHECK: {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "pim"}}
// CHECK: {"name": "fc", "cat": "op", "ph": "X", "pid": 1, "tid": 1, "ts": 0.0, "dur": 0.013013013013013013, "args": {"role": "fc", "phase": "main", "stream": 0, "start_ns": 0.0, "end_ns": 13.013013013013014}}
// CHECK: {"name": "transfer fc", "cat": "transfer", {{.*}}"args": {"bytes": 16, "src": "dram", "dst": "hbm", "phase": "main", "stream": 0, "start_ns": 13.013013013013014, "end_ns": 116.21301301301301}}

// A module that was never scheduled has no timeline.
// RUN: not xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline}' -t pimc-timeline 2>&1 | filecheck %s --check-prefix=UNSCHEDULED
// UNSCHEDULED: xdsl-opt: error: the module has no `pimc.schedule`: run schedule first
