#include "certs/ids.h"

#include <sodium.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace watchfloor::certs {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// libsodium wants sodium_init() before first use; a function-local static
// makes that happen exactly once, thread-safely.
void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();  // No usable crypto: nothing sane to continue with.
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Sha256(absl::string_view data) {
  EnsureSodium();
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()),
                     reinterpret_cast<const unsigned char*>(data.data()),
                     data.size());
  return out;
}

std::string AlertId(absl::string_view payload) {
  EnsureSodium();
  // Hash incrementally so a large payload is never copied to prepend 0x00.
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  const unsigned char leaf_prefix = 0x00;
  crypto_hash_sha256_update(&state, &leaf_prefix, 1);
  crypto_hash_sha256_update(
      &state, reinterpret_cast<const unsigned char*>(payload.data()),
      payload.size());
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, digest);
  return HexEncode(
      absl::string_view(reinterpret_cast<char*>(digest), sizeof(digest)));
}

std::string HexEncode(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0xf]);
  }
  return out;
}

absl::StatusOr<std::string> HexDecode(absl::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("hex string has odd length ", hex.size()));
  }
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]);
    const int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid hex digit at position ", hi < 0 ? i : i + 1));
    }
    out[i / 2] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

bool IsHexId(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace watchfloor::certs
