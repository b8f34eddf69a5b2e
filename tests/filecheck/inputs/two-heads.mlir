// Decode attention with two K/V heads on the toy system (inputs/test-system.toml): 2 channels x 2 banks.
func.func @main(%q: tensor<1x2x1x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x4xf32>) -> tensor<1x2x1x4xf32> {
  %a = nn.attention %q, %k, %v {name = "attn", scale = 0.25 : f64} : (tensor<1x2x1x16xf32>, tensor<1x2x4x16xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x1x4xf32>
  func.return %a : tensor<1x2x1x4xf32>
}
