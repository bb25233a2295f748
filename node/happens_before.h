// Orderings that gRPC guarantees but ThreadSanitizer cannot see.
//
// A reactor's StartWrite() happens before its OnWriteDone(), and every
// operation before its OnDone(); gRPC provides that through its completion
// queues, which live in Debian's uninstrumented libgrpc. In a TSan build
// (scripts/test.sh --tsan) these say so to TSan; elsewhere they compile to
// nothing. tests/tsan/README.md.
//
//   HappensBefore(this);                    // before StartWrite / Finish
//   const ReactionScope reaction(this);     // first thing in OnWriteDone
//   HappensAfter(this);                     // first thing in OnDone
//
// gRPC runs OnDone after every other reaction has returned, so a reaction's
// end (ReactionScope) happens before OnDone.
#ifndef WATCHFLOOR_NODE_HAPPENS_BEFORE_H_
#define WATCHFLOOR_NODE_HAPPENS_BEFORE_H_

#if defined(__SANITIZE_THREAD__)
#define WATCHFLOOR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WATCHFLOOR_TSAN 1
#endif
#endif

#ifdef WATCHFLOOR_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace watchfloor::node {

inline void HappensBefore(const void* addr) {
#ifdef WATCHFLOOR_TSAN
  __tsan_release(const_cast<void*>(addr));
#else
  (void)addr;
#endif
}

inline void HappensAfter(const void* addr) {
#ifdef WATCHFLOOR_TSAN
  __tsan_acquire(const_cast<void*>(addr));
#else
  (void)addr;
#endif
}

// HappensAfter(reactor) on entry, HappensBefore(reactor) on exit: for a
// reaction gRPC runs (OnWriteDone), never for one the application runs.
class ReactionScope {
 public:
  explicit ReactionScope(const void* reactor) : reactor_(reactor) { HappensAfter(reactor_); }
  ~ReactionScope() { HappensBefore(reactor_); }
  ReactionScope(const ReactionScope&) = delete;
  ReactionScope& operator=(const ReactionScope&) = delete;

 private:
  const void* const reactor_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_HAPPENS_BEFORE_H_
