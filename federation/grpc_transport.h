// The production Transport: one gRPC channel per peer (in the node, mutual
// TLS to the peer's Federation service; docs/FEDERATION.md).
#ifndef WATCHFLOOR_FEDERATION_GRPC_TRANSPORT_H_
#define WATCHFLOOR_FEDERATION_GRPC_TRANSPORT_H_

#include <functional>
#include <memory>

#include "federation/transport.h"
#include "grpcpp/channel.h"

namespace watchfloor::federation {

// Makes the channel to a peer (mutual TLS in the node). Called once per
// link; must be thread-safe.
using ChannelFactory =
    std::function<std::shared_ptr<grpc::Channel>(const Peer& peer)>;

// A Transport that calls each peer's Federation service over the channel
// `channels` makes for it. A call's status is the gRPC status, code for
// code.
std::unique_ptr<Transport> MakeGrpcTransport(ChannelFactory channels);

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_GRPC_TRANSPORT_H_
