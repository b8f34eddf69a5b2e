// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule' | filecheck %s
// RUN: pimc opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule{sub_batches=2}' | filecheck %s --check-prefix=SB

// roofline puts the four products on PIM (13.013, 15.015, 14.014, 13.013 ns: partition.mlir) and the add on the
// GPU (2.4 ns). PIM runs one op at a time in program order; each result the add reads crosses the link as soon as
// its producer ends (103.2 ns); the add starts when the later copy lands: 28.028 + 103.2 = 131.228 ns.
// CHECK:      pimc.schedule = {main = {start_ns = 0.000000e+00 : f64, makespan_ns = 133.62802802802804 : f64, streams = 1 : i64}}
// CHECK:      name = "fc", {{.*}}start_ns = 0.000000e+00 : f64, end_ns = 13.013013013013014 : f64}
// CHECK-NEXT: place.transfer %y {{{.*}}start_ns = 13.013013013013014 : f64, end_ns = 116.21301301301301 : f64
// CHECK-NEXT: name = "linear", {{.*}}start_ns = 13.013013013013014 : f64, end_ns = 28.028028028028029 : f64
// CHECK-NEXT: place.transfer %g {{{.*}}start_ns = 28.028028028028029 : f64, end_ns = 131.22802802802804 : f64
// CHECK-NEXT: name = "long_k", {{.*}}start_ns = 28.028028028028029 : f64, end_ns = 42.042042042042041 : f64
// CHECK-NEXT: name = "fc_again", {{.*}}start_ns = 42.042042042042041 : f64, end_ns = 55.055055055055057 : f64
// CHECK-NEXT: name = "sum", {{.*}}start_ns = 131.22802802802804 : f64, end_ns = 133.62802802802804 : f64

// Two interleaved sub-batches: each op runs for sub-batch 0 and then 1 on its device, so fc's second copy runs
// 13.013..26.026 and linear's first waits for it. `sub_batch_ns` holds sub-batch 1's [start, end].
// SB:      streams = 2 : i64
// SB:      name = "fc", {{.*}}start_ns = 0.000000e+00 : f64, end_ns = 13.013013013013014 : f64, sub_batch_ns = [13.013013013013014 : f64, 26.026026026026027 : f64]}
// SB:      name = "linear", {{.*}}start_ns = 26.026026026026027 : f64
