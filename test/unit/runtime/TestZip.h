//===- TestZip.h - Zip archives built byte by byte for tests -----*- C++
//-*-===//

#ifndef LLAMAC_TEST_UNIT_RUNTIME_TESTZIP_H
#define LLAMAC_TEST_UNIT_RUNTIME_TESTZIP_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace llamac::test {

/// A zip of `entries` (name, content) with `method` recorded for each
/// (the content is stored as given either way), each local header padded
/// with an extra field as torch.save pads. With `zip64`, every size and
/// offset goes through the zip64 records, as in files past 4 GiB.
std::vector<uint8_t>
buildZip(const std::vector<std::pair<std::string, std::string>> &entries,
         bool zip64, uint16_t method = 0);

} // namespace llamac::test

#endif // LLAMAC_TEST_UNIT_RUNTIME_TESTZIP_H
