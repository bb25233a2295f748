// Makes Debian's Abseil synchronisation visible to ThreadSanitizer.
//
// Debian builds libabsl_synchronization without -fsanitize=thread, so the
// happens-before edges of absl::Mutex, absl::CondVar and absl::Notification
// (futexes and atomics inside the library) are invisible to TSan: every
// access that a Mutex orders, in watchfloor code and in the gRPC code built
// on it, looks like a race. This library is LD_PRELOADed into the TSan test
// run (scripts/test.sh --tsan, scripts/sanitizers.sh). It interposes the
// library's out-of-line entry points, tells TSan what each one does with the
// __tsan_mutex_* annotation interface (the one Abseil itself uses when built
// with TSan), and calls the real function, found with dlsym(RTLD_NEXT).
//
// It only adds edges that the real primitives provide; it never hides an
// access. A report that remains is about memory that no Abseil primitive
// orders.
//
// The TSan entry points are weak: a process without the TSan runtime (a
// Python or shell helper a test starts inherits LD_PRELOAD) loads this
// library and forwards every call unchanged.
#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpc/grpc.h"

extern "C" {
void __tsan_mutex_pre_lock(void* addr, unsigned flags) __attribute__((weak));
void __tsan_mutex_post_lock(void* addr, unsigned flags, int recursion) __attribute__((weak));
int __tsan_mutex_pre_unlock(void* addr, unsigned flags) __attribute__((weak));
void __tsan_mutex_post_unlock(void* addr, unsigned flags) __attribute__((weak));
void __tsan_acquire(void* addr) __attribute__((weak));
void __tsan_release(void* addr) __attribute__((weak));
}

