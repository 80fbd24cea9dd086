//===- ZipArchiveTest.cpp - Stored entries of zip files -------------------===//
//
// Archives built byte by byte, in the plain layout and in the zip64 layout
// that torch.save uses past 4 GiB (every 70B rank): both must give the same
// entries, and damage must be an error, never a read out of bounds.
//
//===----------------------------------------------------------------------===//

#include "runtime/ZipArchive.h"

#include "TestAssets.h"

#include <gtest/gtest.h>

using namespace llamac::runtime;
using llamac::test::TempDir;

namespace {

struct ZipBuilder {
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

  /// A zip of `entries` (name, content), stored; with `zip64`, every size
  /// and offset in the directory goes through zip64 records, as for files
  /// past 4 GiB.
  static std::vector<uint8_t>
  build(const std::vector<std::pair<std::string, std::string>> &entries,
        bool zip64, uint16_t method = 0) {
    ZipBuilder z;
    std::vector<uint64_t> offsets;
    for (const auto &[name, content] : entries) {
      offsets.push_back(z.bytes.size());
      z.u32(0x04034b50);
      z.u16(20), z.u16(0), z.u16(method), z.u32(0), z.u32(0);
      z.u32(content.size()), z.u32(content.size());
      z.u16(name.size()), z.u16(3); // An extra field, as torch pads with.
      z.text(name);
      z.text("pad");
      z.text(content);
    }
    uint64_t directory = z.bytes.size();
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto &[name, content] = entries[i];
      z.u32(0x02014b50);
      z.u16(45), z.u16(45), z.u16(0), z.u16(method), z.u32(0), z.u32(0);
      uint32_t big = 0xffffffff;
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
    uint64_t directorySize = z.bytes.size() - directory;
    if (zip64) {
      uint64_t record = z.bytes.size();
      z.u32(0x06064b50), z.u64(44), z.u16(45), z.u16(45), z.u32(0), z.u32(0);
      z.u64(entries.size()), z.u64(entries.size());
      z.u64(directorySize), z.u64(directory);
      z.u32(0x07064b50), z.u32(0), z.u64(record), z.u32(1);
    }
    z.u32(0x06054b50), z.u16(0), z.u16(0);
    z.u16(zip64 ? 0xffff : entries.size()),
        z.u16(zip64 ? 0xffff : entries.size());
    z.u32(zip64 ? 0xffffffff : directorySize);
    z.u32(zip64 ? 0xffffffff : directory);
    z.u16(0);
    return z.bytes;
  }
};

StatusOr<ZipArchive> openBytes(const TempDir &dir,
                               const std::vector<uint8_t> &bytes) {
  std::string path = dir.file("a.zip");
  llamac::test::writeBytes(path, bytes);
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  return ZipArchive::open(*file);
}

std::string contentOf(const ZipArchive &archive, const std::string &name) {
  StatusOr<std::pair<const uint8_t *, uint64_t>> view = archive.view(name);
  if (!view.ok())
    return view.message();
  return std::string(reinterpret_cast<const char *>(view->first), view->second);
}

TEST(ZipArchiveTest, ReadsPlainAndZip64Directories) {
  for (bool zip64 : {false, true}) {
    TempDir dir;
    StatusOr<ZipArchive> archive = openBytes(
        dir,
        ZipBuilder::build({{"m/data.pkl", "pickle"}, {"m/data/0", ""}}, zip64));
    ASSERT_TRUE(archive.ok()) << archive.message();
    EXPECT_EQ(archive->entries().size(), 2u);
    EXPECT_EQ(contentOf(*archive, "m/data.pkl"), "pickle");
    EXPECT_EQ(contentOf(*archive, "m/data/0"), "");
    EXPECT_EQ(contentOf(*archive, "m/data/1"),
              dir.file("a.zip") + ": m/data/1: not in the archive");
  }
}

TEST(ZipArchiveTest, RefusesCompressedEntries) {
  TempDir dir;
  StatusOr<ZipArchive> archive =
      openBytes(dir, ZipBuilder::build({{"m/data.pkl", "x"}}, false, 8));
  ASSERT_TRUE(archive.ok()) << archive.message();
  EXPECT_EQ(contentOf(*archive, "m/data.pkl"),
            dir.file("a.zip") +
                ": m/data.pkl: compressed (method 8); torch.save stores "
                "entries uncompressed, so save the checkpoint again with "
                "torch.save");
}

TEST(ZipArchiveTest, ReportsDamage) {
  for (bool zip64 : {false, true}) {
    TempDir dir;
    std::vector<uint8_t> good =
        ZipBuilder::build({{"m/data.pkl", "pickle"}}, zip64);
    // Every cut of the file is an error: the records at its end are gone.
    for (size_t size = 0; size < good.size(); ++size) {
      std::vector<uint8_t> cut(good.begin(), good.begin() + size);
      EXPECT_FALSE(openBytes(dir, cut).ok()) << size;
    }
    // The entry's local header moved away from where the directory says.
    std::vector<uint8_t> moved = good;
    moved[0] = 'X';
    EXPECT_EQ(openBytes(dir, moved).message(),
              dir.file("a.zip") + ": zip: m/data.pkl: no local header where "
                                  "the directory puts it (corrupt or "
                                  "truncated)");
  }
  TempDir dir;
  EXPECT_EQ(openBytes(dir, {'P', 'K', 3, 4}).message(),
            dir.file("a.zip") + ": zip: too short to hold an "
                                "end-of-central-directory record "
                                "(truncated?)");
}

} // namespace
