// An alert as the interop formats see it: its id, the signed envelope and the
// parsed payload.
#ifndef WATCHFLOOR_INTEROP_ALERT_RECORD_H_
#define WATCHFLOOR_INTEROP_ALERT_RECORD_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::interop {

struct AlertRecord {
  std::string id;  // lowercase hex AlertId(envelope.payload())
  watchfloor::v1::Envelope envelope;
  watchfloor::v1::Alert alert;  // parsed from envelope.payload()
};

// Parses the payload and checks that `id` is its AlertId. DATA_LOSS naming
// the id if the payload does not parse or hashes to another id (a node must
// never send that). Does not verify the signature (the formats carry the
// envelope so that the receiver can).
absl::StatusOr<AlertRecord> MakeAlertRecord(absl::string_view id,
                                            const watchfloor::v1::Envelope& envelope);

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_ALERT_RECORD_H_