namespace {

// Flags of the annotation interface (compiler-rt's tsan_interface.h).
constexpr unsigned kReadLock = 1 << 3;
constexpr unsigned kTryLock = 1 << 4;
constexpr unsigned kTryLockFailed = 1 << 5;

// The real function named by `mangled`, or abort with its name: a missing
// symbol means a different Abseil than the one this was written for.
void* Real(const char* mangled) {
  void* f = dlsym(RTLD_NEXT, mangled);
  if (f == nullptr) {
    std::fprintf(stderr, "absl_sync_annotations: no %s after this library: %s\n", mangled,
                 dlerror());
    std::abort();
  }
  return f;
}

// REAL(type, "mangled") resolves once per call site.
#define REAL(type, mangled)                                      \
  ([]() {                                                        \
    static const auto f = reinterpret_cast<type>(Real(mangled)); \
    return f;                                                    \
  }())

// Depth of wrapper calls on this thread. Only the outermost call annotates:
// the library calls its own entry points through the PLT (AwaitWithTimeout
// calls AwaitWithDeadline, Notify locks its Mutex), and those land here too.
thread_local int depth = 0;

// Where this thread is in the annotation of its outermost call. A Condition
// is evaluated inside the library while the Mutex is really held, by the
// waiter (in LockWhen, Await) or by a thread unlocking (which evaluates the
// waiters' conditions); what TSan has been told at that moment differs.
enum class Phase {
  kNone,       // not between the pre and post annotations of a lock/unlock
  kLocking,    // between pre_lock and post_lock
  kUnlocking,  // between pre_unlock and post_unlock
};
thread_local Phase phase = Phase::kNone;
thread_local unsigned phase_flags = 0;

bool HaveTsan() { return __tsan_mutex_pre_lock != nullptr; }
bool Tsan() { return HaveTsan() && depth == 1; }

// Marks a wrapper call for the duration of a scope.
class Outer {
 public:
  Outer() { ++depth; }
  ~Outer() { --depth; }
  Outer(const Outer&) = delete;
  Outer& operator=(const Outer&) = delete;
  bool outermost() const { return depth == 1; }
};

void PreLock(void* mu, unsigned flags) {
  if (!Tsan()) return;
  __tsan_mutex_pre_lock(mu, flags);
  phase = Phase::kLocking;
  phase_flags = flags;
}
void PostLock(void* mu, unsigned flags) {
  if (!Tsan()) return;
  phase = Phase::kNone;
  __tsan_mutex_post_lock(mu, flags, 0);
}
void PreUnlock(void* mu, unsigned flags) {
  if (!Tsan()) return;
  __tsan_mutex_pre_unlock(mu, flags);
  phase = Phase::kUnlocking;
  phase_flags = flags;
}
void PostUnlock(void* mu, unsigned flags) {
  if (!Tsan()) return;
  phase = Phase::kNone;
  __tsan_mutex_post_unlock(mu, flags);
}
// A wait that releases `mu` and holds it again on return (CondVar::Wait,
// Mutex::Await): TSan sees an unlock before and a lock after.
void ReleaseForWait(void* mu) {
  PreUnlock(mu, 0);
  PostUnlock(mu, 0);
}
void AcquireAfterWait(void* mu) {
  PreLock(mu, 0);
  PostLock(mu, 0);
}

// The Condition handed to the library in place of the caller's: evaluates
// the caller's with TSan told that `mu` is held around it (the dance Abseil
// does itself in EvalConditionAnnotated when it is built with TSan), from
// whichever phase the evaluating thread is in.
struct Guarded {
  const absl::Condition* cond;
  absl::Mutex* mu;
};

bool EvalGuarded(void* arg) {
  const Guarded* g = static_cast<const Guarded*>(arg);
  if (!HaveTsan()) return g->cond->Eval();
  void* mu = g->mu;
  const unsigned f = phase_flags;
  bool r = false;
  switch (phase) {
    case Phase::kLocking:  // finish the lock, evaluate, unlock, lock again
      __tsan_mutex_post_lock(mu, f, 0);
      r = g->cond->Eval();
      __tsan_mutex_pre_unlock(mu, f);
      __tsan_mutex_post_unlock(mu, f);
      __tsan_mutex_pre_lock(mu, f);
      break;
    case Phase::kUnlocking:  // finish the unlock, lock, evaluate, unlock again
      __tsan_mutex_post_unlock(mu, f);
      __tsan_mutex_pre_lock(mu, f);
      __tsan_mutex_post_lock(mu, f, 0);
      r = g->cond->Eval();
      __tsan_mutex_pre_unlock(mu, f);
      break;
    case Phase::kNone:  // released for a wait: a whole critical section
      __tsan_mutex_pre_lock(mu, 0);
      __tsan_mutex_post_lock(mu, 0, 0);
      r = g->cond->Eval();
      __tsan_mutex_pre_unlock(mu, 0);
      __tsan_mutex_post_unlock(mu, 0);
      break;
  }
  return r;
}

// The caller's condition, or, in the outermost call of a TSan process, one
// that annotates around it. Lives in the wrapper's frame for the whole call.
class GuardedCondition {
 public:
  GuardedCondition(const absl::Condition& cond, absl::Mutex* mu, const Outer& outer)
      : guarded_{&cond, mu},
        wrapped_(&EvalGuarded, &guarded_),
        use_(outer.outermost() && HaveTsan() ? &wrapped_ : &cond) {}
  GuardedCondition(const GuardedCondition&) = delete;
  GuardedCondition& operator=(const GuardedCondition&) = delete;
  const absl::Condition& get() const { return *use_; }

 private:
  Guarded guarded_;
  absl::Condition wrapped_;
  const absl::Condition* use_;
};

// Notification's flag: Notify() stores it (inside the library), the inline
// HasBeenNotified() loads it with acquire order in instrumented code.
struct NotificationLayout {
  absl::Mutex mutex;
  std::atomic<bool> notified_yet;
};
static_assert(sizeof(NotificationLayout) == sizeof(absl::Notification),
              "absl::Notification's layout changed");
void* NotifiedFlag(const absl::Notification* n) {
  return const_cast<char*>(reinterpret_cast<const char*>(n)) +
         offsetof(NotificationLayout, notified_yet);
}

using Cond = const absl::Condition&;

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// ------------------------------------------------------------------ Mutex
//
// ~Mutex is not annotated: TSan drops a mutex's state when its memory is
// freed, and a destroy annotation on mutexes inside gRPC's objects (freed
// by whichever thread drops the last reference, ordered by gRPC's own
// uninstrumented reference counts) is itself reported as a race.

void Mutex::Lock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  PreLock(this, 0);
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv")(this);
  PostLock(this, 0);
}

