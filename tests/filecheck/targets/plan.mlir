// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t pimc-plan | filecheck %s
// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity,baselines,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' -t pimc-plan | xdsl-opt -t pimc-plan | filecheck %s

// plan.mlir: the compiled IR, every figure the other targets read; it parses back to itself.
// CHECK:      builtin.module attributes {pimc.system = {{.*}}pimc.partition = {strategy = "roofline"{{.*}}pimc.schedule = {main = {{.*}}pimc.memory = {{.*}}pimc.baselines = {{.*}}
// CHECK:      pim.gemv {{.*}}name = "fc"
// CHECK-NEXT:   aim.wr_gb
