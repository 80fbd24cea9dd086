//===- llama-opt.cpp - mlir-opt with the llama dialect and passes ---------===//
//
// The test driver behind the lit tests: parses llama IR, runs passes by flag
// or by pipeline name, and checks diagnostics with -verify-diagnostics.
//
//===----------------------------------------------------------------------===//

#include "ir/LlamaDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<llamac::llama::LlamaDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect>();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  llamac::registerLlamaPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "llama optimizer driver\n", registry));
}