void Mutex::ReaderLock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  PreLock(this, kReadLock);
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv")(this);
  PostLock(this, kReadLock);
}

bool Mutex::TryLock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  PreLock(this, kTryLock);
  const bool ok = REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv")(this);
  PostLock(this, kTryLock | (ok ? 0 : kTryLockFailed));
  return ok;
}

bool Mutex::ReaderTryLock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  PreLock(this, kReadLock | kTryLock);
  const bool ok = REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv")(this);
  PostLock(this, kReadLock | kTryLock | (ok ? 0 : kTryLockFailed));
  return ok;
}

void Mutex::Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  PreUnlock(this, 0);
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv")(this);
  PostUnlock(this, 0);
}

void Mutex::ReaderUnlock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  PreUnlock(this, kReadLock);
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv")(this);
  PostUnlock(this, kReadLock);
}

void Mutex::LockWhen(Cond cond) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  const GuardedCondition guarded(cond, this, outer);
  PreLock(this, 0);
  REAL(void (*)(Mutex*, Cond), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE")(this, guarded.get());
  PostLock(this, 0);
}

void Mutex::ReaderLockWhen(Cond cond) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  const GuardedCondition guarded(cond, this, outer);
  PreLock(this, kReadLock);
  REAL(void (*)(Mutex*, Cond), "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE")(
      this, cond);
  PostLock(this, kReadLock);
}

bool Mutex::LockWhenWithTimeout(Cond cond, Duration timeout) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  const GuardedCondition guarded(cond, this, outer);
  PreLock(this, 0);
  const bool r = REAL(bool (*)(Mutex*, Cond, Duration),
                      "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE")(
      this, guarded.get(), timeout);
  PostLock(this, 0);
  return r;
}

bool Mutex::LockWhenWithDeadline(Cond cond, Time deadline) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Outer outer;
  const GuardedCondition guarded(cond, this, outer);
  PreLock(this, 0);
  const bool r = REAL(bool (*)(Mutex*, Cond, Time),
                      "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE")(
      this, guarded.get(), deadline);
  PostLock(this, 0);
  return r;
}

