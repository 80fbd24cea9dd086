//===- llama-run.cpp - Runs compiled llamac artifacts ---------------------===//
//
// The runtime's command line: generate (run.c-compatible text generation),
// bench, logits, info, train and grads. Each subcommand lives in its own file; this only
// dispatches and prints errors.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include <cstdio>
#include <cstring>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

const char kUsage[] =
    "usage: llama-run COMMAND [flags]\n"
    "\n"
    "Runs models compiled by llamac.\n"
    "\n"
    "commands:\n"
    "  generate   generate text from a prompt, like llama2.c's run.c\n"
    "  chat       chat with a Llama 2 chat model, a turn per line of stdin\n"
    "  bench      time prefill and decode, with a per-kernel breakdown\n"
    "  logits     print the logits after each of some tokens\n"
    "  info       describe an artifact\n"
    "  train      train or fine-tune a model on a text file\n"
    "  grads      write the loss and every weight gradient of one batch\n"
    "  perplexity score a text: the mean loss and perplexity\n"
    "\n"
    "llama-run COMMAND --help lists the flags of a command.\n";

} // namespace

int main(int argc, char **argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  Status status;
  if (command == "generate")
    status = generateCommand(args);
  else if (command == "chat")
    status = chatCommand(args);
  else if (command == "bench")
    status = benchCommand(args);
  else if (command == "logits")
    status = logitsCommand(args);
  else if (command == "info")
    status = infoCommand(args);
  else if (command == "train")
    status = trainCommand(args);
  else if (command == "grads")
    status = gradsCommand(args);
  else if (command == "perplexity")
    status = perplexityCommand(args);
  else
    status = Status::error("unknown command '" + command +
                           "' (expected generate, chat, bench, logits, "
                           "info, train, grads or perplexity)");
  if (!status.ok()) {
    std::fflush(stdout);
    std::fprintf(stderr, "llama-run: error: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
