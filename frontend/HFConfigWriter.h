//===- HFConfigWriter.h - Hugging Face config.json from a config -*- C++
//-*-===//
//
// The config.json of a Hugging Face model directory that llamac writes
// (`llamac convert -o DIR/`): what transformers' LlamaConfig saves, so that
// LlamaForCausalLM.from_pretrained(DIR) and llamac --model DIR both read it.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_FRONTEND_HFCONFIGWRITER_H
#define LLAMAC_FRONTEND_HFCONFIGWRITER_H

#include "frontend/ModelConfig.h"

#include <string>

namespace llamac {

/// config.json for `config`, whose weights are stored as `stored` (its
/// torch_dtype). RoPE is always Hugging Face's half-split: its weights are
/// written with wq and wk permuted for it, whatever `config.ropeStyle` is.
/// Numbers are written in the shortest form that reads back exactly.
std::string hfConfigJson(const ModelConfig &config, DType stored);

} // namespace llamac

#endif // LLAMAC_FRONTEND_HFCONFIGWRITER_H
