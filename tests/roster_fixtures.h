// Roster test fixtures shared by roster_test, roster_rules_test and
// roster_chain_test: five would-be members a.cz .. e.cz with deterministic
// member and node keys (seeded, so signed test vectors keep their keyids),
// long-lived CAs, and helpers that build, sign and verify rosters.
#ifndef WATCHFLOOR_TESTS_ROSTER_FIXTURES_H_
#define WATCHFLOOR_TESTS_ROSTER_FIXTURES_H_

#include <cstdint>
#include <initializer_list>
#include <string>

#include "certs/keys.h"
#include "certs/roster.h"
#include "certs/x509.h"
#include "watchfloor/v1/alert.pb.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::testing {

using certs::KeyAndCert;
using certs::Roster;
using certs::SigningKey;

// A would-be member: roster-signing key, TLS CA, one node key.
struct Party {
  std::string name;
  SigningKey member_key;
  KeyAndCert ca;
  SigningKey node_key;
};

// A deterministic Ed25519 key (seed = tag repeated).
SigningKey SeededKey(char tag);
// Party i (0..4): a.cz .. e.cz, member key seed 'A'+i, node key 'a'+i, CAs
// valid 2020..2120 (roster checks never read a clock). Built once.
const Party& P(int i);
// A key that is in no roster.
const SigningKey& Outsider();
// The first 16 hex digits of a party's member keyid and "...", as messages
// show it.
std::string Short(const Party& p);

// Party p as a roster member with one node "<name>/n1".
watchfloor::v1::RosterMember MemberOf(const Party& p);
// A roster of federation `federation` with the given parties.
watchfloor::v1::Roster MakeRoster(uint64_t version, uint32_t threshold,
                                  std::initializer_list<int> members,
                                  const std::string& federation = "dns-cert");
// `env` with a signature by `key` added (a test failure if SignRoster fails).
watchfloor::v1::Envelope SignWith(watchfloor::v1::Envelope env, const SigningKey& key);
// A draft of `roster` signed by the member keys of the given parties.
watchfloor::v1::Envelope SignedBy(const watchfloor::v1::Roster& roster,
                                  std::initializer_list<int> signers);
// A verified trust anchor; aborts the test binary if it does not verify.
Roster Genesis(const watchfloor::v1::Roster& roster,
               std::initializer_list<int> signers);

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_ROSTER_FIXTURES_H_
