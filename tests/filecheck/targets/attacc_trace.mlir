// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-attacc-system.toml"},partition{strategy=pim-only},schedule,check-capacity,lower-to-pim,convert-pim-to-attacc' -t pimc-attacc-trace | filecheck %s
// RUN: not xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-attacc-system.toml"},partition{strategy=pim-only},schedule,check-capacity,lower-to-pim,convert-pim-to-attacc' -t 'pimc-attacc-trace{stack=1}' 2>&1 | filecheck %s --check-prefix=STACK

// One HBM3 stack's AttAcc trace (`OP ADDRESS` lines) of the PIM macros in program order.
// CHECK: PIM_
// STACK: error: the AttAcc trace: stack=1, but device 'pim' has stacks 0..0
