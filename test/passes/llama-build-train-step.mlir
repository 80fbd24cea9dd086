// RUN: llama-opt %s -split-input-file --llama-build-train-step -verify-diagnostics -allow-unregistered-dialect | FileCheck %s
// RUN: llama-opt %s -split-input-file --llama-build-train-step="weight-decay=0.01 max-grad-norm=0 final-lr-ratio=0" -verify-diagnostics -allow-unregistered-dialect | FileCheck %s --check-prefix=OPTS

// @loss_and_grads becomes @train_step: the schedule and peak rate as named
// inputs, two moments per weight, the global norm and the rate, and one
// AdamW update per parameter group (matrices with decay, gains without).

// CHECK-LABEL: func.func @train_step
// CHECK-SAME:    %[[W:[a-z0-9]+]]: tensor<4x8xf32> {llama.weight = "layers.0.attention.wq.weight"}
// CHECK-SAME:    %[[G:[a-z0-9]+]]: tensor<8xf32> {llama.weight = "norm.weight"}
// CHECK-SAME:    %[[S:[a-z0-9]+]]: tensor<3xi32> {llama.input = "schedule"}
// CHECK-SAME:    %[[P:[a-z0-9]+]]: tensor<f32> {llama.input = "peak_lr"}
// CHECK-SAME:    %[[MW:[a-z0-9]+]]: tensor<4x8xf32> {llama.optimizer_state = "adamw.m.layers.0.attention.wq.weight"}
// CHECK-SAME:    %[[VW:[a-z0-9]+]]: tensor<4x8xf32> {llama.optimizer_state = "adamw.v.layers.0.attention.wq.weight"}
// CHECK-SAME:    %[[MG:[a-z0-9]+]]: tensor<8xf32> {llama.optimizer_state = "adamw.m.norm.weight"}
// CHECK-SAME:    %[[VG:[a-z0-9]+]]: tensor<8xf32> {llama.optimizer_state = "adamw.v.norm.weight"}
// CHECK-SAME:    -> (tensor<f32> {llama.output = "loss"}, tensor<f32> {llama.output = "lr"}, tensor<f32> {llama.output = "grad_norm"}, tensor<4x8xf32> {llama.updates = "layers.0.attention.wq.weight"}, tensor<4x8xf32> {llama.updates = "adamw.m.layers.0.attention.wq.weight"}, tensor<4x8xf32> {llama.updates = "adamw.v.layers.0.attention.wq.weight"}, tensor<8xf32> {llama.updates = "norm.weight"}
// CHECK-SAME:    attributes {llama.entry = "train_step"}
// CHECK:         %[[NORM:.*]] = llama.grad_norm %[[DW:.*]], %[[DG:.*]] : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<f32>
// CHECK:         %[[LR:.*]] = llama.lr_schedule %[[S]], %[[P]] {final_ratio = 1.000000e-01 : f64}
// CHECK:         %[[UW:.*]]:3 = llama.adamw_update params(%[[W]]) grads(%[[DW]]) moments(%[[MW]]) second_moments(%[[VW]]) lr(%[[LR]]) grad_norm(%[[NORM]]) schedule(%[[S]])
// CHECK-SAME:      max_grad_norm = 1.000000e+00 : f64, weight_decay = 1.000000e-01 : f64
// CHECK:         %[[UG:.*]]:3 = llama.adamw_update params(%[[G]]) grads(%[[DG]]) moments(%[[MG]]) second_moments(%[[VG]])
// CHECK-SAME:      weight_decay = 0.000000e+00 : f64
// CHECK:         return %{{.*}}, %[[LR]], %[[NORM]], %[[UW]]#0, %[[UW]]#1, %[[UW]]#2, %[[UG]]#0, %[[UG]]#1, %[[UG]]#2
// CHECK-NOT:   func.func @loss_and_grads

// OPTS-LABEL: func.func @train_step
// OPTS: llama.lr_schedule {{.*}} {final_ratio = 0.000000e+00 : f64}
// OPTS: llama.adamw_update {{.*}} max_grad_norm = 0.000000e+00 : f64, weight_decay = 1.000000e-02 : f64
// OPTS: llama.adamw_update {{.*}} weight_decay = 0.000000e+00 : f64

