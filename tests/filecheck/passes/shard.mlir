// RUN: pimc opt %inputs/tiny-llama.pim -p 'shard{tp=2 system=dgx-a100}' | filecheck %s
// RUN: pimc opt %inputs/tiny-llama.pim -p 'shard{tp=2 system=dgx-a100}' | xdsl-opt | filecheck %s
// RUN: not pimc opt %inputs/tiny-llama.pim -p 'shard{tp=3 system=dgx-a100}' 2>&1 | filecheck %s --check-prefix=DIV
// RUN: not pimc opt %inputs/tiny-llama.pim -p 'shard{tp=2 system=a100}' 2>&1 | filecheck %s --check-prefix=ONE

// Megatron-LM's split of one Llama layer over 2 chips: the program of one chip.
// CHECK:      pimc.parallel = {tp = 2 : i64, chips = 8 : i64}
// CHECK:      shard.grid @tp(shape = 2)
// The KV cache is split by heads (2 K/V heads: one per chip); ids, cos and sin stay whole.
// CHECK:      func.func @decode(%ids: tensor<1x1xi64>, %cos: tensor<1x1x1x16xf16>, %sin: tensor<1x1x1x16xf16>, %layers_0_past_k: tensor<1x1x3x16xf16>, %layers_0_past_v: tensor<1x1x3x16xf16>) -> (tensor<1x1x4x16xf16>, tensor<1x1x4x16xf16>, tensor<1x1x256xf16>)
// Vocab-parallel embedding (rows 256 / 2), column-parallel q/k/v/gate/up (out features / 2), row-parallel
// o and down (in features / 2), the LM head split by vocabulary as the embedding is.
// CHECK:      nn.weight "embed_tokens" {{.*}}shard_dim = 0 : i64} : tensor<128x64xf16>
// CHECK:      nn.weight "layers.0.q_proj" {{.*}}shard_dim = 0 : i64} : tensor<32x64xf16>
// CHECK:      nn.weight "layers.0.k_proj" {{.*}}shard_dim = 0 : i64} : tensor<16x64xf16>
// CHECK:      nn.weight "layers.0.o_proj" {{.*}}shard_dim = 1 : i64} : tensor<64x32xf16>
// CHECK:      nn.weight "layers.0.down_proj" {{.*}}shard_dim = 1 : i64} : tensor<64x64xf16>
// CHECK:      nn.weight "lm_head" {{.*}}shard_dim = 0 : i64} : tensor<128x64xf16>
// The embedding's partial rows are summed before the first norm.
// CHECK:      %h = nn.gather {{.*}} -> tensor<1x1x64xf16>
// CHECK-NEXT: shard.all_reduce %h on @tp {name = "h.all_reduce", phase = "decode"} : tensor<1x1x64xf16> -> tensor<1x1x64xf16>
// Each chip computes 2 of the 4 query heads and 1 of the 2 K/V heads, and appends its K/V head to its cache.
// CHECK:      nn.rotary {{.*}} -> tensor<1x2x1x16xf16>
// CHECK:      nn.kv_append %layers_0_past_k, {{.*}} : (tensor<1x1x3x16xf16>, tensor<1x1x1x16xf16>) -> tensor<1x1x4x16xf16>
// CHECK:      nn.attention {{.*}} : (tensor<1x2x1x16xf16>, tensor<1x1x4x16xf16>, tensor<1x1x4x16xf16>) -> tensor<1x2x1x16xf16>
// CHECK:      nn.reshape {{.*}} -> tensor<1x1x32xf16>
// o's partial sum joins the (partial) residual; one all-reduce per norm input, two per layer.
// CHECK:      %layers_0_o = nn.linear {{.*}} : (tensor<1x1x32xf16>, tensor<64x32xf16>) -> tensor<1x1x64xf16>
// CHECK-NEXT: %layers_0_r = nn.add %h, %layers_0_o
// CHECK-NEXT: shard.all_reduce %layers_0_r on @tp
// CHECK:      nn.mul {{.*}} -> tensor<1x1x64xf16>
// CHECK:      %layers_0_h = nn.add %layers_0_r, %layers_0_mlp
// CHECK-NEXT: shard.all_reduce %layers_0_h on @tp
// The logits are gathered whole; the caches are returned split.
// CHECK:      %logits = nn.linear {{.*}} -> tensor<1x1x128xf16>
// CHECK-NEXT: dist.all_gather %logits on @tp gather_axis = 2 {name = "logits.all_gather", phase = "decode"} : tensor<1x1x128xf16> -> tensor<1x1x256xf16>
// CHECK-NEXT: func.return {phase = "decode"} %layers_0_present_k, %layers_0_present_v, %{{.*}} : tensor<1x1x4x16xf16>, tensor<1x1x4x16xf16>, tensor<1x1x256xf16>
// CHECK-NOT:  shard.all_reduce

// DIV: error: --tp 3: system 'dgx-a100' has 8 chips; tensor parallelism needs an interconnect whose chips the degree divides
// ONE: error: --tp 2: system 'a100' has one chip (no interconnect); tensor parallelism needs an interconnect whose chips the degree divides
