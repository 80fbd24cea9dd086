// RUN: llama-opt %s -split-input-file -verify-diagnostics

// One case per verifier diagnostic of the optimizer ops.

func.func @schedule_size(%s: tensor<2xi32>, %p: tensor<f32>) {
  // expected-error @+1 {{'llama.lr_schedule' op schedule must be tensor<3xi32> ([step, warmup_steps, total_steps]), got 'tensor<2xi32>'}}
  %lr = llama.lr_schedule %s, %p {final_ratio = 0.1 : f64} : (tensor<2xi32>, tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @final_ratio(%s: tensor<3xi32>, %p: tensor<f32>) {
  // expected-error @+1 {{final_ratio must be in [0, 1], got 1.5}}
  %lr = llama.lr_schedule %s, %p {final_ratio = 1.5 : f64} : (tensor<3xi32>, tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @norm_empty() {
  // expected-error @+1 {{'llama.grad_norm' op needs at least one gradient}}
  %n = llama.grad_norm : () -> tensor<f32>
  return
}

// -----

func.func @convert_empty() {
  // expected-error @+1 {{'llama.convert' op needs at least one tensor to convert}}
  llama.convert : () -> ()
  return
}

// -----

func.func @convert_count(%w: tensor<8xf32>) {
  // expected-error @+1 {{needs one result per operand: got 1 operands and 2 results}}
  %a:2 = llama.convert %w : (tensor<8xf32>) -> (tensor<8xbf16>, tensor<8xbf16>)
  return
}

// -----

func.func @convert_shape(%w: tensor<8x4xf32>) {
  // expected-error @+1 {{result 0 type 'tensor<4x8xbf16>' has another shape than operand 'tensor<8x4xf32>'}}
  %a = llama.convert %w : (tensor<8x4xf32>) -> tensor<4x8xbf16>
  return
}

// -----

func.func @convert_int(%w: tensor<8xi32>) {
  // expected-error @+1 {{operand #0 must be variadic of ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %a = llama.convert %w : (tensor<8xi32>) -> tensor<8xf32>
  return
}

// -----

func.func @adamw_empty(%lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{'llama.adamw_update' op needs at least one parameter}}
  llama.adamw_update params() grads() moments() second_moments() lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<f32>, tensor<f32>, tensor<3xi32>) -> ()
  return
}

// -----

func.func @adamw_counts(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{needs one gradient and two moments per parameter: got 1 params, 1 grads, 1 moments and 0 second_moments}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments() lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_results(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{must have 3 results per parameter (3), got 2}}
  %u:2 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_bf16(%w: tensor<8xbf16>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{param 0 must be f32 (master weights), got 'tensor<8xbf16>'}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xbf16>, tensor<8xbf16>, tensor<8xbf16>, tensor<8xbf16>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xbf16>, tensor<8xbf16>, tensor<8xbf16>)
  return
}

// -----

func.func @adamw_dynamic(%w: tensor<?xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{param 0 must have a static shape, got 'tensor<?xf32>'}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>)
  return
}

// -----

func.func @adamw_grad_shape(%w: tensor<8xf32>, %g: tensor<4xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{grad 0 type 'tensor<4xf32>' has another shape than param type 'tensor<8xf32>'}}
  %u:3 = llama.adamw_update params(%w) grads(%g) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_schedule(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<4xi32>) {
  // expected-error @+1 {{schedule must be tensor<3xi32> ([step, warmup_steps, total_steps]), got 'tensor<4xi32>'}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<4xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_beta1(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{beta1 must be in [0, 1), got 1}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 1.0 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_beta2(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{beta2 must be in [0, 1), got -5.000000e-01}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = -0.5 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_decay(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{weight_decay must be in [0, 1], got 2}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 2.0 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_epsilon(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{epsilon must be positive, got 0}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 0.0 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_clip(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{max_grad_norm must not be negative (0 disables clipping), got -1}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = -1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_rounded_count(%w: tensor<8xf32>, %v: tensor<4xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  %c = llama.convert %w : (tensor<8xf32>) -> tensor<8xbf16>
  // expected-error @+1 {{needs a rounded copy of every parameter or of none: got 2 params and 1 rounded}}
  %u:8 = llama.adamw_update params(%w, %v) grads(%w, %v) moments(%w, %v) second_moments(%w, %v) lr(%lr) grad_norm(%n) schedule(%s) rounded(%c) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<4xf32>, tensor<8xf32>, tensor<4xf32>, tensor<8xf32>, tensor<4xf32>, tensor<8xf32>, tensor<4xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>, tensor<8xbf16>) -> (tensor<8xf32>, tensor<4xf32>, tensor<8xf32>, tensor<4xf32>, tensor<8xf32>, tensor<4xf32>, tensor<8xbf16>, tensor<4xbf16>)
  return
}

// -----

func.func @adamw_rounded_results(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  %c = llama.convert %w : (tensor<8xf32>) -> tensor<8xbf16>
  // expected-error @+1 {{must have 4 results per parameter (4), got 3}}
  %u:3 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) rounded(%c) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>, tensor<8xbf16>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_rounded_f32(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  %c = llama.convert %w : (tensor<8xf32>) -> tensor<8xf32>
  // expected-error @+1 {{rounded 0 type 'tensor<8xf32>' must have the shape of param type 'tensor<8xf32>' and 16-bit floats}}
  %u:4 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) rounded(%c) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>, tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @adamw_rounded_other(%w: tensor<8xf32>, %x: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  %c:2 = llama.convert %w, %x : (tensor<8xf32>, tensor<8xf32>) -> (tensor<8xbf16>, tensor<8xbf16>)
  // expected-error @+1 {{rounded 0 must be the llama.convert of param 0}}
  %u:4 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) rounded(%c#1) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>, tensor<8xbf16>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xbf16>)
  return
}

// -----

func.func @adamw_rounded_type(%w: tensor<8xf32>, %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) {
  %c = llama.convert %w : (tensor<8xf32>) -> tensor<8xbf16>
  // expected-error @+1 {{updated rounded 0 type 'tensor<8xf16>' differs from rounded type 'tensor<8xbf16>'}}
  %u:4 = llama.adamw_update params(%w) grads(%w) moments(%w) second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) rounded(%c) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>, tensor<8xbf16>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf16>)
  return
}