func.func @loss_and_grads(%x: tensor<1x2x8xf32>,
                          %w: tensor<4x8xf32> {llama.weight = "layers.0.attention.wq.weight"},
                          %g: tensor<8xf32> {llama.weight = "norm.weight"})
    -> (tensor<f32>, tensor<4x8xf32> {llama.grad_of = "layers.0.attention.wq.weight"},
        tensor<8xf32> {llama.grad_of = "norm.weight"})
    attributes {llama.entry = "loss_and_grads"} {
  %loss = "test.loss"() : () -> tensor<f32>
  %dw = "test.dw"() : () -> tensor<4x8xf32>
  %dg = "test.dg"() : () -> tensor<8xf32>
  return %loss, %dw, %dg : tensor<f32>, tensor<4x8xf32>, tensor<8xf32>
}

// -----

// expected-error @+1 {{llama-build-train-step needs a function tagged llama.entry = "loss_and_grads" (run llama-autodiff first)}}
module {
  func.func @forward_loss() attributes {llama.entry = "forward_loss"} {
    return
  }
}

// -----

func.func @loss_and_grads() attributes {llama.entry = "loss_and_grads"} {
  return
}
// expected-error @+1 {{cannot build @train_step: the module already has one}}
func.func @train_step() attributes {llama.entry = "train_step"} {
  return
}

// -----

// Mixed precision (after llama-master-weights): f32 master weights with
// bf16 gradients. The moments are f32, the gradients go in as they are.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME:    %[[W:[a-z0-9]+]]: tensor<4x8xf32> {llama.weight = "layers.0.attention.wq.weight"}
// CHECK-SAME:    %{{[a-z0-9]+}}: tensor<4x8xf32> {llama.optimizer_state = "adamw.m.layers.0.attention.wq.weight"}
// CHECK-SAME:    %{{[a-z0-9]+}}: tensor<4x8xf32> {llama.optimizer_state = "adamw.v.layers.0.attention.wq.weight"}
// CHECK:         %[[DW:.*]] = "test.dw"() : () -> tensor<4x8xbf16>
// CHECK:         llama.grad_norm %[[DW]] : (tensor<4x8xbf16>) -> tensor<f32>
// CHECK:         llama.adamw_update params(%[[W]]) grads(%[[DW]])
// CHECK-SAME:      : (tensor<4x8xf32>, tensor<4x8xbf16>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
func.func @loss_and_grads(%w: tensor<4x8xf32> {llama.weight = "layers.0.attention.wq.weight"})
    -> (tensor<f32>, tensor<4x8xbf16> {llama.grad_of = "layers.0.attention.wq.weight"})
    attributes {llama.entry = "loss_and_grads"} {
  %loss = "test.loss"() : () -> tensor<f32>
  %dw = "test.dw"() : () -> tensor<4x8xbf16>
  return %loss, %dw : tensor<f32>, tensor<4x8xbf16>
}

// -----

// The same with llama-master-weights' convert: each update takes its
// group's bf16 copies and returns their new roundings after the moments.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME:    %[[W:[a-z0-9]+]]: tensor<4x8xf32> {llama.weight = "layers.0.attention.wq.weight"}
// CHECK-SAME:    %[[G:[a-z0-9]+]]: tensor<8xf32> {llama.weight = "norm.weight"}
// CHECK-SAME:    tensor<4x8xbf16> {llama.updates = "rounded.layers.0.attention.wq.weight"}
// CHECK-SAME:    tensor<8xbf16> {llama.updates = "rounded.norm.weight"}
// CHECK:         %[[C:.*]]:2 = llama.convert %[[W]], %[[G]]
// CHECK:         %[[UW:.*]]:4 = llama.adamw_update params(%[[W]]) {{.*}} rounded(%[[C]]#0)
// CHECK-SAME:      -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xbf16>)
// CHECK:         %[[UG:.*]]:4 = llama.adamw_update params(%[[G]]) {{.*}} rounded(%[[C]]#1)
// CHECK:         return {{.*}}, %[[UW]]#0, %[[UW]]#1, %[[UW]]#2, %[[UW]]#3, %[[UG]]#0, %[[UG]]#1, %[[UG]]#2, %[[UG]]#3 :
func.func @loss_and_grads(%w: tensor<4x8xf32> {llama.weight = "layers.0.attention.wq.weight"},
                          %g: tensor<8xf32> {llama.weight = "norm.weight"})
    -> (tensor<f32>, tensor<4x8xbf16> {llama.grad_of = "layers.0.attention.wq.weight"},
        tensor<8xbf16> {llama.grad_of = "norm.weight"})
    attributes {llama.entry = "loss_and_grads"} {
  %c:2 = llama.convert %w, %g : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xbf16>, tensor<8xbf16>)
  %loss = "test.loss"(%c#0, %c#1) : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<f32>
  %dw = "test.dw"() : () -> tensor<4x8xbf16>
  %dg = "test.dg"() : () -> tensor<8xbf16>
  return %loss, %dw, %dg : tensor<f32>, tensor<4x8xbf16>, tensor<8xbf16>
}

