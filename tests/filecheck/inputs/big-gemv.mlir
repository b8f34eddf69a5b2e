// A GEMV with several passes and row tiles, for two input rows, on the toy system (inputs/test-system.toml).
func.func @main(%x: tensor<2x64xf32>) -> tensor<2x16xf32> {
  %w = nn.weight "w" : tensor<64x16xf32>
  %y = nn.matmul %x, %w {name = "big"} : (tensor<2x64xf32>, tensor<64x16xf32>) -> tensor<2x16xf32>
  func.return %y : tensor<2x16xf32>
}
