#include "tests/roster_fixtures.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace watchfloor::testing {

using certs::kEd25519SeedSize;
using certs::MakeRosterDraft;
using certs::MintMemberCa;
using certs::SignRoster;
using watchfloor::v1::Envelope;

SigningKey SeededKey(char tag) {
  return *SigningKey::FromSeed(std::string(kEd25519SeedSize, tag));
}

const Party& P(int i) {
  static const std::vector<Party>* parties = [] {
    auto* out = new std::vector<Party>();
    const char* names[] = {"a.cz", "b.cz", "c.cz", "d.cz", "e.cz"};
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<KeyAndCert> ca =
          MintMemberCa(names[i], absl::FromUnixSeconds(1577836800),
                       absl::FromUnixSeconds(4733510400));
      if (!ca.ok()) std::abort();
      out->push_back(Party{names[i], SeededKey(static_cast<char>('A' + i)),
                           *std::move(ca), SeededKey(static_cast<char>('a' + i))});
    }
    return out;
  }();
  return (*parties)[i];
}

const SigningKey& Outsider() {
  static const SigningKey* key = new SigningKey(SeededKey('z'));
  return *key;
}

std::string Short(const Party& p) {
  return absl::StrCat(p.member_key.public_key().KeyId().substr(0, 16), "...");
}

v1::RosterMember MemberOf(const Party& p) {
  v1::RosterMember m;
  m.set_name(p.name);
  m.set_member_key_pem(p.member_key.public_key().ToPem());
  m.set_ca_cert_pem(p.ca.cert_pem);
  v1::RosterNode* n = m.add_nodes();
  n->set_origin(p.name + "/n1");
  n->set_signing_key_pem(p.node_key.public_key().ToPem());
  n->add_endpoints(absl::StrCat("n1.", p.name, ":7443"));
  return m;
}

v1::Roster MakeRoster(uint64_t version, uint32_t threshold,
                      std::initializer_list<int> members,
                      const std::string& federation) {
  v1::Roster r;
  r.set_federation(federation);
  r.set_version(version);
  r.set_threshold(threshold);
  r.mutable_issued_at()->set_seconds(1798761600 + static_cast<int64_t>(version));
  for (int i : members) *r.add_members() = MemberOf(P(i));
  return r;
}

Envelope SignWith(Envelope env, const SigningKey& key) {
  absl::StatusOr<Envelope> out = SignRoster(env, key);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : env;
}

Envelope SignedBy(const v1::Roster& roster, std::initializer_list<int> signers) {
  absl::StatusOr<Envelope> env = MakeRosterDraft(roster);
  EXPECT_TRUE(env.ok()) << env.status();
  if (!env.ok()) return Envelope();
  Envelope out = *env;
  for (int i : signers) out = SignWith(out, P(i).member_key);
  return out;
}

Roster Genesis(const v1::Roster& roster, std::initializer_list<int> signers) {
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(SignedBy(roster, signers));
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    std::abort();
  }
  return *std::move(r);
}

}  // namespace watchfloor::testing
