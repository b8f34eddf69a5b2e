// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule,check-capacity' | filecheck %s
// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=gpu-only},schedule,check-capacity' | filecheck %s --check-prefix=GPU

// Every weight is read on PIM (dram): w 16x8 + wt 8x16 + c 8 + v 40x4 = 424 elements x 2 bytes (fp16) = 848 bytes;
// the GPU's memory holds only the two copies the add reads (activations) and no weight.
// CHECK: pimc.memory = {dram = {weights_bytes = 848 : i64, weights = 4 : i64, kv_cache_bytes = {}, activations_bytes = {main = [[ACT:[0-9]+]] : i64}, total_bytes = {{[0-9]+}} : i64}, hbm = {weights_bytes = 0 : i64, weights = 0 : i64, kv_cache_bytes = {}, activations_bytes = {main = 16 : i64}, total_bytes = 16 : i64}}

// gpu-only: the weights move to hbm, dram holds nothing.
// GPU: pimc.memory = {dram = {weights_bytes = 0 : i64, weights = 0 : i64, {{.*}}total_bytes = 0 : i64}, hbm = {weights_bytes = 848 : i64, weights = 4 : i64,

// What a memory holds depends on the placement: check-capacity needs a partitioned module.
// RUN: not xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},check-capacity' 2>&1 | filecheck %s --check-prefix=UNPLACED
// UNPLACED: xdsl-opt: error: the module has no `pimc.partition` strategy: run partition first

// Two interleaved sub-batches (the IR costed at one): both sub-batches' activations are resident at once, so they
// count twice (16 B of copies on hbm -> 32 B); the weights are shared.
// RUN: xdsl-opt %inputs/three-gemvs.mlir -p 'annotate-cost{system="%inputs/test-system.toml"},partition{strategy=roofline},schedule{sub_batches=2},check-capacity' | filecheck %s --check-prefix=SB
// SB: pimc.memory = {dram = {weights_bytes = 848 : i64, {{.*}}hbm = {weights_bytes = 0 : i64, weights = 0 : i64, kv_cache_bytes = {}, activations_bytes = {main = 32 : i64}, total_bytes = 32 : i64}}
