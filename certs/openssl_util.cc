#include "certs/openssl_util.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace watchfloor::certs::internal {

std::string OpenSslErrors() {
  std::string out;
  char buf[256];
  while (unsigned long err = ERR_get_error()) {
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  return absl::Status(code, absl::StrCat(what, ": ", OpenSslErrors()));
}

int NoPassword(char*, int, int, void*) { return -1; }

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, len > 0 ? static_cast<size_t>(len) : 0);
}

absl::StatusOr<BioPtr> ReadOnlyBio(absl::string_view data) {
  ERR_clear_error();
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (bio == nullptr) {
    return OpenSslError(absl::StatusCode::kResourceExhausted, "BIO_new");
  }
  return bio;
}

}  // namespace watchfloor::certs::internal
