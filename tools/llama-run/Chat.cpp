//===- Chat.cpp - llama-run chat: a conversation with a chat model --------===//
//
// Each line of standard input is a user turn. It is rendered in Llama 2's
// chat format (ChatFormat.h: the format Llama-2-chat was tuned on and
// `llama-run train` tunes dialogues in), appended to the conversation in
// the KV cache, and answered by sampling until EOS. Nothing is recomputed
// between turns: the cache keeps every earlier turn, and the EOS that
// closed an answer is fed at the start of the next turn, as the format has
// it. Like run.c's chat mode, but with the prompt's tokens prefilled and a
// transcript on stdout when the input is not a terminal.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Generation.h"

#include "runtime/ChatFormat.h"
#include "runtime/Sampler.h"
#include "runtime/Tokenizer.h"

#include <chrono>
#include <cstdio>
#include <unistd.h>
#include <vector>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

using Clock = std::chrono::steady_clock;

/// One line of `file` without its line ending; false at end of file.
bool readLine(std::FILE *file, std::string &line) {
  line.clear();
  int c;
  while ((c = std::fgetc(file)) != EOF && c != '\n')
    line += char(c);
  if (c == EOF && line.empty())
    return false;
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  return true;
}

/// `text` without surrounding spaces and tabs, as Meta's chat_completion
/// strips each message.
std::string trimmed(const std::string &text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos)
    return "";
  return text.substr(begin, text.find_last_not_of(" \t") + 1 - begin);
}

} // namespace

Status llamac::run::chatCommand(const std::vector<std::string> &args) {
  ModelFlags model;
  SamplingFlags sampling;
  std::string system;
  int64_t steps = 0, maxReply = 0;

  FlagSet flags("chat",
                "Chats with a Llama 2 chat model: each line of stdin is a "
                "user turn, answered on stdout after \"Assistant: \" (the "
                "user's lines are echoed after \"User: \" when stdin is not "
                "a terminal); stderr gets the speed.");
  model.addTo(flags, "weights-seed");
  sampling.addTo(flags);
  flags.addString("system", &system, "TEXT",
                  "system prompt, placed in the first turn (default none)");
  flags.addInt("steps", &steps,
               "positions the whole conversation may take; 0 or more than "
               "the model's max_seq_len means max_seq_len");
  flags.addInt("max-reply", &maxReply,
               "tokens an answer may take before it is cut off (and closed "
               "with EOS); 0 means until EOS or the context is full");
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  LLAMAC_RETURN_IF_ERROR(sampling.resolve());
  if (maxReply < 0)
    return Status::error("--max-reply: " + std::to_string(maxReply) +
                         " is negative");

  StatusOr<std::unique_ptr<Executor>> opened = model.open();
  if (!opened.ok())
    return opened.status();
  Executor &session = **opened;
  const ModelConfig &config = session.spec().config;
  const int64_t limit =
      steps <= 0 || steps > config.maxSeqLen ? config.maxSeqLen : steps;
  StatusOr<int> decodeEntry = samplingDecodeEntry(session, model.artifact);
  if (!decodeEntry.ok())
    return decodeEntry.status();
  const int decode = *decodeEntry;
  const int prefill = sampling.noPrefill ? -1 : session.entryIndex("prefill");
  StatusOr<std::unique_ptr<Tokenizer>> loaded =
      loadTokenizer(sampling.tokenizer, int(config.vocabSize));
  if (!loaded.ok())
    return loaded.status();
  const Tokenizer &tokenizer = **loaded;
  Sampler sampler(int(config.vocabSize), float(sampling.temperature),
                  float(sampling.topp), uint64_t(sampling.seed));
  std::vector<float> logits(size_t(config.vocabSize));

  const bool interactive = ::isatty(STDIN_FILENO);
  int64_t pos = 0, turns = 0, replyTokens = 0;
  double replyMilliseconds = 0;
  // The EOS that closed the last answer, fed before the next turn.
  std::vector<int32_t> closing;
  auto decodeAt = [&](int32_t token, int64_t at) {
    return session.run(decode, {{&token, sizeof(token)}}, int32_t(at), 1);
  };

  std::string line;
  while (true) {
    if (interactive) {
      std::printf("User: ");
      std::fflush(stdout);
    }
    if (!readLine(stdin, line))
      break;
    line = trimmed(line);
    if (line.empty())
      continue;
    if (!interactive)
      std::printf("User: %s\n", line.c_str());

    StatusOr<std::vector<int>> encoded = tokenizer.encode(
        llama2ChatPrompt(line, turns == 0 ? system : std::string()),
        /*bos=*/true, /*eos=*/false);
    if (!encoded.ok())
      return encoded.status();
    std::vector<int32_t> turn = closing;
    turn.insert(turn.end(), encoded->begin(), encoded->end());
    const int64_t count = int64_t(turn.size());
    // The turn and at least one answer token must fit.
    if (pos + count >= limit) {
      std::fprintf(stderr,
                   "llama-run: chat: this turn's %lld tokens do not fit in "
                   "the %lld positions left of %lld; the conversation ends "
                   "here\n",
                   (long long)count, (long long)(limit - pos),
                   (long long)limit);
      break;
    }
    ++turns;

    // Every token of the turn but the last, whose logits start the answer.
    int64_t fed = 0;
    if (prefill >= 0 && count > 1) {
      StatusOr<int64_t> done =
          prefillTokens(session, prefill, turn.data(), count - 1, pos);
      if (!done.ok())
        return done.status();
      fed = *done;
    }
    for (; fed < count; ++fed)
      LLAMAC_RETURN_IF_ERROR(decodeAt(turn[size_t(fed)], pos + fed));
    pos += count;

    std::printf("Assistant: ");
    std::fflush(stdout);
    Clock::time_point start = Clock::now();
    int token = turn.back();
    int64_t answered = 0;
    bool full = false;
    closing.clear();
    while (true) {
      StatusOr<const float *> out = session.lastTokenLogits(decode);
      if (!out.ok())
        return out.status();
      std::copy(*out, *out + config.vocabSize, logits.begin());
      int next = sampler.sample(logits.data());
      if (next == Tokenizer::kEosId) {
        closing = {Tokenizer::kEosId};
        break;
      }
      if (next == Tokenizer::kBosId)
        break; // A model that ends documents with BOS ends the answer so.
      std::string piece = tokenizer.decodePiece(token, next);
      // The answer's first piece carries the space after "[/INST]".
      if (answered == 0 && !piece.empty() && piece[0] == ' ')
        piece.erase(0, 1);
      printPiece(piece);
      std::fflush(stdout);
      token = next;
      ++answered;
      if (pos >= limit) {
        full = true;
        break;
      }
      LLAMAC_RETURN_IF_ERROR(decodeAt(next, pos));
      ++pos;
      if (maxReply > 0 && answered >= maxReply) {
        closing = {Tokenizer::kEosId};
        break;
      }
    }
    std::printf("\n");
    std::fflush(stdout);
    replyTokens += answered;
    replyMilliseconds +=
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (full) {
      std::fprintf(stderr,
                   "llama-run: chat: the answer filled the context (%lld "
                   "positions); the conversation ends here\n",
                   (long long)limit);
      break;
    }
  }
  if (interactive)
    std::printf("\n");
  if (replyTokens > 0)
    std::fprintf(stderr,
                 "chat: %lld turns, %lld answer tokens at %.1f tok/s, %lld "
                 "of %lld positions used\n",
                 (long long)turns, (long long)replyTokens,
                 double(replyTokens) / replyMilliseconds * 1000.0,
                 (long long)pos, (long long)limit);
  return {};
}
