//===- Safetensors.cpp - Hugging Face .safetensors files ------------------===//

#include "runtime/Safetensors.h"

#include "runtime/AtomicFile.h"
#include "runtime/HalfFloat.h"
#include "runtime/Json.h"

#include <algorithm>
#include <cstring>
#include <set>

using namespace llamac::runtime;

const char *llamac::runtime::toSafetensorsName(ElementType type) {
  switch (type) {
  case ElementType::F32:
    return "F32";
  case ElementType::F16:
    return "F16";
  case ElementType::BF16:
    return "BF16";
  }
  return "?";
}

std::optional<ElementType>
llamac::runtime::parseSafetensorsDType(const std::string &name) {
  if (name == "F32")
    return ElementType::F32;
  if (name == "F16")
    return ElementType::F16;
  if (name == "BF16")
    return ElementType::BF16;
  return std::nullopt;
}

size_t llamac::runtime::elementSize(ElementType type) {
  return type == ElementType::F32 ? 4 : 2;
}

std::vector<float> llamac::runtime::convertToF32(ElementType type,
                                                 const uint8_t *bytes,
                                                 int64_t count) {
  std::vector<float> result(static_cast<size_t>(count));
  if (count == 0)
    return result;
  if (type == ElementType::F32) {
    std::memcpy(result.data(), bytes, size_t(count) * 4);
    return result;
  }
  float (*convert)(uint16_t) = type == ElementType::F16 ? f16ToF32 : bf16ToF32;
  for (int64_t i = 0; i < count; ++i) {
    uint16_t bits = uint16_t(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    result[size_t(i)] = convert(bits);
  }
  return result;
}

std::vector<uint8_t> llamac::runtime::convertFromF32(ElementType type,
                                                     const float *data,
                                                     int64_t count) {
  std::vector<uint8_t> result(size_t(count) * elementSize(type));
  if (count == 0)
    return result;
  if (type == ElementType::F32) {
    std::memcpy(result.data(), data, result.size());
    return result;
  }
  uint16_t (*convert)(float) = type == ElementType::F16 ? f32ToF16 : f32ToBf16;
  for (int64_t i = 0; i < count; ++i) {
    uint16_t bits = convert(data[i]);
    result[size_t(2 * i)] = uint8_t(bits & 0xff);
    result[size_t(2 * i + 1)] = uint8_t(bits >> 8);
  }
  return result;
}

Tensor SafetensorsTensor::toF32() const {
  return {name, shape, convertToF32(type, data, numElements())};
}

const SafetensorsTensor *SafetensorsFile::find(const std::string &name) const {
  for (const SafetensorsTensor &tensor : tensors)
    if (tensor.name == name)
      return &tensor;
  return nullptr;
}

namespace {

std::string offsetsToString(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

/// A header entry with its offsets, before the data pointer is known.
struct Entry {
  SafetensorsTensor tensor;
  uint64_t begin, end;
};

/// Parses one `name: {dtype, shape, data_offsets}` member.
Status parseEntry(const std::string &path, const std::string &name,
                  const JsonValue &value, Entry &entry) {
  auto error = [&](const std::string &reason) {
    return Status::error(path + ": " + name + ": " + reason);
  };
  if (!value.isObject())
    return error("header entry is not an object");
  const JsonValue *dtype = value.get("dtype");
  if (!dtype || !dtype->isString())
    return error("dtype: missing or not a string");
  std::optional<ElementType> type = parseSafetensorsDType(dtype->string);
  if (!type)
    return error("unknown dtype '" + dtype->string +
                 "' (supported: F32, F16, BF16)");

  const JsonValue *shape = value.get("shape");
  if (!shape || !shape->isArray())
    return error("shape: missing or not an array");
  // Element counts above 2^62 cannot be in any file; checking per dimension
  // keeps the product from overflowing.
  constexpr uint64_t kLimit = uint64_t(1) << 62;
  uint64_t elements = 1;
  for (const JsonValue &dim : shape->array) {
    if (!dim.isUnsigned)
      return error("shape: dimensions must be non-negative integers");
    if (dim.unsignedValue > kLimit ||
        (dim.unsignedValue && elements > kLimit / dim.unsignedValue))
      return error("shape: element count exceeds 2^62");
    elements *= dim.unsignedValue;
    entry.tensor.shape.push_back(int64_t(dim.unsignedValue));
  }

  const JsonValue *offsets = value.get("data_offsets");
  if (!offsets || !offsets->isArray() || offsets->array.size() != 2 ||
      !offsets->array[0].isUnsigned || !offsets->array[1].isUnsigned)
    return error("data_offsets: must be [begin, end] with non-negative "
                 "integers");
  entry.begin = offsets->array[0].unsignedValue;
  entry.end = offsets->array[1].unsignedValue;
  if (entry.begin > entry.end)
    return error("data_offsets " + offsetsToString(entry.begin, entry.end) +
                 ": begin is after end");
  uint64_t needed = elements * elementSize(*type);
  if (needed != entry.end - entry.begin)
    return error("shape " + shapeToString(entry.tensor.shape) + " of " +
                 dtype->string + " needs " + std::to_string(needed) +
                 " bytes, but data_offsets " +
                 offsetsToString(entry.begin, entry.end) + " span " +
                 std::to_string(entry.end - entry.begin));
  entry.tensor.name = name;
  entry.tensor.type = *type;
  entry.tensor.byteSize = size_t(needed);
  return Status::success();
}

} // namespace

StatusOr<SafetensorsFile>
llamac::runtime::readSafetensors(const std::string &path) {
  StatusOr<std::shared_ptr<const MappedFile>> mapped = MappedFile::open(path);
  if (!mapped.ok())
    return mapped.status();
  std::shared_ptr<const MappedFile> file = std::move(mapped).value();
  const uint64_t fileSize = file->size();
  if (fileSize < 8)
    return Status::error(path + ": header: file has " +
                         std::to_string(fileSize) +
                         " bytes, fewer than the 8-byte header length");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | file->data()[i];
  if (headerSize > fileSize - 8)
    return Status::error(path + ": header: length " +
                         std::to_string(headerSize) +
                         " runs past the end of the file (" +
                         std::to_string(fileSize) + " bytes)");

  std::string_view headerText(reinterpret_cast<const char *>(file->data() + 8),
                              size_t(headerSize));
  StatusOr<JsonValue> parsed = parseJson(headerText);
  if (!parsed.ok())
    return Status::error(path + ": header: invalid JSON: " + parsed.message());
  const JsonValue &header = *parsed;
  if (!header.isObject())
    return Status::error(path + ": header: not a JSON object");

  SafetensorsFile result;
  std::vector<Entry> entries;
  for (const auto &[name, value] : header.object) {
    if (name == "__metadata__") {
      if (!value.isObject())
        return Status::error(path + ": __metadata__: not an object");
      for (const auto &[key, text] : value.object) {
        if (!text.isString())
          return Status::error(path + ": __metadata__: " + key +
                               ": value is not a string");
        result.metadata[key] = text.string;
      }
      continue;
    }
    Entry entry;
    LLAMAC_RETURN_IF_ERROR(parseEntry(path, name, value, entry));
    entries.push_back(std::move(entry));
  }

  const uint64_t dataSize = fileSize - 8 - headerSize;
  const uint8_t *dataStart = file->data() + 8 + headerSize;
  std::stable_sort(
      entries.begin(), entries.end(),
      [](const Entry &a, const Entry &b) { return a.begin < b.begin; });
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry &entry = entries[i];
    if (entry.end > dataSize)
      return Status::error(path + ": " + entry.tensor.name + ": data_offsets " +
                           offsetsToString(entry.begin, entry.end) +
                           " run past the end of the data (" +
                           std::to_string(dataSize) + " bytes)");
    if (i > 0 && entry.begin < entries[i - 1].end)
      return Status::error(
          path + ": " + entry.tensor.name + ": data_offsets " +
          offsetsToString(entry.begin, entry.end) + " overlap those of " +
          entries[i - 1].tensor.name + " " +
          offsetsToString(entries[i - 1].begin, entries[i - 1].end));
  }
  for (Entry &entry : entries) {
    entry.tensor.data = dataStart + entry.begin;
    result.tensors.push_back(std::move(entry.tensor));
  }
  result.file = std::move(file);
  return result;
}

Status llamac::runtime::writeSafetensors(
    const std::string &path, const std::vector<SafetensorsTensor> &tensors,
    const std::map<std::string, std::string> &metadata) {
  std::string header = "{";
  bool first = true;
  auto separate = [&] {
    if (!first)
      header += ",";
    first = false;
  };
  if (!metadata.empty()) {
    separate();
    header += "\"__metadata__\":{";
    bool firstKey = true;
    for (const auto &[key, value] : metadata) {
      if (!firstKey)
        header += ",";
      firstKey = false;
      header += quoteJson(key) + ":" + quoteJson(value);
    }
    header += "}";
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const SafetensorsTensor &tensor : tensors) {
    if (tensor.name == "__metadata__" || !names.insert(tensor.name).second)
      return Status::error(path + ": " + tensor.name +
                           ": name used more than once or reserved");
    for (int64_t dim : tensor.shape)
      if (dim < 0)
        return Status::error(path + ": " + tensor.name + ": shape " +
                             shapeToString(tensor.shape) +
                             " has a negative dimension");
    uint64_t needed = uint64_t(tensor.numElements()) * elementSize(tensor.type);
    if (needed != tensor.byteSize)
      return Status::error(path + ": " + tensor.name + ": shape " +
                           shapeToString(tensor.shape) + " of " +
                           toSafetensorsName(tensor.type) + " needs " +
                           std::to_string(needed) + " bytes, but " +
                           std::to_string(tensor.byteSize) + " were given");
    if (needed && !tensor.data && !tensor.produce)
      return Status::error(path + ": " + tensor.name + ": no data");
    separate();
    header += quoteJson(tensor.name) + ":{\"dtype\":\"" +
              toSafetensorsName(tensor.type) + "\",\"shape\":[";
    for (size_t i = 0; i < tensor.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(tensor.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + needed) + "]}";
    offset += needed;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');

  return writeFileAtomically(path, [&](FileSink &sink) {
    uint8_t length[8];
    for (int i = 0; i < 8; ++i)
      length[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
    sink.write(length, sizeof(length));
    sink.write(header.data(), header.size());
    for (const SafetensorsTensor &tensor : tensors) {
      if (tensor.data || !tensor.produce) {
        sink.write(tensor.data, tensor.byteSize);
        continue;
      }
      StatusOr<std::vector<uint8_t>> bytes = tensor.produce();
      if (!bytes.ok())
        return bytes.status();
      if (bytes->size() != tensor.byteSize)
        return Status::error(
            path + ": " + tensor.name + ": made " +
            std::to_string(bytes->size()) + " bytes, not the " +
            std::to_string(tensor.byteSize) + " its shape needs");
      sink.write(bytes->data(), bytes->size());
    }
    return Status::success();
  });
}

std::vector<SafetensorsTensor>
llamac::runtime::f32Views(const std::vector<Tensor> &tensors) {
  std::vector<SafetensorsTensor> views;
  views.reserve(tensors.size());
  for (const Tensor &t : tensors)
    views.push_back({t.name,
                     ElementType::F32,
                     t.shape,
                     reinterpret_cast<const uint8_t *>(t.data.data()),
                     t.data.size() * sizeof(float),
                     {}});
  return views;
}
