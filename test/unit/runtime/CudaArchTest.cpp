//===- CudaArchTest.cpp - Which cuda binary a GPU runs --------------------===//

#include "runtime/CudaArch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace {

BinarySpec cubin(const std::string &arch) {
  return {"cuda", arch, "cubin", {1}};
}
BinarySpec ptx(const std::string &arch) { return {"cuda", arch, "ptx", {1}}; }

/// What llamac builds by default: four cubins and PTX for the lowest.
std::vector<BinarySpec> defaultBinaries() {
  return {cubin("sm_80"), cubin("sm_86"), cubin("sm_89"), cubin("sm_90"),
          ptx("compute_80")};
}

SmVersion sm(int major, int minor) { return {major, minor, false}; }

/// The description of the choice for `device`, or the error.
std::string choose(const std::vector<BinarySpec> &binaries, SmVersion device) {
  StatusOr<CudaBinaryChoice> choice = selectCudaBinary(binaries, device);
  return choice.ok() ? choice->description : choice.message();
}

TEST(CudaArchTest, ParsesArchNames) {
  auto parsed = [](const std::string &text) {
    std::optional<SmVersion> version = parseCudaArch(text);
    return version ? std::to_string(version->major) + "." +
                         std::to_string(version->minor) +
                         (version->archSpecific ? "a" : "")
                   : std::string("none");
  };
  EXPECT_EQ(parsed("sm_80"), "8.0");
  EXPECT_EQ(parsed("sm_86"), "8.6");
  EXPECT_EQ(parsed("sm_75"), "7.5");
  EXPECT_EQ(parsed("sm_90a"), "9.0a");
  EXPECT_EQ(parsed("sm_100"), "10.0");
  EXPECT_EQ(parsed("sm_120"), "12.0");
  EXPECT_EQ(parsed("compute_80"), "8.0");
  EXPECT_EQ(parsed("compute_90a"), "9.0a");
  for (const char *bad : {"", "sm_", "sm_8", "sm_8x", "sm_1000", "sm_08",
                          "x86-64-v3", "compute_", "SM_80", "sm_80b"})
    EXPECT_EQ(parsed(bad), "none") << bad;
}

TEST(CudaArchTest, NamesRoundTrip) {
  EXPECT_EQ(sm(8, 6).smName(), "sm_86");
  EXPECT_EQ(sm(10, 0).smName(), "sm_100");
  EXPECT_EQ(sm(8, 0).computeName(), "compute_80");
  EXPECT_EQ((SmVersion{9, 0, true}).smName(), "sm_90a");
}

TEST(CudaArchTest, ExactCubinWins) {
  for (auto [major, minor] : {std::pair{8, 0}, {8, 6}, {8, 9}, {9, 0}}) {
    StatusOr<CudaBinaryChoice> choice =
        selectCudaBinary(defaultBinaries(), sm(major, minor));
    ASSERT_TRUE(choice.ok()) << choice.message();
    EXPECT_FALSE(choice->jit);
    EXPECT_EQ(defaultBinaries()[choice->index].arch, sm(major, minor).smName());
    EXPECT_EQ(choice->description,
              "cubin " + sm(major, minor).smName() + " (exact match)");
  }
}

TEST(CudaArchTest, HighestCompatibleMinorOfTheSameMajor) {
  // sm_87 (Orin) runs sm_86 code, the highest minor not above its own.
  EXPECT_EQ(choose(defaultBinaries(), sm(8, 7)),
            "cubin sm_86 (binary compatible with sm_87)");
  // Order in the artifact does not matter.
  EXPECT_EQ(choose({cubin("sm_86"), cubin("sm_80")}, sm(8, 9)),
            "cubin sm_86 (binary compatible with sm_89)");
  EXPECT_EQ(choose({cubin("sm_80")}, sm(8, 6)),
            "cubin sm_80 (binary compatible with sm_86)");
}

TEST(CudaArchTest, NoCubinAcrossMajorsSoPtxIsJitted) {
  // Hopper cannot run sm_89 code, nor Blackwell sm_90: the PTX is JIT-ed.
  StatusOr<CudaBinaryChoice> choice = selectCudaBinary(
      {cubin("sm_80"), cubin("sm_89"), ptx("compute_80")}, sm(9, 0));
  ASSERT_TRUE(choice.ok()) << choice.message();
  EXPECT_TRUE(choice->jit);
  EXPECT_EQ(choice->index, 2u);
  EXPECT_EQ(choice->description, "PTX compute_80 (JIT-compiled for sm_90)");
  EXPECT_EQ(choose(defaultBinaries(), sm(10, 0)),
            "PTX compute_80 (JIT-compiled for sm_100)");
  EXPECT_EQ(choose(defaultBinaries(), sm(12, 0)),
            "PTX compute_80 (JIT-compiled for sm_120)");
}

