//===- Llama2cHeaderReader.cpp - llama2.c checkpoint header ---------------===//
//
// llama2.c's "legacy" export (run.c's read_checkpoint): seven little-endian
// int32 followed by float32 tensors in a fixed order. The header alone gives
// every tensor's size, so the file's length is checked against it here; a
// mismatch means a truncated download or a different export version, and
// catching it now beats reading garbage weights later.
//
//===----------------------------------------------------------------------===//

#include "frontend/ConfigReaders.h"
#include "frontend/JsonConfig.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace llamac;
using namespace llvm;

static constexpr int64_t kHeaderBytes = 7 * 4;

/// The header's own field names (run.c's Config struct).
static const char *llama2cFieldName(ConfigField field) {
  switch (field) {
  case ConfigField::FfnDim:
    return "hidden_dim";
  case ConfigField::MaxSeqLen:
    return "seq_len";
  default:
    return metaFieldName(field);
  }
}

/// Sums products of non-negative extents, remembering whether any step
/// overflowed int64 (a header of large int32 values can do that).
class ByteCount {
public:
  void addFloats(std::initializer_list<int64_t> extents) {
    int64_t product = 4;
    for (int64_t extent : extents)
      overflowed |= MulOverflow(product, extent, product);
    overflowed |= AddOverflow(total, product, total);
  }
  std::optional<int64_t> bytes() const {
    return overflowed ? std::nullopt : std::optional<int64_t>(total);
  }

private:
  int64_t total = kHeaderBytes;
  bool overflowed = false;
};

/// The file size run.c's memory map expects for `config`.
static std::optional<int64_t> expectedFileSize(const ModelConfig &config) {
  int64_t dim = config.dim, layers = config.nLayers, hidden = config.ffnDim;
  int64_t vocab = config.vocabSize, kvDim = config.kvDim();
  ByteCount count;
  count.addFloats({vocab, dim});          // token_embedding_table
  count.addFloats({layers, dim});         // rms_att_weight
  count.addFloats({layers, dim, dim});    // wq
  count.addFloats({layers, dim, kvDim});  // wk
  count.addFloats({layers, dim, kvDim});  // wv
  count.addFloats({layers, dim, dim});    // wo
  count.addFloats({layers, dim});         // rms_ffn_weight
  count.addFloats({layers, hidden, dim}); // w1
  count.addFloats({layers, dim, hidden}); // w2
  count.addFloats({layers, hidden, dim}); // w3
  count.addFloats({dim});                 // rms_final_weight
  // freq_cis_real and freq_cis_imag, unused since RoPE is computed on the
  // fly, but still in the file: seq_len * head_size / 2 floats each.
  count.addFloats({2, config.maxSeqLen * config.headDim() / 2});
  if (!config.sharedClassifier)
    count.addFloats({vocab, dim}); // wcls
  return count.bytes();
}

Expected<ModelConfig> llamac::readLlama2cHeader(StringRef path) {
  uint64_t fileSize = 0;
  if (std::error_code error = sys::fs::file_size(path, fileSize))
    return configError(path, error.message());
  if (fileSize < static_cast<uint64_t>(kHeaderBytes))
    return configError(path, "llama2.c header: expected " +
                                 std::to_string(kHeaderBytes) +
                                 " bytes, found " + std::to_string(fileSize));
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFileSlice(path, kHeaderBytes, 0);
  if (!buffer)
    return configError(path, buffer.getError().message());

  const char *data = (*buffer)->getBufferStart();
  auto field = [&](int index) -> int64_t {
    return static_cast<int32_t>(support::endian::read32le(data + 4 * index));
  };
  ModelConfig config;
  config.name = path.str();
  config.dim = field(0);
  config.ffnDim = field(1);
  config.nLayers = field(2);
  config.nHeads = field(3);
  config.nKvHeads = field(4);
  // run.c's convention: a negative vocab_size means the file carries its own
  // classifier matrix after the other weights.
  int64_t vocab = field(5);
  config.sharedClassifier = vocab > 0;
  config.vocabSize = vocab < 0 ? -vocab : vocab;
  config.maxSeqLen = field(6);
  config.ropeTheta = 10000.0;
  config.normEps = 1e-5;
  config.ropeStyle = RopeStyle::Adjacent;
  config.dtype = DType::F32;
  if (Error error = checkConfigFrom(path, config, llama2cFieldName))
    return std::move(error);

  std::optional<int64_t> expected = expectedFileSize(config);
  if (!expected)
    return configError(path, "llama2.c header implies a file larger than "
                             "2^63 bytes");
  if (static_cast<uint64_t>(*expected) != fileSize)
    return configError(path, "file size does not match the llama2.c header: "
                             "expected " +
                                 std::to_string(*expected) + " bytes, found " +
                                 std::to_string(fileSize));
  return config;
}
