//===- TorchCheckpoint.cpp - Checkpoints written by torch.save ------------===//
//
// torch.save's pickle of a state dict maps each name to
//
//   torch._utils._rebuild_tensor_v2(
//       PERSID(('storage', torch.BFloat16Storage, KEY, 'cpu', NUMEL)),
//       storage_offset, size, stride, requires_grad, backward_hooks)
//
// (or _rebuild_parameter around that), and the archive stores storage KEY
// as ARCHIVE/data/KEY in native byte order, ARCHIVE/byteorder saying which.
//
//===----------------------------------------------------------------------===//

#include "runtime/TorchCheckpoint.h"

#include "runtime/CheckpointIndex.h"
#include "runtime/ModelDirectory.h"
#include "runtime/Pickle.h"
#include "runtime/ZipArchive.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <map>
#include <set>

using namespace llamac::runtime;

namespace {

struct StorageClass {
  const char *name;
  std::optional<ElementType> type;
  size_t elementSize;
};

/// torch's storage classes; llamac reads the floating-point ones Llama
/// checkpoints use.
constexpr StorageClass kStorageClasses[] = {
    {"torch.FloatStorage", ElementType::F32, 4},
    {"torch.HalfStorage", ElementType::F16, 2},
    {"torch.BFloat16Storage", ElementType::BF16, 2},
    {"torch.DoubleStorage", std::nullopt, 8},
    {"torch.LongStorage", std::nullopt, 8},
    {"torch.IntStorage", std::nullopt, 4},
    {"torch.ShortStorage", std::nullopt, 2},
    {"torch.CharStorage", std::nullopt, 1},
    {"torch.ByteStorage", std::nullopt, 1},
    {"torch.BoolStorage", std::nullopt, 1},
};

const StorageClass *findStorageClass(const std::string &name) {
  for (const StorageClass &storage : kStorageClasses)
    if (name == storage.name)
      return &storage;
  return nullptr;
}

/// The functions a state dict's pickle may name: the tensor and parameter
/// rebuilders, the storage classes, and OrderedDict.
bool isAllowedGlobal(const std::string &name) {
  return name == "collections.OrderedDict" ||
         name == "torch._utils._rebuild_tensor_v2" ||
         name == "torch._utils._rebuild_tensor" ||
         name == "torch._utils._rebuild_parameter" ||
         name == "torch._utils._rebuild_parameter_with_state" ||
         findStorageClass(name) != nullptr;
}

/// The first bytes of a pre-1.6 torch.save file: PROTO 2, then LONG1 of the
/// 10-byte magic number 0x1950a86a20f9469cfc6c.
bool isLegacyTorchFile(const MappedFile &file) {
  static const uint8_t kStart[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                   0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return file.size() >= sizeof(kStart) &&
         std::memcmp(file.data(), kStart, sizeof(kStart)) == 0;
}

bool isRowMajor(const TorchTensor &tensor) {
  int64_t expected = 1;
  for (size_t i = tensor.shape.size(); i-- > 0;) {
    if (tensor.shape[i] != 1 && tensor.strides[i] != expected)
      return false;
    expected *= tensor.shape[i];
  }
  return true;
}

/// Turns a state dict's pickled values into tensors over the archive's
/// storages.
class StateDictReader {
public:
  StateDictReader(const ZipArchive &archive, std::string prefix,
                  std::string origin)
      : archive(archive), prefix(std::move(prefix)), origin(std::move(origin)) {
  }

  StatusOr<TorchTensor> tensor(const std::string &name,
                               const PickleValue &value);

private:
  Status error(const std::string &name, const std::string &reason) const {
    return Status::error(origin + ": " + name + ": " + reason);
  }
  StatusOr<std::vector<int64_t>> integers(const std::string &name,
                                          const PickleValue &value,
                                          const char *what) const;
  Status bindStorage(const std::string &name, const PickleValue &id,
                     TorchTensor &tensor, int64_t &storageElements);

  const ZipArchive &archive;
  const std::string prefix;
  const std::string origin;
};

StatusOr<std::vector<int64_t>>
StateDictReader::integers(const std::string &name, const PickleValue &value,
                          const char *what) const {
  if (value.kind != PickleValue::Kind::Tuple)
    return error(name, std::string(what) + " is " + value.describe() +
                           ", not a tuple");
  std::vector<int64_t> result;
  for (const PickleRef &item : value.items) {
    if (item->kind != PickleValue::Kind::Int || item->integer < 0)
      return error(name, std::string(what) + " holds " + item->describe() +
                             ", not a size");
    result.push_back(item->integer);
  }
  return result;
}

Status StateDictReader::bindStorage(const std::string &name,
                                    const PickleValue &id, TorchTensor &tensor,
                                    int64_t &storageElements) {
  // ('storage', STORAGE_CLASS, KEY, LOCATION, NUMEL)
  const PickleValue *key = nullptr;
  if (id.kind == PickleValue::Kind::Tuple && id.items.size() == 5 &&
      id.items[0]->kind == PickleValue::Kind::String &&
      id.items[0]->text == "storage" &&
      id.items[1]->kind == PickleValue::Kind::Global &&
      id.items[2]->kind == PickleValue::Kind::String &&
      id.items[4]->kind == PickleValue::Kind::Int && id.items[4]->integer >= 0)
    key = id.items[2];
  if (!key)
    return error(name, "its storage's persistent id is " + id.describe() +
                           ", not ('storage', class, key, location, size)");
  tensor.storageType = id.items[1]->text;
  storageElements = id.items[4]->integer;
  const StorageClass *storageClass = findStorageClass(tensor.storageType);
  if (!storageClass)
    return error(name, "storage class " + tensor.storageType + " is unknown");
  tensor.type = storageClass->type;

  std::string entry = prefix + "/data/" + key->text;
  StatusOr<std::pair<const uint8_t *, uint64_t>> bytes = archive.view(entry);
  if (!bytes.ok())
    return error(name, "storage " + key->text + ": " + bytes.message());
  uint64_t needed = 0;
  if (__builtin_mul_overflow(uint64_t(storageElements),
                             uint64_t(storageClass->elementSize), &needed) ||
      needed > bytes->second)
    return error(name, "storage " + key->text + " holds " +
                           std::to_string(bytes->second) +
                           " bytes, fewer than " +
                           std::to_string(storageElements) + " elements of " +
                           tensor.storageType + " (truncated?)");
  tensor.data = bytes->first;
  return Status::success();
}

StatusOr<TorchTensor> StateDictReader::tensor(const std::string &name,
                                              const PickleValue &value) {
  const PickleValue *callee = value.callee();
  if (!callee)
    return error(name, value.describe() +
                           ", not a tensor (llamac reads a state dict: "
                           "torch.save(model.state_dict(), path))");
  const std::vector<PickleRef> &arguments = value.items[1]->items;
  // A Parameter wraps the tensor it was saved from.
  if (callee->isGlobal("torch._utils._rebuild_parameter") ||
      callee->isGlobal("torch._utils._rebuild_parameter_with_state")) {
    if (arguments.empty())
      return error(name, callee->text + " without arguments");
    return tensor(name, *arguments[0]);
  }
  if (!callee->isGlobal("torch._utils._rebuild_tensor_v2") &&
      !callee->isGlobal("torch._utils._rebuild_tensor"))
    return error(name, "made by " + callee->text + ", not a tensor");
  if (arguments.size() < 4)
    return error(name, callee->text + " with " +
                           std::to_string(arguments.size()) +
                           " arguments, not 4 or more");
  if (arguments[0]->kind != PickleValue::Kind::PersistentId)
    return error(name, "its storage is " + arguments[0]->describe() +
                           ", not one stored in the archive");
  if (arguments[1]->kind != PickleValue::Kind::Int || arguments[1]->integer < 0)
    return error(name, "its storage offset is " + arguments[1]->describe());

  TorchTensor result;
  result.name = name;
  result.file = archive.path();
  int64_t storageElements = 0;
  Status bound =
      bindStorage(name, *arguments[0]->items[0], result, storageElements);
  if (!bound.ok())
    return bound;
  StatusOr<std::vector<int64_t>> shape =
      integers(name, *arguments[2], "its size");
  if (!shape.ok())
    return shape.status();
  StatusOr<std::vector<int64_t>> strides =
      integers(name, *arguments[3], "its stride");
  if (!strides.ok())
    return strides.status();
  if (shape->size() != strides->size())
    return error(name, "its size and stride differ in rank");
  result.shape = std::move(*shape);
  result.strides = std::move(*strides);

  // Every element the view reaches must lie inside the storage: the last
  // one is offset + sum((size - 1) * stride).
  int64_t offset = arguments[1]->integer;
  int64_t last = offset;
  bool empty = false;
  for (size_t i = 0; i < result.shape.size(); ++i) {
    int64_t step = 0;
    empty |= result.shape[i] == 0;
    if (result.shape[i] > 0 &&
        (__builtin_mul_overflow(result.shape[i] - 1, result.strides[i],
                                &step) ||
         __builtin_add_overflow(last, step, &last)))
      return error(name, "its size and stride overflow");
  }
  if (!empty && last >= storageElements)
    return error(name, "its view of shape " + shapeToString(result.shape) +
                           " at offset " + std::to_string(offset) +
                           " reaches element " + std::to_string(last) +
                           " of a storage of " +
                           std::to_string(storageElements));
  // Reading makes a row-major copy, so a view that repeats elements (a
  // stride of 0, as expand() makes) could ask for far more memory than the
  // file holds.
  int64_t count = 1;
  for (int64_t dim : result.shape)
    if (__builtin_mul_overflow(count, dim, &count))
      count = INT64_MAX;
  if (count > storageElements)
    return error(name, "its view of shape " + shapeToString(result.shape) +
                           " has more elements than its storage's " +
                           std::to_string(storageElements) +
                           " (an expanded view); save it with .contiguous()");
  if (result.type)
    result.data += size_t(offset) * elementSize(*result.type);
  else
    result.data = nullptr;
  return result;
}

/// The "ARCHIVE" of ARCHIVE/data.pkl: torch names the archive's one
/// top-level folder after the file (or "archive").
StatusOr<std::string> archivePrefix(const ZipArchive &archive) {
  std::vector<std::string> found;
  for (const auto &[name, entry] : archive.entries()) {
    size_t slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash) == "/data.pkl")
      found.push_back(name.substr(0, slash));
  }
  if (found.size() == 1)
    return found[0];
  return Status::error(archive.path() +
                       (found.empty()
                            ? ": a zip archive with no data.pkl, so not a "
                              "checkpoint torch.save wrote"
                            : ": a zip archive with several data.pkl"));
}

} // namespace

