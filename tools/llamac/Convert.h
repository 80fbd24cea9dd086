//===- Convert.h - `llamac convert`: checkpoints between formats -*- C++ -*-===//

#ifndef LLAMAC_TOOLS_LLAMAC_CONVERT_H
#define LLAMAC_TOOLS_LLAMAC_CONVERT_H

#include "llvm/Support/CommandLine.h"

namespace llamac {

/// The `convert` subcommand; its options are registered with it.
extern llvm::cl::SubCommand convertCommand;

/// Runs `llamac convert` after the command line is parsed; returns the exit
/// code.
int runConvert();

} // namespace llamac

#endif // LLAMAC_TOOLS_LLAMAC_CONVERT_H
