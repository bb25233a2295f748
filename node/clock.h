// The node's injected time: the same Clock and FakeClock as the gossip
// engine's (federation/clock.h), named here for node code.
#ifndef WATCHFLOOR_NODE_CLOCK_H_
#define WATCHFLOOR_NODE_CLOCK_H_

#include "federation/clock.h"

namespace watchfloor::node {

using federation::Clock;
using federation::FakeClock;

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_CLOCK_H_
