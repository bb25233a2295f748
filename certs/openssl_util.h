// OpenSSL handles and error reporting shared by keys.cc and x509.cc.
// Internal to certs/ (STYLE.md habit 5: only certs/ includes OpenSSL).
#ifndef WATCHFLOOR_CERTS_OPENSSL_UTIL_H_
#define WATCHFLOOR_CERTS_OPENSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace watchfloor::certs::internal {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;

// Drains OpenSSL's thread-local error queue into one readable string.
std::string OpenSslErrors();

// `code` with "<what>: <OpenSslErrors()>".
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what);

// A PEM password callback that refuses: never prompt for an encrypted PEM.
int NoPassword(char*, int, int, void*);

// A memory BIO's contents.
std::string BioContents(BIO* bio);

// A read-only memory BIO over `data` (which must outlive it); clears the
// error queue first. RESOURCE_EXHAUSTED if OpenSSL cannot allocate.
absl::StatusOr<BioPtr> ReadOnlyBio(absl::string_view data);

// Wipes (OPENSSL_cleanse) a std::string holding a secret when it goes out of scope.
class Wiper {
 public:
  explicit Wiper(std::string& s) : s_(s) {}
  Wiper(const Wiper&) = delete;
  Wiper& operator=(const Wiper&) = delete;
  ~Wiper() { OPENSSL_cleanse(s_.data(), s_.size()); }

 private:
  std::string& s_;
};

}  // namespace watchfloor::certs::internal

#endif  // WATCHFLOOR_CERTS_OPENSSL_UTIL_H_
