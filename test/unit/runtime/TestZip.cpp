//===- TestZip.cpp - Zip archives built byte by byte for tests ------------===//

#include "TestZip.h"

namespace {

struct Writer {
  std::vector<uint8_t> bytes;

  void u16(uint64_t v) {
    for (int i = 0; i < 2; ++i)
      bytes.push_back(uint8_t(v >> (8 * i)));
  }
  void u32(uint64_t v) {
    for (int i = 0; i < 4; ++i)
      bytes.push_back(uint8_t(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    u32(v);
    u32(v >> 32);
  }
  void text(const std::string &s) {
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
};

} // namespace

std::vector<uint8_t> llamac::test::buildZip(
    const std::vector<std::pair<std::string, std::string>> &entries, bool zip64,
    uint16_t method) {
  Writer z;
  std::vector<uint64_t> offsets;
  for (const auto &[name, content] : entries) {
    offsets.push_back(z.bytes.size());
    z.u32(0x04034b50);
    z.u16(20), z.u16(0), z.u16(method), z.u32(0), z.u32(0);
    z.u32(content.size()), z.u32(content.size());
    z.u16(name.size()), z.u16(3);
    z.text(name);
    z.text("pad");
    z.text(content);
  }
  const uint64_t directory = z.bytes.size();
  const uint32_t big = 0xffffffff;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto &[name, content] = entries[i];
    z.u32(0x02014b50);
    z.u16(45), z.u16(45), z.u16(0), z.u16(method), z.u32(0), z.u32(0);
    z.u32(zip64 ? big : content.size()), z.u32(zip64 ? big : content.size());
    z.u16(name.size()), z.u16(zip64 ? 28 : 0), z.u16(0), z.u16(0), z.u16(0),
        z.u32(0);
    z.u32(zip64 ? big : offsets[i]);
    z.text(name);
    if (zip64) {
      z.u16(1), z.u16(24);
      z.u64(content.size()), z.u64(content.size()), z.u64(offsets[i]);
    }
  }
  const uint64_t directorySize = z.bytes.size() - directory;
  if (zip64) {
    uint64_t record = z.bytes.size();
    z.u32(0x06064b50), z.u64(44), z.u16(45), z.u16(45), z.u32(0), z.u32(0);
    z.u64(entries.size()), z.u64(entries.size());
    z.u64(directorySize), z.u64(directory);
    z.u32(0x07064b50), z.u32(0), z.u64(record), z.u32(1);
  }
  z.u32(0x06054b50), z.u16(0), z.u16(0);
  z.u16(zip64 ? 0xffff : entries.size());
  z.u16(zip64 ? 0xffff : entries.size());
  z.u32(zip64 ? big : directorySize);
  z.u32(zip64 ? big : directory);
  z.u16(0);
  return z.bytes;
}
