//===- ChatFormat.cpp - Llama 2's chat prompt format ----------------------===//

#include "runtime/ChatFormat.h"

std::string llamac::runtime::llama2ChatPrompt(const std::string &user,
                                              const std::string &system) {
  std::string prompt = "[INST] ";
  if (!system.empty())
    prompt += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
  return prompt + user + " [/INST]";
}
