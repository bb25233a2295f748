// Writes tests/testdata/sealed/: the worked sealed-alert vector and the
// tamper cases tests/seal_test.cc walks. Fixed keys, ephemeral keys, content
// key and nonce, so the output is byte-for-byte reproducible; run by hand
// and commit the output (tests/testdata/sealed/README.md):
//   build/tests/make_sealed_testdata .
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/encryption_key.h"
#include "certs/hpke.h"
#include "certs/ids.h"
#include "certs/seal.h"
#include "google/protobuf/util/time_util.h"

namespace watchfloor::certs {
namespace {

using watchfloor::v1::Alert;

// 32 bytes: `first`, first+1, ... (mod 256).
std::string Ramp(int first, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((first + i) & 0xff));
  return out;
}

struct Node {
  std::string node;
  uint64_t epoch;
  std::string sk;         // recipient private key
  std::string ephemeral;  // HPKE ephemeral private key used to seal to it
};

// The worked vector's recipient node keys, in the caller's order.
std::vector<Node> Nodes() {
  return {{"sidn.nl/ams1", 0, Ramp(0x40, 32), Ramp(0x80, 32)},
          {"cesnet.cz/prg2", 0, Ramp(0x20, 32), Ramp(0x60, 32)},
          {"sidn.nl/ams2", 3, Ramp(0x50, 32), Ramp(0x90, 32)}};
}

Alert FullAlert(uint64_t sequence) {
  Alert a;
  a.set_origin("nic.cz/prg1");
  a.set_sequence(sequence);
  a.set_previous(std::string(64, 'a'));
  *a.mutable_issued_at() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(1796284800);
  a.set_tlp(watchfloor::v1::TLP_RED);
  a.add_recipients("sidn.nl");
  a.add_recipients("cesnet.cz");
  a.set_severity(watchfloor::v1::SEVERITY_HIGH);
  a.set_category("dns.hijack");
  a.set_title("Registrar account takeover, NS changed");
  a.set_description("NS of example.cz moved to attacker-controlled servers.");
  a.add_domains("example.cz");
  a.add_ip_prefixes("192.0.2.0/24");
  a.add_asns(64500);
  auto* label = a.add_labels();
  label->set_key("incident");
  label->set_value("INC-2041");
  return a;
}

struct Vector {
  std::vector<Node> nodes = Nodes();
  std::vector<EncryptionKey> ephemeral;
  std::vector<SealRecipient> recipients;
  SealSecrets secrets;         // the first alert's (sequence 7)
  SealSecrets second_secrets;  // the second alert's (sequence 8)
};

Vector MakeVector() {
  Vector v;
  for (const Node& n : v.nodes) {
    v.ephemeral.push_back(*EncryptionKey::FromRaw(n.ephemeral));
    v.recipients.push_back(
        {n.node, n.epoch, EncryptionKey::FromRaw(n.sk)->public_key()});
  }
  for (const EncryptionKey& e : v.ephemeral) v.secrets.ephemeral.push_back(&e);
  v.secrets.content_key = Ramp(0x00, 32);
  v.secrets.nonce = Ramp(0xa0, 12);
  v.second_secrets = v.secrets;
  v.second_secrets.content_key = Ramp(0xc0, 32);
  v.second_secrets.nonce = Ramp(0xe0, 12);
  return v;
}

// Seals with the sender's contexts `contexts`: the first seal sets them up
// with the vector's ephemeral keys (seq 0), the second reuses them (seq 1).
Alert Seal(const Vector& v, const SealSecrets& secrets, const Alert& full,
           WrapContexts& contexts) {
  absl::StatusOr<Alert> outer =
      SealAlert(full, v.recipients, secrets, contexts);
  if (!outer.ok()) {
    std::fprintf(stderr, "seal: %s\n", outer.status().ToString().c_str());
    std::exit(1);
  }
  return *outer;
}

std::string Hex(const google::protobuf::Message& m) {
  return HexEncode(m.SerializeAsString());
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.good()) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

std::string Inner(const Alert& full) {
  Alert inner = full;
  for (auto* f : {"origin", "sequence", "previous", "issued_at", "tlp",
                  "recipients"}) {
    inner.GetReflection()->ClearField(
        &inner, inner.GetDescriptor()->FindFieldByName(f));
  }
  return Hex(inner);
}

void WriteVector(const std::string& dir, const Vector& v, const Alert& outer,
                 const Alert& second_outer) {
  const Alert full = FullAlert(7);
  const Alert second_full = FullAlert(8);
  std::string text =
      "# The worked sealed-alert vector (docs/PROTOCOL.md \"Sealed alerts\").\n"
      "# Written by tests/make_sealed_testdata.cc; do not edit.\n"
      "# full: the serialized Alert handed to SealAlert (hex).\n"
      "# recipient: node, key_epoch, recipient X25519 private key, HPKE\n"
      "#   ephemeral private key of the sender context set up for it\n"
      "#   (hex), in the order given to SealAlert.\n"
      "# content_key, nonce: the content AES-256-GCM key and nonce.\n"
      "# context: SealContext(outer); info: WrapContextInfo per wrapped key,\n"
      "#   in sealed.keys order; inner: the serialized inner Alert;\n"
      "# outer: the serialized outer Alert SealAlert returns (hex), its\n"
      "#   wrapped keys at seq 0 of fresh sender contexts.\n"
      "# second_*: a second alert (sequence 8) sealed next with the same\n"
      "#   sender contexts: the same enc per node, seq 1.\n";
  absl::StrAppend(&text, "full: ", Hex(full), "\n");
  for (const Node& n : v.nodes) {
    absl::StrAppend(&text, "recipient: ", n.node, " ", n.epoch, " ",
                    HexEncode(n.sk), " ", HexEncode(n.ephemeral), "\n");
  }
  const std::string context = SealContext(outer);
  absl::StrAppend(&text, "content_key: ", HexEncode(v.secrets.content_key),
                  "\nnonce: ", HexEncode(v.secrets.nonce),
                  "\ncontext: ", HexEncode(context), "\n");
  for (const auto& k : outer.sealed().keys()) {
    absl::StrAppend(
        &text, "info: ",
        HexEncode(WrapContextInfo(outer.origin(), k.node(), k.key_epoch())),
        "\n");
  }
  absl::StrAppend(&text, "inner: ", Inner(full), "\nouter: ", Hex(outer),
                  "\n");
  absl::StrAppend(&text, "second_full: ", Hex(second_full),
                  "\nsecond_content_key: ",
                  HexEncode(v.second_secrets.content_key),
                  "\nsecond_nonce: ", HexEncode(v.second_secrets.nonce),
                  "\nsecond_context: ", HexEncode(SealContext(second_outer)),
                  "\nsecond_inner: ", Inner(second_full),
                  "\nsecond_outer: ", Hex(second_outer), "\n");
  Write(dir + "/worked_vector.txt", text);
}

struct Case {
  std::string name;
  std::string description;
  std::string check;  // "open" or "shape"
  std::string node;   // for open
  std::string keys;   // epochs the node has keys for: "0,3", "none", "wrong"
  std::string status;
  std::string message;
  std::function<void(Alert&)> mutate;
};

void WriteCase(const std::string& dir, const Alert& base, const Case& c) {
  Alert a = base;
  c.mutate(a);
  std::string text = absl::StrCat("# ", c.description, "\n",
                                  "# Written by tests/make_sealed_testdata.cc; "
                                  "do not edit.\ncheck: ",
                                  c.check, "\n");
  if (c.check == "open") {
    absl::StrAppend(&text, "node: ", c.node, "\nkeys: ", c.keys, "\n");
  }
  absl::StrAppend(&text, "status: ", c.status, "\nmessage: ", c.message,
                  "\nalert: ", Hex(a), "\n");
  Write(dir + "/" + c.name + ".case", text);
}

// Re-encrypts `inner_bytes` under the first alert's content key and context, to
// build well-authenticated but malformed inner alerts.
void ReplaceInner(const Vector& v, Alert& a, const std::string& inner_bytes) {
  a.mutable_sealed()->set_ciphertext(
      *hpke::AeadSeal(hpke::Aead::kAes256Gcm, v.secrets.content_key,
                      v.secrets.nonce, SealContext(a), inner_bytes));
}

std::vector<Case> Cases(const Vector& v, const Alert& other) {
  const std::string auth = "HPKE ciphertext does not authenticate";
  const std::string prg2 = "wrapped key for node cesnet.cz/prg2 key epoch 0: ";
  std::vector<Case> c = {
      {"ok-cesnet-prg2", "untampered: a recipient node opens it", "open",
       "cesnet.cz/prg2", "0", "OK", "", [](Alert&) {}},
      {"ok-sidn-ams2-epoch3", "untampered: the epoch-3 key opens it", "open",
       "sidn.nl/ams2", "3", "OK", "", [](Alert&) {}},
      {"flip-ciphertext-byte", "one bit of the content ciphertext flipped",
       "open", "cesnet.cz/prg2", "0", "DATA_LOSS",
       "sealed.ciphertext does not authenticate",
       [](Alert& a) { (*a.mutable_sealed()->mutable_ciphertext())[5] ^= 1; }},
      {"flip-tag-byte", "one bit of the content tag flipped", "open",
       "cesnet.cz/prg2", "0", "DATA_LOSS",
       "sealed.ciphertext does not authenticate",
       [](Alert& a) { a.mutable_sealed()->mutable_ciphertext()->back() ^= 1; }},
      {"flip-nonce-byte", "one bit of the content nonce flipped", "open",
       "cesnet.cz/prg2", "0", "DATA_LOSS",
       "sealed.ciphertext does not authenticate",
       [](Alert& a) { (*a.mutable_sealed()->mutable_nonce())[0] ^= 1; }},
      {"flip-wrapped-key-byte", "one bit of cesnet.cz/prg2's wrapped key",
       "open", "cesnet.cz/prg2", "0", "DATA_LOSS", prg2 + auth,
       [](Alert& a) {
         (*a.mutable_sealed()->mutable_keys(0)->mutable_wrapped_key())[0] ^= 1;
       }},
      {"swap-wrapped-keys", "enc and wrapped_key of cesnet.cz/prg2 and "
       "sidn.nl/ams1 swapped (the info binds the node)", "open",
       "cesnet.cz/prg2", "0", "DATA_LOSS", prg2 + auth,
       [](Alert& a) {
         auto* k = a.mutable_sealed()->mutable_keys();
         std::swap(*(*k)[0].mutable_enc(), *(*k)[1].mutable_enc());
         std::swap(*(*k)[0].mutable_wrapped_key(), *(*k)[1].mutable_wrapped_key());
       }},
      {"relabel-key-epoch", "cesnet.cz/prg2's wrapped key relabelled epoch 1 "
       "(the info binds the epoch)", "open", "cesnet.cz/prg2", "1",
       "DATA_LOSS", "wrapped key for node cesnet.cz/prg2 key epoch 1: " + auth,
       [](Alert& a) { a.mutable_sealed()->mutable_keys(0)->set_key_epoch(1); }},
      {"change-seq", "cesnet.cz/prg2's wrapped key relabelled seq 1 (the "
       "context nonce is per seq)", "open", "cesnet.cz/prg2", "0",
       "DATA_LOSS", prg2 + auth,
       [](Alert& a) { a.mutable_sealed()->mutable_keys(0)->set_seq(1); }},
      {"drop-seq", "cesnet.cz/prg2's seq removed (read as a single-shot "
       "wrap, whose info differs)", "open", "cesnet.cz/prg2", "0",
       "DATA_LOSS", prg2 + auth,
       [](Alert& a) { a.mutable_sealed()->mutable_keys(0)->clear_seq(); }},
      {"move-wrapped-key-same-context", "cesnet.cz/prg2's wrapped key of the "
       "next alert (same enc, seq 1) moved into this one (the context is the "
       "wrap's associated data)", "open", "cesnet.cz/prg2", "0", "DATA_LOSS",
       prg2 + auth,
       [other](Alert& a) {
         *a.mutable_sealed()->mutable_keys(0) = other.sealed().keys(0);
       }},
      {"change-sequence", "sequence 7 changed to 8", "open", "cesnet.cz/prg2",
       "0", "DATA_LOSS", prg2 + auth, [](Alert& a) { a.set_sequence(8); }},
      {"change-origin", "origin changed to nic.cz/prg9", "open",
       "cesnet.cz/prg2", "0", "DATA_LOSS", prg2 + auth,
       [](Alert& a) { a.set_origin("nic.cz/prg9"); }},
      {"change-tlp", "tlp RED changed to AMBER_STRICT", "open",
       "cesnet.cz/prg2", "0", "DATA_LOSS", prg2 + auth,
       [](Alert& a) { a.set_tlp(watchfloor::v1::TLP_AMBER_STRICT); }},
      {"drop-recipient-member", "sidn.nl and its keys removed from the alert",
       "open", "cesnet.cz/prg2", "0", "DATA_LOSS", prg2 + auth,
       [](Alert& a) {
         a.clear_recipients();
         a.add_recipients("cesnet.cz");
         auto* k = a.mutable_sealed()->mutable_keys();
         k->DeleteSubrange(1, 2);
       }},
      {"add-recipient-member", "nask.pl added to recipients, with a copy of "
       "cesnet.cz/prg2's wrapped key as nask.pl/waw1", "open",
       "cesnet.cz/prg2", "0", "DATA_LOSS", prg2 + auth,
       [](Alert& a) {
         a.clear_recipients();
         for (const char* m : {"cesnet.cz", "nask.pl", "sidn.nl"}) {
           a.add_recipients(m);
         }
         auto* k = a.mutable_sealed()->mutable_keys();
         watchfloor::v1::WrappedKey copy = (*k)[0];
         copy.set_node("nask.pl/waw1");
         *k->Add() = copy;
         std::rotate(k->begin() + 1, k->end() - 1, k->end());
       }},
      {"drop-wrapped-key", "sidn.nl/ams1's wrapped key removed", "open",
       "sidn.nl/ams1", "0", "PERMISSION_DENIED",
       "node sidn.nl/ams1 is not a recipient of this sealed alert "
       "(recipients: cesnet.cz, sidn.nl)",
       [](Alert& a) { a.mutable_sealed()->mutable_keys()->DeleteSubrange(1, 1); }},
      {"move-ciphertext", "nonce and ciphertext of the next alert (sequence 8, "
       "same recipients and keys) moved into this one", "open",
       "cesnet.cz/prg2", "0", "DATA_LOSS",
       "sealed.ciphertext does not authenticate",
       [other](Alert& a) {
         a.mutable_sealed()->set_ciphertext(other.sealed().ciphertext());
         a.mutable_sealed()->set_nonce(other.sealed().nonce());
       }},
      {"move-sealed", "the whole sealed part of the next alert (sequence 8) "
       "moved into this one", "open", "cesnet.cz/prg2", "0", "DATA_LOSS",
       prg2 + auth,
       [other](Alert& a) { *a.mutable_sealed() = other.sealed(); }},
      {"not-a-recipient", "a node of a member not in recipients", "open",
       "nask.pl/waw1", "0", "PERMISSION_DENIED",
       "node nask.pl/waw1 is not a recipient of this sealed alert "
       "(recipients: cesnet.cz, sidn.nl)",
       [](Alert&) {}},
      {"key-not-configured", "a recipient node without the epoch-3 key",
       "open", "sidn.nl/ams2", "none", "FAILED_PRECONDITION",
       "node sidn.nl/ams2 is a recipient of this sealed alert but has no "
       "private encryption key for key epoch 3 (never configured, or erased "
       "after its retention), so it cannot be opened here",
       [](Alert&) {}},
      {"wrong-key-for-epoch", "cesnet.cz/prg2 configured with another node's "
       "key for epoch 0", "open", "cesnet.cz/prg2", "wrong", "DATA_LOSS",
       prg2 + auth, [](Alert&) {}},
      {"inner-sets-origin", "an authenticated inner alert that sets origin",
       "open", "cesnet.cz/prg2", "0", "INVALID_ARGUMENT",
       "inner alert sets origin; in a sealed alert the header is only in the "
       "outer alert",
       [&v](Alert& a) {
         Alert inner;
         inner.set_origin("nic.cz/prg1");
         inner.set_title("x");
         ReplaceInner(v, a, inner.SerializeAsString());
       }},
      {"inner-not-an-alert", "an authenticated inner that is not an Alert",
       "open", "cesnet.cz/prg2", "0", "DATA_LOSS",
       "sealed.ciphertext authenticates but does not hold an Alert",
       [&v](Alert& a) { ReplaceInner(v, a, std::string("\xff\xff\xff", 3)); }},
  };
  return c;
}

// Structural cases: ValidateSealedShape's exact INVALID_ARGUMENT messages.
std::vector<Case> ShapeCases() {
  auto shape = [](std::string name, std::string description,
                  std::string message, std::function<void(Alert&)> mutate) {
    return Case{std::move(name), std::move(description), "shape", "", "",
                "INVALID_ARGUMENT", std::move(message), std::move(mutate)};
  };
  Case ok = shape("shape-ok", "untampered", "", [](Alert&) {});
  ok.status = "OK";
  return {
      ok,
      shape("shape-clear-tlp-with-sealed", "tlp changed to AMBER",
            "sealed is set but tlp is TLP_AMBER; only TLP_AMBER_STRICT and "
            "TLP_RED alerts are sealed",
            [](Alert& a) { a.set_tlp(watchfloor::v1::TLP_AMBER); }),
      shape("shape-red-without-sealed", "sealed removed",
            "tlp TLP_RED requires sealed; an alert with this TLP travels only "
            "sealed to its recipients",
            [](Alert& a) { a.clear_sealed(); }),
      shape("shape-no-recipients", "recipients removed",
            "recipients is empty; a TLP_RED alert names at least one "
            "recipient member",
            [](Alert& a) { a.clear_recipients(); }),
      shape("shape-recipients-unsorted", "recipients in the wrong order",
            "recipients[1] \"cesnet.cz\" is not after recipients[0] "
            "\"sidn.nl\"; recipients must be sorted, each once",
            [](Alert& a) { a.mutable_recipients()->SwapElements(0, 1); }),
      shape("shape-recipients-duplicate", "a recipient listed twice",
            "recipients[2] \"sidn.nl\" is not after recipients[1] "
            "\"sidn.nl\"; recipients must be sorted, each once",
            [](Alert& a) { a.add_recipients("sidn.nl"); }),
      shape("shape-recipient-bad-name", "a recipient name with capitals",
            "recipients[0]: name \"CESNET.cz\" is invalid: must be lowercase "
            "DNS labels of [a-z0-9-], e.g. nic.cz",
            [](Alert& a) { a.set_recipients(0, "CESNET.cz"); }),
      shape("shape-outer-sets-title", "a content field in clear",
            "outer alert sets title; in a sealed alert it belongs inside "
            "sealed.ciphertext",
            [](Alert& a) { a.set_title("leaked in clear"); }),
      shape("shape-nonce-short", "11-byte nonce",
            "sealed.nonce must be 12 bytes, got 11",
            [](Alert& a) { a.mutable_sealed()->mutable_nonce()->pop_back(); }),
      shape("shape-ciphertext-short", "ciphertext shorter than a tag",
            "sealed.ciphertext is 15 bytes, shorter than the 16-byte tag",
            [](Alert& a) { a.mutable_sealed()->mutable_ciphertext()->resize(15); }),
      shape("shape-no-keys", "every wrapped key removed",
            "sealed.keys is empty",
            [](Alert& a) { a.mutable_sealed()->clear_keys(); }),
      shape("shape-enc-short", "31-byte enc",
            "sealed.keys[0].enc must be 32 bytes, got 31",
            [](Alert& a) {
              a.mutable_sealed()->mutable_keys(0)->mutable_enc()->pop_back();
            }),
      shape("shape-wrapped-key-long", "49-byte wrapped key",
            "sealed.keys[2].wrapped_key must be 48 bytes, got 49",
            [](Alert& a) {
              a.mutable_sealed()->mutable_keys(2)->mutable_wrapped_key()->push_back('x');
            }),
      shape("shape-keys-unsorted", "wrapped keys out of order",
            "sealed.keys[1] (cesnet.cz/prg2, epoch 0) is not after "
            "sealed.keys[0] (sidn.nl/ams1, epoch 0); keys must be sorted by "
            "node then key_epoch, each pair once",
            [](Alert& a) { a.mutable_sealed()->mutable_keys()->SwapElements(0, 1); }),
      shape("shape-key-duplicate", "a wrapped key listed twice",
            "sealed.keys[1] (cesnet.cz/prg2, epoch 0) is not after "
            "sealed.keys[0] (cesnet.cz/prg2, epoch 0); keys must be sorted "
            "by node then key_epoch, each pair once",
            [](Alert& a) {
              auto* k = a.mutable_sealed()->mutable_keys();
              *k->Add() = (*k)[0];
              std::rotate(k->begin() + 1, k->end() - 1, k->end());
            }),
      shape("shape-key-node-not-recipient", "a wrapped key for a node of a "
            "member not in recipients",
            "sealed.keys[3].node \"nask.pl/waw1\": member nask.pl is not in "
            "recipients",
            [](Alert& a) {
              auto* k = a.mutable_sealed()->add_keys();
              *k = a.sealed().keys(0);
              k->set_node("nask.pl/waw1");
            }),
      shape("shape-key-node-bad-name", "a wrapped key whose node is not "
            "member/node",
            "sealed.keys[0].node: origin \"cesnet.cz\" is invalid: must be "
            "member/node, e.g. nic.cz/prg1",
            [](Alert& a) {
              a.mutable_sealed()->mutable_keys(0)->set_node("cesnet.cz");
            }),
      shape("shape-member-without-key", "cesnet.cz's only wrapped key removed",
            "recipients[0] \"cesnet.cz\" has no node key in sealed.keys",
            [](Alert& a) { a.mutable_sealed()->mutable_keys()->DeleteSubrange(0, 1); }),
  };
}

}  // namespace
}  // namespace watchfloor::certs

int main(int argc, char** argv) {
  using namespace watchfloor::certs;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <source dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = std::string(argv[1]) + "/tests/testdata/sealed";
  mkdir(dir.c_str(), 0755);
  const Vector v = MakeVector();
  WrapContexts contexts;
  const Alert base = Seal(v, v.secrets, FullAlert(7), contexts);
  const Alert other = Seal(v, v.second_secrets, FullAlert(8), contexts);
  WriteVector(dir, v, base, other);
  for (const Case& c : Cases(v, other)) WriteCase(dir, base, c);
  for (const Case& c : ShapeCases()) WriteCase(dir, base, c);
  return 0;
}
