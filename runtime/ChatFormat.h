//===- ChatFormat.h - Llama 2's chat prompt format ---------------*- C++
//-*-===//
//
// Llama-2-chat was fine-tuned on dialogues laid out as
//   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s>
//   <s>[INST] {user} [/INST] {answer} </s> ...
// with the system prompt in the first turn only. Fine-tuning on dialogues
// (TrainingData) and chatting (llama-run chat) render turns through this one
// function, so that a model tuned here is prompted as it was tuned.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CHATFORMAT_H
#define LLAMAC_RUNTIME_CHATFORMAT_H

#include <string>

namespace llamac::runtime {

/// The text of one user turn, to be encoded with BOS: "[INST] " + user +
/// " [/INST]", with an empty-unless-first-turn `system` prompt between
/// "<<SYS>>" and "<</SYS>>" lines before the user's text. The answer
/// follows it, closed by EOS.
std::string llama2ChatPrompt(const std::string &user,
                             const std::string &system);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CHATFORMAT_H
