//===- ZipArchive.h - Uncompressed entries of a zip file ---------*- C++
//-*-===//
//
// torch.save (PyTorch 1.6 and later) writes a zip archive whose entries are
// stored, not compressed, and aligned so that tensors can be used in place.
// This reads the central directory, zip64 included (a 70B shard is 17 GB),
// and hands out each stored entry as a view into the mapped file. Nothing
// here decompresses: a compressed entry is an error that says so.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_ZIPARCHIVE_H
#define LLAMAC_RUNTIME_ZIPARCHIVE_H

#include "runtime/MappedFile.h"
#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace llamac::runtime {

/// Whether `file` starts with a zip local file header ("PK\3\4").
bool looksLikeZip(const MappedFile &file);

class ZipArchive {
public:
  struct Entry {
    /// 0 for stored; anything else is compressed and cannot be viewed.
    uint16_t method = 0;
    /// Where the entry's bytes start in the file, and how many there are.
    uint64_t offset = 0;
    uint64_t size = 0;
  };

  /// Reads the central directory of the mapped `file` and checks that every
  /// entry's bytes lie within the file. Errors read "PATH: zip: REASON".
  static StatusOr<ZipArchive> open(std::shared_ptr<const MappedFile> file);

  const std::string &path() const { return file->path(); }
  const std::map<std::string, Entry> &entries() const { return byName; }
  const Entry *find(const std::string &name) const;
  /// The bytes of the stored entry `name`; an error for a missing or
  /// compressed one ("PATH: NAME: REASON").
  StatusOr<std::pair<const uint8_t *, uint64_t>>
  view(const std::string &name) const;

private:
  std::shared_ptr<const MappedFile> file;
  std::map<std::string, Entry> byName;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_ZIPARCHIVE_H
