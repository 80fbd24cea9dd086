//===- ZipArchive.cpp - Uncompressed entries of a zip file ----------------===//
//
// The layout (APPNOTE.TXT): local headers with each entry's bytes, then the
// central directory, then the end-of-central-directory record (EOCD), which
// a zip64 archive precedes with a zip64 EOCD and its locator. Every offset
// read from the file is checked against its size before it is followed.
//
//===----------------------------------------------------------------------===//

#include "runtime/ZipArchive.h"

#include <algorithm>
#include <cstring>
#include <optional>

using namespace llamac::runtime;

namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr size_t kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr size_t kCentralHeaderSize = 46, kLocalHeaderSize = 30;

/// Little-endian reads from a range the caller has bounds-checked.
uint16_t read16(const uint8_t *p) { return uint16_t(p[0] | p[1] << 8); }
uint32_t read32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
         uint32_t(p[3]) << 24;
}
uint64_t read64(const uint8_t *p) {
  return uint64_t(read32(p)) | uint64_t(read32(p + 4)) << 32;
}

/// Whether [offset, offset + length) lies within `size` bytes.
bool within(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

struct CentralDirectory {
  uint64_t entries = 0, offset = 0, size = 0;
};

StatusOr<CentralDirectory> findCentralDirectory(const MappedFile &file) {
  const uint8_t *bytes = file.data();
  const size_t size = file.size();
  auto error = [&](const std::string &reason) {
    return Status::error(file.path() + ": zip: " + reason);
  };
  if (size < kEndSize)
    return error("too short to hold an end-of-central-directory record "
                 "(truncated?)");
  // The EOCD ends the file, followed only by a comment of at most 64 KiB.
  size_t lowest = size - kEndSize > 0xffff ? size - kEndSize - 0xffff : 0;
  std::optional<size_t> endAt;
  for (size_t at = size - kEndSize + 1; at-- > lowest;)
    if (read32(bytes + at) == kEndSignature &&
        at + kEndSize + read16(bytes + at + 20) == size) {
      endAt = at;
      break;
    }
  if (!endAt)
    return error("no end-of-central-directory record (truncated, or not a "
                 "zip archive)");
  const size_t end = *endAt;
  const uint8_t *record = bytes + end;
  if (read16(record + 4) != 0 || read16(record + 6) != 0)
    return error("a multi-disk archive, which is not supported");
  CentralDirectory directory{read16(record + 10), read32(record + 16),
                             read32(record + 12)};
  bool zip64 = directory.entries == 0xffff || directory.offset == 0xffffffff ||
               directory.size == 0xffffffff;
  if (zip64) {
    if (end < kZip64LocatorSize ||
        read32(bytes + end - kZip64LocatorSize) != kZip64LocatorSignature)
      return error("the end-of-central-directory record needs a zip64 "
                   "locator before it, and there is none");
    uint64_t zip64End = read64(bytes + end - kZip64LocatorSize + 8);
    if (!within(zip64End, kZip64EndSize, size) ||
        read32(bytes + zip64End) != kZip64EndSignature)
      return error("the zip64 locator points to no zip64 "
                   "end-of-central-directory record");
    const uint8_t *record64 = bytes + zip64End;
    directory = {read64(record64 + 32), read64(record64 + 48),
                 read64(record64 + 40)};
  }
  if (!within(directory.offset, directory.size, size))
    return error("the central directory lies beyond the end of the file "
                 "(truncated?)");
  return directory;
}

} // namespace

bool llamac::runtime::looksLikeZip(const MappedFile &file) {
  return file.size() >= 4 && read32(file.data()) == kLocalHeaderSignature;
}