StatusOr<std::vector<float>> TorchTensor::toF32() const {
  if (!type)
    return Status::error(file + ": " + name + ": stored as " + storageType +
                         "; llamac reads float32, float16 and bfloat16 "
                         "tensors");
  const int64_t count = numElements();
  if (isRowMajor(*this))
    return convertToF32(*type, data, count);
  // A strided view (a transpose saved as is): gather its elements in
  // row-major order, then convert them together.
  const size_t size = elementSize(*type);
  std::vector<uint8_t> gathered(size_t(count) * size);
  std::vector<int64_t> index(shape.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t offset = 0;
    for (size_t d = 0; d < shape.size(); ++d)
      offset += index[d] * strides[d];
    std::memcpy(&gathered[size_t(i) * size], data + size_t(offset) * size,
                size);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
  return convertToF32(*type, gathered.data(), count);
}

StatusOr<std::vector<float>> TorchCheckpointTensor::toF32() const {
  std::vector<std::vector<float>> values;
  for (size_t i = 0; i < pieces.size(); ++i) {
    StatusOr<std::vector<float>> piece = pieces[i].toF32();
    if (!piece.ok())
      return piece.status();
    values.push_back(std::move(*piece));
  }
  if (!joinDim) {
    for (size_t i = 1; i < values.size(); ++i)
      if (values[i] != values[0])
        return Status::error(pieces[i].file + ": " + name + ": differs from " +
                             pieces[0].file +
                             "'s, though every model-parallel rank holds "
                             "the same one");
    return std::move(values[0]);
  }
  // Row-major concatenation along joinDim: for each index of the leading
  // dimensions, each piece's block in turn.
  int64_t outer = 1;
  for (size_t d = 0; d < *joinDim; ++d)
    outer *= shape[d];
  std::vector<float> joined;
  joined.reserve(size_t(numElements(shape)));
  for (int64_t o = 0; o < outer; ++o)
    for (const std::vector<float> &piece : values) {
      size_t block = piece.size() / size_t(outer);
      joined.insert(joined.end(), piece.begin() + o * block,
                    piece.begin() + (o + 1) * block);
    }
  return joined;
}

const TorchCheckpointTensor *
TorchCheckpoint::find(const std::string &name) const {
  for (const TorchCheckpointTensor &tensor : tensors)
    if (tensor.name == name)
      return &tensor;
  return nullptr;
}

bool llamac::runtime::looksLikeTorchFile(const MappedFile &file) {
  return looksLikeZip(file) || isLegacyTorchFile(file);
}

StatusOr<TorchCheckpoint>
llamac::runtime::readTorchArchive(const std::string &path) {
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  if (isLegacyTorchFile(**file))
    return Status::error(
        path + ": a PyTorch checkpoint in the legacy format (before PyTorch "
               "1.6), which llamac does not read; load it and save it again "
               "with torch.save from PyTorch 1.6 or later");
  if (!looksLikeZip(**file))
    return Status::error(path + ": not a torch.save archive (no zip header)");
  StatusOr<ZipArchive> archive = ZipArchive::open(*file);
  if (!archive.ok())
    return archive.status();
  StatusOr<std::string> prefix = archivePrefix(*archive);
  if (!prefix.ok())
    return prefix.status();
  if (archive->find(*prefix + "/byteorder")) {
    StatusOr<std::pair<const uint8_t *, uint64_t>> order =
        archive->view(*prefix + "/byteorder");
    if (!order.ok())
      return order.status();
    std::string text(reinterpret_cast<const char *>(order->first),
                     order->second);
    if (text != "little")
      return Status::error(path + ": byteorder: \"" + text +
                           "\"; llamac reads little-endian checkpoints");
  }
  StatusOr<std::pair<const uint8_t *, uint64_t>> pickle =
      archive->view(*prefix + "/data.pkl");
  if (!pickle.ok())
    return pickle.status();
  const std::string pickleOrigin = path + ": data.pkl";
  StatusOr<Pickle> pickled =
      readPickle(pickle->first, pickle->second, pickleOrigin, isAllowedGlobal);
  if (!pickled.ok())
    return pickled.status();
  const PickleValue *root = pickled->root;
  if (root->kind != PickleValue::Kind::Dict)
    return Status::error(pickleOrigin + ": holds " + root->describe() +
                         ", not a state dict of tensors");

  TorchCheckpoint checkpoint;
  checkpoint.origin = path;
  checkpoint.files.push_back(*file);
  StateDictReader reader(*archive, *prefix, pickleOrigin);
  std::set<std::string> seen;
  const std::vector<PickleRef> &items = root->items;
  for (size_t i = 0; i < items.size(); i += 2) {
    if (items[i]->kind != PickleValue::Kind::String)
      return Status::error(pickleOrigin + ": a key is " + items[i]->describe() +
                           ", not a tensor name");
    const std::string &name = items[i]->text;
    if (!seen.insert(name).second)
      return Status::error(pickleOrigin + ": " + name + ": appears twice");
    StatusOr<TorchTensor> tensor = reader.tensor(name, *items[i + 1]);
    if (!tensor.ok())
      return tensor.status();
    TorchCheckpointTensor entry;
    entry.name = name;
    entry.shape = tensor->shape;
    entry.pieces.push_back(std::move(*tensor));
    checkpoint.tensors.push_back(std::move(entry));
  }
  return checkpoint;
}