TEST(CudaArchTest, PtxOnlyPassesOverTheMatchingCubins) {
  // --ptx: Hopper JITs the portable compute_80 code though sm_90a's cubin
  // matches it exactly.
  StatusOr<CudaBinaryChoice> choice = selectCudaBinary(
      {cubin("sm_80"), cubin("sm_90a"), ptx("compute_80")}, sm(9, 0),
      /*ptxOnly=*/true);
  ASSERT_TRUE(choice.ok()) << choice.message();
  EXPECT_TRUE(choice->jit);
  EXPECT_EQ(choice->index, 2u);
  EXPECT_EQ(choice->description, "PTX compute_80 (JIT-compiled for sm_90)");
  StatusOr<CudaBinaryChoice> none =
      selectCudaBinary({cubin("sm_80"), cubin("sm_90a")}, sm(9, 0), true);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.message(), "no PTX for sm_90: the artifact has cubins for "
                            "sm_80, sm_90a and no PTX");
}

TEST(CudaArchTest, CubinBeatsPtx) {
  EXPECT_EQ(choose({ptx("compute_90"), cubin("sm_90")}, sm(9, 0)),
            "cubin sm_90 (exact match)");
}

TEST(CudaArchTest, HighestPtxNotAboveTheDevice) {
  std::vector<BinarySpec> binaries = {ptx("compute_80"), ptx("compute_90"),
                                      ptx("compute_100")};
  EXPECT_EQ(choose(binaries, sm(9, 0)),
            "PTX compute_90 (JIT-compiled for sm_90)");
  EXPECT_EQ(choose(binaries, sm(8, 9)),
            "PTX compute_80 (JIT-compiled for sm_89)");
  EXPECT_EQ(choose(binaries, sm(12, 0)),
            "PTX compute_100 (JIT-compiled for sm_120)");
}

TEST(CudaArchTest, ArchSpecificCodeRunsOnlyOnItsSm) {
  std::vector<BinarySpec> binaries = {cubin("sm_90a"), cubin("sm_80")};
  EXPECT_EQ(choose(binaries, sm(9, 0)), "cubin sm_90a (exact match)");
  EXPECT_EQ(choose({cubin("sm_90a")}, sm(10, 0)),
            "no matching arch: the device is sm_100; the artifact has cubins "
            "for sm_90a and no PTX");
  EXPECT_EQ(choose({ptx("compute_90a")}, sm(10, 0)),
            "no matching arch: the device is sm_100; the artifact has no "
            "cubins and PTX for compute_90a, which needs sm_90 exactly");
}

TEST(CudaArchTest, TooOldDeviceIsRefusedWithTheWholePicture) {
  EXPECT_EQ(choose(defaultBinaries(), sm(7, 5)),
            "no matching arch: the device is sm_75; the artifact has cubins "
            "for sm_80, sm_86, sm_89, sm_90 and PTX for compute_80, which "
            "needs sm_80 or newer");
}

TEST(CudaArchTest, CubinsAreListedInOrder) {
  EXPECT_EQ(choose({cubin("sm_90"), cubin("sm_86"), cubin("sm_90")}, sm(7, 0)),
            "no matching arch: the device is sm_70; the artifact has cubins "
            "for sm_86, sm_90 and no PTX");
}

TEST(CudaArchTest, NewerMinorCubinDoesNotRunOnOlderMinor) {
  EXPECT_EQ(choose({cubin("sm_86"), cubin("sm_89")}, sm(8, 0)),
            "no matching arch: the device is sm_80; the artifact has cubins "
            "for sm_86, sm_89 and no PTX");
}

TEST(CudaArchTest, PtxOnlyArtifactOnTooOldDevice) {
  EXPECT_EQ(choose({ptx("compute_90"), ptx("compute_80")}, sm(7, 5)),
            "no matching arch: the device is sm_75; the artifact has no "
            "cubins and PTX for compute_80, compute_90, which needs sm_80 or "
            "newer");
}

TEST(CudaArchTest, OtherTargetsAndFormatsAreIgnored) {
  std::vector<BinarySpec> binaries = {
      {"cpu", "x86-64-v3", "elf-shared-object", {1}},
      {"cuda", "sm_86", "fatbin", {1}},
      {"cuda", "bogus", "cubin", {1}},
      cubin("sm_80")};
  StatusOr<CudaBinaryChoice> choice = selectCudaBinary(binaries, sm(8, 6));
  ASSERT_TRUE(choice.ok()) << choice.message();
  EXPECT_EQ(choice->index, 3u);
  EXPECT_EQ(choose({{"cpu", "x86-64-v3", "elf-shared-object", {1}}}, sm(9, 0)),
            "no matching arch: the device is sm_90; the artifact has no "
            "cubins and no PTX");
}

} // namespace
