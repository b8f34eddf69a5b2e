// Three PIM-able products on the toy system (inputs/test-system.toml), followed by GPU work.
func.func @main(%x: tensor<1x16xf32>, %u: tensor<1x40xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>, tensor<1x4xf32>, tensor<1x8xf32>) {
  %w = nn.weight "w" : tensor<16x8xf32>
  %wt = nn.weight "wt" : tensor<8x16xf32>
  %c = nn.weight "c" : tensor<8xf32>
  %v = nn.weight "v" : tensor<40x4xf32>
  %y = nn.matmul %x, %w {name = "fc"} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32>
  %g = nn.gemm %x, %wt, %c {name = "linear", trans_b = 1 : i64} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  %k = nn.matmul %u, %v {name = "long_k"} : (tensor<1x40xf32>, tensor<40x4xf32>) -> tensor<1x4xf32>
  %y2 = nn.matmul %x, %w {name = "fc_again"} : (tensor<1x16xf32>, tensor<16x8xf32>) -> tensor<1x8xf32>
  %s = nn.add %y, %g {name = "sum"} : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32>
  func.return %s, %y2, %k, %g : tensor<1x8xf32>, tensor<1x8xf32>, tensor<1x4xf32>, tensor<1x8xf32>
}
