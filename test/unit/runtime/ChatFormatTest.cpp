//===- ChatFormatTest.cpp - Llama 2's chat prompt -------------------------===//

#include "runtime/ChatFormat.h"

#include <gtest/gtest.h>

using llamac::runtime::llama2ChatPrompt;

namespace {

// Meta's llama/generation.py (chat_completion): B_INST, E_INST = "[INST]",
// "[/INST]"; B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"; the system prompt
// is prepended to the first user message; each turn is
// f"{B_INST} {(prompt['content']).strip()} {E_INST}".
TEST(ChatFormatTest, FirstTurnCarriesTheSystemPrompt) {
  EXPECT_EQ(llama2ChatPrompt("Hi there", "Be brief."),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST]");
}

TEST(ChatFormatTest, LaterTurnsAreBare) {
  EXPECT_EQ(llama2ChatPrompt("And then?", ""), "[INST] And then? [/INST]");
}

} // namespace
