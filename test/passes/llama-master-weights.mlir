// RUN: llama-opt %s -split-input-file --llama-master-weights | FileCheck %s

// Each 16-bit weight argument becomes f32, and one llama.convert rounds
// them all back at the top for the ops that read them. Other arguments
// (tokens, caches, inputs) keep their types.

// CHECK-LABEL: func.func @forward_loss
// CHECK-SAME:    %[[TOK:[a-z0-9]+]]: tensor<1x4xi32>
// CHECK-SAME:    %[[E:[a-z0-9]+]]: tensor<16x8xf32> {llama.weight = "tok_embeddings.weight"}
// CHECK-SAME:    %[[G:[a-z0-9]+]]: tensor<8xf32> {llama.weight = "norm.weight"}
// CHECK-SAME:    %[[X:[a-z0-9]+]]: tensor<1x4x8xbf16>
// CHECK-SAME:    -> tensor<1x4x8xbf16>
// CHECK-NEXT:    %[[R:.*]]:2 = llama.convert %[[E]], %[[G]] : (tensor<16x8xf32>, tensor<8xf32>) -> (tensor<16x8xbf16>, tensor<8xbf16>)
// CHECK-NEXT:    %[[EMB:.*]] = llama.embedding %[[R]]#0, %[[TOK]]
// CHECK-NEXT:    %[[SUM:.*]] = llama.add %[[EMB]], %[[X]]
// CHECK-NEXT:    %[[N:.*]] = llama.rmsnorm %[[SUM]], %[[R]]#1
// CHECK-NEXT:    return %[[N]]
func.func @forward_loss(%tokens: tensor<1x4xi32>,
                        %e: tensor<16x8xbf16> {llama.weight = "tok_embeddings.weight"},
                        %g: tensor<8xbf16> {llama.weight = "norm.weight"},
                        %x: tensor<1x4x8xbf16>) -> tensor<1x4x8xbf16> {
  %h = llama.embedding %e, %tokens : (tensor<16x8xbf16>, tensor<1x4xi32>) -> tensor<1x4x8xbf16>
  %s = llama.add %h, %x : tensor<1x4x8xbf16>
  %n = llama.rmsnorm %s, %g {epsilon = 1.0e-5 : f64} : (tensor<1x4x8xbf16>, tensor<8xbf16>) -> tensor<1x4x8xbf16>
  return %n : tensor<1x4x8xbf16>
}

// -----

// f16 weights too; f32 weights are already master weights and stay as they
// are, so a function with no 16-bit weight gets no convert.
// CHECK-LABEL: func.func @f16
// CHECK-SAME:    %{{[a-z0-9]+}}: tensor<8xf32> {llama.weight = "a"}
// CHECK-NEXT:    llama.convert %{{.*}} : (tensor<8xf32>) -> tensor<8xf16>
// CHECK-LABEL: func.func @already_f32
// CHECK-NOT:     llama.convert
func.func @f16(%a: tensor<8xf16> {llama.weight = "a"}) -> tensor<8xf16> {
  %s = llama.add %a, %a : tensor<8xf16>
  return %s : tensor<8xf16>
}
func.func @already_f32(%a: tensor<8xf32> {llama.weight = "a"}) -> tensor<8xf32> {
  %s = llama.add %a, %a : tensor<8xf32>
  return %s : tensor<8xf32>
}
