// Orderings that gRPC guarantees but ThreadSanitizer cannot see.
//
// A reactor's StartWrite() happens before its OnWriteDone(), and every
// operation before its OnDone(); gRPC provides that through its completion
// queues, which live in Debian's uninstrumented libgrpc. In a TSan build
// (scripts/test.sh --tsan) these say so to TSan; elsewhere they compile to
// nothing. tests/tsan/README.md.
//
//   HappensBefore(this);  // before StartWrite / Finish
//   HappensAfter(this);   // first thing in OnWriteDone / OnDone
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

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_HAPPENS_BEFORE_H_
