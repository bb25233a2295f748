#include "interop/alert_record.h"

#include "absl/strings/str_cat.h"
#include "certs/ids.h"

namespace watchfloor::interop {

absl::StatusOr<AlertRecord> MakeAlertRecord(absl::string_view id,
                                            const watchfloor::v1::Envelope& envelope) {
  AlertRecord r;
  r.id = std::string(id);
  r.envelope = envelope;
  if (certs::AlertId(envelope.payload()) != id) {
    return absl::DataLossError(absl::StrCat("alert ", id, ": its payload hashes to ",
                                            certs::AlertId(envelope.payload())));
  }
  if (!r.alert.ParseFromString(envelope.payload())) {
    return absl::DataLossError(absl::StrCat("alert ", id, " has an unreadable payload"));
  }
  return r;
}

}  // namespace watchfloor::interop