StatusOr<ZipArchive>
ZipArchive::open(std::shared_ptr<const MappedFile> mapped) {
  const MappedFile &file = *mapped;
  StatusOr<CentralDirectory> directory = findCentralDirectory(file);
  if (!directory.ok())
    return directory.status();
  const uint8_t *bytes = file.data();
  const uint64_t size = file.size();
  auto error = [&](const std::string &reason) {
    return Status::error(file.path() + ": zip: " + reason);
  };

  ZipArchive archive;
  archive.file = std::move(mapped);
  uint64_t at = directory->offset;
  const uint64_t end = directory->offset + directory->size;
  for (uint64_t i = 0; i < directory->entries; ++i) {
    if (!within(at, kCentralHeaderSize, end) ||
        read32(bytes + at) != kCentralHeaderSignature)
      return error("central directory entry " + std::to_string(i) +
                   " is malformed");
    const uint8_t *header = bytes + at;
    uint16_t flags = read16(header + 8);
    Entry entry;
    entry.method = read16(header + 10);
    uint64_t compressed = read32(header + 20);
    uint64_t uncompressed = read32(header + 24);
    uint16_t nameLength = read16(header + 28);
    uint16_t extraLength = read16(header + 30);
    uint16_t commentLength = read16(header + 32);
    uint64_t localOffset = read32(header + 42);
    if (!within(at + kCentralHeaderSize,
                uint64_t(nameLength) + extraLength + commentLength, end))
      return error("central directory entry " + std::to_string(i) +
                   " runs past the directory");
    std::string name(reinterpret_cast<const char *>(header) +
                         kCentralHeaderSize,
                     nameLength);
    // A zip64 extra field holds, in this order, each of the three that
    // overflowed 32 bits.
    const uint8_t *extra = header + kCentralHeaderSize + nameLength;
    for (size_t x = 0; x + 4 <= extraLength;) {
      uint16_t id = read16(extra + x), length = read16(extra + x + 2);
      if (x + 4 + length > extraLength)
        return error(name + ": malformed extra field");
      if (id == kZip64ExtraId) {
        const uint8_t *field = extra + x + 4;
        size_t left = length;
        for (uint64_t *value : {&uncompressed, &compressed, &localOffset}) {
          if (*value != 0xffffffff)
            continue;
          if (left < 8)
            return error(name + ": zip64 extra field too short");
          *value = read64(field);
          field += 8;
          left -= 8;
        }
      }
      x += 4 + length;
    }
    at += kCentralHeaderSize + nameLength + extraLength + commentLength;

    if (flags & 1)
      return error(name + ": encrypted, which is not supported");
    if (!within(localOffset, kLocalHeaderSize, size) ||
        read32(bytes + localOffset) != kLocalHeaderSignature)
      return error(name + ": no local header where the directory puts it "
                          "(corrupt or truncated)");
    const uint8_t *local = bytes + localOffset;
    entry.offset = localOffset + kLocalHeaderSize + read16(local + 26) +
                   read16(local + 28);
    entry.size = compressed;
    if (entry.method == 0 && compressed != uncompressed)
      return error(name + ": a stored entry whose compressed and "
                          "uncompressed sizes differ");
    if (!within(entry.offset, entry.size, size))
      return error(name + ": its " + std::to_string(entry.size) +
                   " bytes run past the end of the file (truncated?)");
    if (!archive.byName.emplace(name, entry).second)
      return error(name + ": appears twice");
  }
  return archive;
}

const ZipArchive::Entry *ZipArchive::find(const std::string &name) const {
  auto found = byName.find(name);
  return found == byName.end() ? nullptr : &found->second;
}

StatusOr<std::pair<const uint8_t *, uint64_t>>
ZipArchive::view(const std::string &name) const {
  const Entry *entry = find(name);
  if (!entry)
    return Status::error(path() + ": " + name + ": not in the archive");
  if (entry->method != 0)
    return Status::error(path() + ": " + name + ": compressed (method " +
                         std::to_string(entry->method) +
                         "); torch.save stores entries uncompressed, so "
                         "save the checkpoint again with torch.save");
  return std::make_pair(file->data() + entry->offset, entry->size);
}
