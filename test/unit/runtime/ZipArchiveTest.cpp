//===- ZipArchiveTest.cpp - Stored entries of zip files -------------------===//
//
// Archives built byte by byte, in the plain layout and in the zip64 layout
// that torch.save uses past 4 GiB (every 70B rank): both must give the same
// entries, and damage must be an error, never a read out of bounds.
//
//===----------------------------------------------------------------------===//

#include "runtime/ZipArchive.h"

#include "TestAssets.h"
#include "TestZip.h"

#include <gtest/gtest.h>

using namespace llamac::runtime;
using llamac::test::TempDir;

namespace {

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
        dir, llamac::test::buildZip(
                 {{"m/data.pkl", "pickle"}, {"m/data/0", ""}}, zip64));
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
      openBytes(dir, llamac::test::buildZip({{"m/data.pkl", "x"}}, false, 8));
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
        llamac::test::buildZip({{"m/data.pkl", "pickle"}}, zip64);
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
