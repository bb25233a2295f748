// Early-return helpers for absl::Status. Debian's Abseil (20220623) ships no
// status macros, so this is the one place they are defined.
#ifndef WATCHFLOOR_CERTS_STATUS_MACROS_H_
#define WATCHFLOOR_CERTS_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WF_CONCAT_INNER_(a, b) a##b
#define WF_CONCAT_(a, b) WF_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define WF_RETURN_IF_ERROR(expr)                      \
  do {                                                \
    ::absl::Status wf_status_ = (expr);               \
    if (!wf_status_.ok()) return wf_status_;          \
  } while (0)

// `WF_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a StatusOr, or
// returns its status from the enclosing function.
#define WF_ASSIGN_OR_RETURN(lhs, expr) \
  WF_ASSIGN_OR_RETURN_IMPL_(WF_CONCAT_(wf_statusor_, __LINE__), lhs, expr)
#define WF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()

#endif  // WATCHFLOOR_CERTS_STATUS_MACROS_H_
