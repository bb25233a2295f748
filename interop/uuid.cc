#include "interop/uuid.h"

#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "certs/ids.h"

namespace watchfloor::interop {
namespace {

uint32_t Rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

}  // namespace

std::string Sha1(absl::string_view data) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string msg(data);
  const uint64_t bit_len = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>(bit_len >> (i * 8)));
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(msg.data() + off + 4 * i);
      w[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    }
    for (int i = 16; i < 80; ++i) w[i] = Rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d), k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d, k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d, k = 0xCA62C1D6;
      }
      uint32_t t = Rotl(a, 5) + f + e + k + w[i];
      e = d, d = c, c = Rotl(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  std::string out;
  for (uint32_t v : h) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (i * 8)));
  }
  return out;
}

absl::StatusOr<std::string> Uuid5(absl::string_view namespace_uuid, absl::string_view name) {
  std::string hex;
  for (size_t i = 0; i < namespace_uuid.size(); ++i) {
    const bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_pos != (namespace_uuid[i] == '-')) hex = "x";  // forces the error below
    if (!dash_pos) hex.push_back(namespace_uuid[i]);
  }
  absl::StatusOr<std::string> ns = certs::HexDecode(hex);
  if (namespace_uuid.size() != 36 || !ns.ok() || ns->size() != 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "namespace \"", namespace_uuid, "\" is not a UUID like 6ba7b811-9dad-11d1-80b4-00c04fd430c8"));
  }
  std::string digest = Sha1(absl::StrCat(*ns, name));
  digest[6] = static_cast<char>((digest[6] & 0x0f) | 0x50);
  digest[8] = static_cast<char>((digest[8] & 0x3f) | 0x80);
  const std::string h = certs::HexEncode(digest.substr(0, 16));
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-",
                      h.substr(16, 4), "-", h.substr(20, 12));
}

std::string Uuid5OrDie(absl::string_view namespace_uuid, absl::string_view name) {
  absl::StatusOr<std::string> u = Uuid5(namespace_uuid, name);
  if (!u.ok()) std::abort();
  return *u;
}

std::string WatchfloorNamespace() {
  static const std::string* ns =
      new std::string(Uuid5OrDie(kNamespaceUrl, "urn:watchfloor:interop:v1"));
  return *ns;
}

}  // namespace watchfloor::interop
