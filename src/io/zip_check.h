// A check of a zip archive's directory before LibTorch's reader opens it: that reader
// allocates whatever size an entry declares, so a 2 KB file declaring a 4 GiB record takes
// 4 GiB. torch.save stores entries uncompressed, so no entry can hold more than the file.
#pragma once

#include <cstdint>
#include <istream>
#include <string>

namespace domino {

// Fails ("<source> is not a readable <what>: ...") if an entry of the archive in `in`
// (`file_size` bytes) declares more bytes than it can hold: a stored entry more than the
// file, a deflated one more than deflate's largest ratio allows. An archive whose
// directory cannot be found is left to the zip reader to report.
void check_zip_sizes(std::istream& in, uint64_t file_size, const std::string& source, const std::string& what);

}  // namespace domino