// -----

// A group with a weight that has no 16-bit copy (here wk) updates none of
// its copies: each step rounds them afresh.
// CHECK-LABEL: func.func @train_step
// CHECK:         llama.adamw_update params(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}) {{.*}} schedule(%{{[a-z0-9]+}}) {
// CHECK-SAME:      -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
func.func @loss_and_grads(%wq: tensor<4x8xf32> {llama.weight = "layers.0.attention.wq.weight"},
                          %wk: tensor<4x8xf32> {llama.weight = "layers.0.attention.wk.weight"})
    -> (tensor<f32>, tensor<4x8xbf16> {llama.grad_of = "layers.0.attention.wq.weight"},
        tensor<4x8xf32> {llama.grad_of = "layers.0.attention.wk.weight"})
    attributes {llama.entry = "loss_and_grads"} {
  %c = llama.convert %wq : (tensor<4x8xf32>) -> tensor<4x8xbf16>
  %loss = "test.loss"(%c, %wk) : (tensor<4x8xbf16>, tensor<4x8xf32>) -> tensor<f32>
  %dq = "test.dq"() : () -> tensor<4x8xbf16>
  %dk = "test.dk"() : () -> tensor<4x8xf32>
  return %loss, %dq, %dk : tensor<f32>, tensor<4x8xbf16>, tensor<4x8xf32>
}

// -----

// expected-error @+1 {{cannot be trained: weight 'norm.weight' is 'tensor<8xbf16>'; training keeps f32 master weights (run llama-master-weights first to compute in 16 bits)}}
func.func @loss_and_grads(%g: tensor<8xbf16> {llama.weight = "norm.weight"})
    -> (tensor<f32>, tensor<8xbf16> {llama.grad_of = "norm.weight"})
    attributes {llama.entry = "loss_and_grads"} {
  %loss = "test.loss"() : () -> tensor<f32>
  %dg = "test.dg"() : () -> tensor<8xbf16>
  return %loss, %dg : tensor<f32>, tensor<8xbf16>
}

// -----

func.func @loss_and_grads(%g: tensor<8xf32> {llama.weight = "norm.weight"})
    -> (tensor<f32>, tensor<8xf32>)
    attributes {llama.entry = "loss_and_grads"} {
  %loss = "test.loss"() : () -> tensor<f32>
  %dg = "test.dg"() : () -> tensor<8xf32>
  // expected-error @+1 {{result 1 of @loss_and_grads is not tagged llama.grad_of}}
  return %loss, %dg : tensor<f32>, tensor<8xf32>
}

// -----

func.func @loss_and_grads(%g: tensor<8xf32> {llama.weight = "norm.weight"})
    -> (tensor<f32>, tensor<8xf32> {llama.grad_of = "output.weight"})
    attributes {llama.entry = "loss_and_grads"} {
  %loss = "test.loss"() : () -> tensor<f32>
  %dg = "test.dg"() : () -> tensor<8xf32>
  // expected-error @+1 {{result 1 is the gradient of 'output.weight', which is no weight argument}}
  return %loss, %dg : tensor<f32>, tensor<8xf32>
}

// -----

// expected-error @+1 {{has no weight gradients to train with}}
func.func @loss_and_grads() -> tensor<f32>
    attributes {llama.entry = "loss_and_grads"} {
  %loss = "test.loss"() : () -> tensor<f32>
  return %loss : tensor<f32>
}