void Mutex::Await(Cond cond) {
  Outer outer;
  const GuardedCondition guarded(cond, this, outer);
  ReleaseForWait(this);
  REAL(void (*)(Mutex*, Cond), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE")(this, guarded.get());
  AcquireAfterWait(this);
}

bool Mutex::AwaitWithTimeout(Cond cond, Duration timeout) {
  Outer outer;
  const GuardedCondition guarded(cond, this, outer);
  ReleaseForWait(this);
  const bool r = REAL(bool (*)(Mutex*, Cond, Duration),
                      "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE")(
      this, guarded.get(), timeout);
  AcquireAfterWait(this);
  return r;
}

bool Mutex::AwaitWithDeadline(Cond cond, Time deadline) {
  Outer outer;
  const GuardedCondition guarded(cond, this, outer);
  ReleaseForWait(this);
  const bool r = REAL(bool (*)(Mutex*, Cond, Time),
                      "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE")(
      this, guarded.get(), deadline);
  AcquireAfterWait(this);
  return r;
}

// ---------------------------------------------------------------- CondVar

void CondVar::Wait(Mutex* mu) {
  Outer outer;
  ReleaseForWait(mu);
  REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE")(this, mu);
  AcquireAfterWait(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  Outer outer;
  ReleaseForWait(mu);
  const bool r = REAL(bool (*)(CondVar*, Mutex*, Duration),
                      "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE")(
      this, mu, timeout);
  AcquireAfterWait(mu);
  return r;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  Outer outer;
  ReleaseForWait(mu);
  const bool r = REAL(bool (*)(CondVar*, Mutex*, Time),
                      "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE")(
      this, mu, deadline);
  AcquireAfterWait(mu);
  return r;
}

// ----------------------------------------------------------- Notification

void Notification::Notify() {
  Outer outer;
  if (Tsan()) __tsan_release(NotifiedFlag(this));
  REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv")(this);
}

void Notification::WaitForNotification() const {
  Outer outer;
  REAL(void (*)(const Notification*), "_ZNK4absl7debian312Notification19WaitForNotificationEv")(
      this);
  if (Tsan()) __tsan_acquire(NotifiedFlag(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  Outer outer;
  const bool r = REAL(bool (*)(const Notification*, Duration),
                      "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE")(
      this, timeout);
  if (r && Tsan()) __tsan_acquire(NotifiedFlag(this));
  return r;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  Outer outer;
  const bool r = REAL(bool (*)(const Notification*, Time),
                      "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE")(
      this, deadline);
  if (r && Tsan()) __tsan_acquire(NotifiedFlag(this));
  return r;
}

ABSL_NAMESPACE_END
}  // namespace absl

// ------------------------------------------------------------------- gRPC
//
// gRPC orders everything a caller did before starting an operation
// (grpc_call_start_batch, grpc_server_request_*call) before the completion
// of that operation is handed to whoever dequeues its tag. The queue is
// inside the uninstrumented libgrpc; the callback API's completions are
// dequeued by libgrpc++ with grpc_completion_queue_next and run there. The
// tag is the edge: released at the start, acquired when it is dequeued. The
// tag's memory is never touched; small integers used as tags are skipped.

namespace {

bool TagIsAddress(void* tag) { return reinterpret_cast<uintptr_t>(tag) >= 0x10000; }

void ReleaseTag(void* tag) {
  if (HaveTsan() && TagIsAddress(tag)) __tsan_release(tag);
}

void AcquireTag(const grpc_event& ev) {
  if (HaveTsan() && ev.type == GRPC_OP_COMPLETE && TagIsAddress(ev.tag)) __tsan_acquire(ev.tag);
}

}  // namespace

extern "C" {

grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops, void* tag,
                                      void* reserved) {
  ReleaseTag(tag);
  return REAL(grpc_call_error (*)(grpc_call*, const grpc_op*, size_t, void*, void*),
              "grpc_call_start_batch")(call, ops, nops, tag, reserved);
}

grpc_call_error grpc_server_request_call(grpc_server* server, grpc_call** call,
                                         grpc_call_details* details,
                                         grpc_metadata_array* request_metadata,
                                         grpc_completion_queue* cq_bound_to_call,
                                         grpc_completion_queue* cq_for_notification,
                                         void* tag_new) {
  ReleaseTag(tag_new);
  return REAL(grpc_call_error (*)(grpc_server*, grpc_call**, grpc_call_details*,
                                  grpc_metadata_array*, grpc_completion_queue*,
                                  grpc_completion_queue*, void*),
              "grpc_server_request_call")(server, call, details, request_metadata,
                                          cq_bound_to_call, cq_for_notification, tag_new);
}

grpc_call_error grpc_server_request_registered_call(
    grpc_server* server, void* registered_method, grpc_call** call, gpr_timespec* deadline,
    grpc_metadata_array* request_metadata, grpc_byte_buffer** optional_payload,
    grpc_completion_queue* cq_bound_to_call, grpc_completion_queue* cq_for_notification,
    void* tag_new) {
  ReleaseTag(tag_new);
  return REAL(grpc_call_error (*)(grpc_server*, void*, grpc_call**, gpr_timespec*,
                                  grpc_metadata_array*, grpc_byte_buffer**,
                                  grpc_completion_queue*, grpc_completion_queue*, void*),
              "grpc_server_request_registered_call")(server, registered_method, call, deadline,
                                                     request_metadata, optional_payload,
                                                     cq_bound_to_call, cq_for_notification,
                                                     tag_new);
}

grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline,
                                      void* reserved) {
  const grpc_event ev = REAL(grpc_event (*)(grpc_completion_queue*, gpr_timespec, void*),
                             "grpc_completion_queue_next")(cq, deadline, reserved);
  AcquireTag(ev);
  return ev;
}

grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag,
                                       gpr_timespec deadline, void* reserved) {
  const grpc_event ev =
      REAL(grpc_event (*)(grpc_completion_queue*, void*, gpr_timespec, void*),
           "grpc_completion_queue_pluck")(cq, tag, deadline, reserved);
  AcquireTag(ev);
  return ev;
}

}  // extern "C"
