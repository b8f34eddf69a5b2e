// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// One case per verifier check of the semantic nn ops (linear, attention, rms_norm,
// gelu, rotary, kv_append).

func.func @f(%x: tensor<2x8xf32>) {
  %w = nn.weight "w" : tensor<6x4xf32>
  %0 = nn.linear %x, %w : (tensor<2x8xf32>, tensor<6x4xf32>) -> tensor<2x4xf32>
  func.return
}

// CHECK:      {{^}}linear input's last dim 8 does not match the weight's K = 6
// CHECK:      "nn.linear"

// -----

func.func @f(%x: tensor<2x8xf32>) {
  %w = nn.weight "w" : tensor<4x8xf32>
  %b = nn.weight "b" : tensor<8xf32>
  %0 = nn.linear %x, %w, %b {transpose_w} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<2x4xf32>
  func.return
}

// CHECK:      {{^}}linear bias of shape (8,) should be (4,)
// CHECK:      "nn.linear"

// -----

func.func @f(%q: tensor<1x6x1x16xf32>, %k: tensor<1x4x9x16xf32>) {
  %0 = nn.attention %q, %k, %k {scale = 0.25 : f64} : (tensor<1x6x1x16xf32>, tensor<1x4x9x16xf32>, tensor<1x4x9x16xf32>) -> tensor<1x6x1x16xf32>
  func.return
}

// CHECK:      {{^}}attention query heads 6 are not a multiple of the K/V heads 4
// CHECK:      "nn.attention"

// -----

func.func @f(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x9x16xf32>, %m: tensor<1x1x2x8xf32>) {
  %0 = nn.attention %q, %k, %k, %m {scale = 0.25 : f64} : (tensor<1x4x2x16xf32>, tensor<1x4x9x16xf32>, tensor<1x4x9x16xf32>, tensor<1x1x2x8xf32>) -> tensor<1x4x2x16xf32>
  func.return
}

// CHECK:      {{^}}attention mask of shape (1, 1, 2, 8) does not broadcast to the scores (1, 4, 2, 9)
// CHECK:      "nn.attention"

// -----

func.func @f(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x9x8xf32>) {
  %0 = nn.attention %q, %k, %k {scale = 0.25 : f64} : (tensor<1x4x2x16xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) -> tensor<1x4x2x8xf32>
  func.return
}

// CHECK:      {{^}}attention shapes do not agree: q (1, 4, 2, 16), k (1, 4, 9, 8), v (1, 4, 9, 8)
// CHECK:      "nn.attention"

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<4xf32>) {
  %0 = nn.rms_norm %x, %g : (tensor<2x8xf32>, tensor<4xf32>) -> tensor<2x8xf32>
  func.return
}

// CHECK:      {{^}}rms_norm scale of shape (4,) does not broadcast to (2, 8)
// CHECK:      "nn.rms_norm"

// -----

func.func @f(%x: tensor<2x8xf32>) {
  %0 = nn.gelu %x {approximate = "sigmoid"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  func.return
}

// CHECK:      {{^}}gelu approximate must be one of ('none', 'tanh'), got 'sigmoid'
// CHECK:      "nn.gelu"

// -----

func.func @f(%x: tensor<1x2x4x15xf32>, %c: tensor<1x1x4x15xf32>) {
  %0 = nn.rotary %x, %c, %c : (tensor<1x2x4x15xf32>, tensor<1x1x4x15xf32>, tensor<1x1x4x15xf32>) -> tensor<1x2x4x15xf32>
  func.return
}

// CHECK:      {{^}}rotary needs an even last dim, got shape (1, 2, 4, 15)
// CHECK:      "nn.rotary"

// -----

func.func @f(%past: tensor<1x2x12x16xf32>, %new: tensor<1x4x1x16xf32>) {
  %0 = nn.kv_append %past, %new : (tensor<1x2x12x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x2x13x16xf32>
  func.return
}

// CHECK:      {{^}}kv_append cache (1, 2, 12, 16) and new (1, 4, 1, 16) differ outside the axis -2
// CHECK:      "nn.kv_append"

// -----

func.func @f(%past: tensor<1x2x12x16xf32>, %new: tensor<1x2x1x16xf32>) {
  %0 = nn.kv_append %past, %new : (tensor<1x2x12x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x12x16xf32>
  func.return
}

// CHECK:      {{^}}kv_append result shape (1, 2, 12, 16) should be (1, 2, 13, 16)
// CHECK:      "nn.kv_append"
