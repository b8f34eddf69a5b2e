// RUN: not pimc opt %s -p 'annotate-cost{system="%inputs/test-system.toml"},partition,lower-to-pim' 2>&1 | filecheck %s

// N=40 outputs on 2 channels x 2 banks take 10 passes = 10 rows, but a toy bank has 8 rows.

func.func @main(%x: tensor<1x16xf32>) -> tensor<1x40xf32> {
  %w = nn.weight "big" : tensor<16x40xf32>
  %y = nn.matmul %x, %w {name = "too_big"} : (tensor<1x16xf32>, tensor<16x40xf32>) -> tensor<1x40xf32>
  func.return %y : tensor<1x40xf32>
}

// CHECK: pimc: error: op 'too_big': weight 'big' needs rows 0..9 but a PIM bank has 8 rows
// CHECK-NOT: Traceback
