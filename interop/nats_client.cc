#include "interop/nats_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace watchfloor::interop {
namespace {

int Millis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d) + 1, 1 << 30));
}

}  // namespace

absl::StatusOr<NatsUrl> ParseNatsUrl(absl::string_view url) {
  absl::string_view rest = url;
  absl::ConsumePrefix(&rest, "nats://");
  NatsUrl out;
  size_t colon = rest.rfind(':');
  out.host = std::string(rest.substr(0, colon));
  if (colon != absl::string_view::npos &&
      (!absl::SimpleAtoi(rest.substr(colon + 1), &out.port) || out.port <= 0 ||
       out.port > 65535)) {
    out.host.clear();
  }
  if (out.host.empty() || absl::StrContains(rest, '@') || absl::StrContains(rest, '/') ||
      absl::StrContains(url, "://") != absl::StartsWith(url, "nats://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--url \"", url, "\" is not a NATS URL like nats://127.0.0.1:4222 (TLS and "
        "credentials are not supported)"));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<NatsConnection>> NatsConnection::Connect(const NatsUrl& url,
                                                                       absl::Duration timeout) {
  const std::string address = absl::StrCat(url.host, ":", url.port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res) != 0 ||
      res == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve NATS server ", address));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = fd < 0 ? -1 : connect(fd, res->ai_addr, res->ai_addrlen);
  const int err = errno;
  freeaddrinfo(res);
  if (rc != 0) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to NATS server ", address, ": ",
                                               std::strerror(err),
                                               "; is nats-server running there?"));
  }
  // Small publishes must leave at once: Nagle plus the server's delayed ACK
  // would hold each partial batch for up to 40 ms.
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::unique_ptr<NatsConnection> c(new NatsConnection(fd));
  c->address_ = address;
  std::random_device rd;
  c->inbox_prefix_ = absl::StrCat("_INBOX.", absl::Hex(rd(), absl::kZeroPad8),
                                  absl::Hex(rd(), absl::kZeroPad8));
  absl::StatusOr<std::string> info = c->ReadLine(timeout);
  if (!info.ok()) return info.status();
  if (!absl::StartsWith(*info, "INFO ")) {
    return absl::FailedPreconditionError(
        absl::StrCat(address, " is not a NATS server (it said \"", info->substr(0, 40), "\")"));
  }
  if (!absl::StrContains(*info, "\"headers\":true")) {
    return absl::FailedPreconditionError(
        absl::StrCat("NATS server ", address, " lacks header support; use nats-server >= 2.2"));
  }
  c->out_ =
      "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,"
      "\"name\":\"watchfloor\",\"lang\":\"c++\",\"version\":\"1\",\"protocol\":1}\r\nPING\r\n";
  if (absl::Status st = c->Flush(); !st.ok()) return st;
  while (true) {
    absl::StatusOr<std::string> line = c->ReadLine(timeout);
    if (!line.ok()) return line.status();
    if (*line == "PONG") break;
    if (absl::StartsWith(*line, "-ERR")) {
      return absl::FailedPreconditionError(
          absl::StrCat("NATS server ", address, " refused the connection: ", *line));
    }
  }
  return c;
}

NatsConnection::~NatsConnection() { close(fd_); }

absl::StatusOr<std::string> NatsConnection::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    size_t eol = in_.find("\r\n");
    if (eol != std::string::npos) {
      std::string line = in_.substr(0, eol);
      in_.erase(0, eol + 2);
      return line;
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("NATS server ", address_, " did not answer in time"));
    }
    if (absl::Status st = Receive(deadline - absl::Now()); !st.ok()) return st;
  }
}

void NatsConnection::Subscribe(absl::string_view subject, absl::string_view sid) {
  absl::StrAppend(&out_, "SUB ", subject, " ", sid, "\r\n");
}

void AppendPublishFrame(absl::string_view subject, absl::string_view reply,
                        absl::string_view msg_id, absl::string_view payload, std::string* frame) {
  absl::string_view space = reply.empty() ? "" : " ";
  if (msg_id.empty()) {
    absl::StrAppend(frame, "PUB ", subject, " ", reply, space, payload.size(), "\r\n", payload,
                    "\r\n");
    return;
  }
  constexpr absl::string_view kHead = "NATS/1.0\r\nNats-Msg-Id: ";
  constexpr absl::string_view kTail = "\r\n\r\n";
  const size_t headers = kHead.size() + msg_id.size() + kTail.size();
  absl::StrAppend(frame, "HPUB ", subject, " ", reply, space, headers, " ",
                  headers + payload.size(), "\r\n", kHead, msg_id, kTail);
  absl::StrAppend(frame, payload, "\r\n");
}

void NatsConnection::Publish(absl::string_view subject, absl::string_view reply,
                             absl::string_view msg_id, absl::string_view payload) {
  AppendPublishFrame(subject, reply, msg_id, payload, &out_);
}

absl::Status NatsConnection::Flush() {
  size_t off = 0;
  while (off < out_.size()) {
    ssize_t n = send(fd_, out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("lost the connection to NATS server ",
                                                 address_, ": ", std::strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  out_.clear();
  return absl::OkStatus();
}

absl::Status NatsConnection::Receive(absl::Duration timeout) {
  pollfd p{fd_, POLLIN, 0};
  int rc = poll(&p, 1, Millis(timeout));
  if (rc <= 0) return absl::OkStatus();
  char buf[65536];
  ssize_t n = recv(fd_, buf, sizeof(buf), 0);
  if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
    return absl::UnavailableError(
        absl::StrCat("NATS server ", address_, " closed the connection"));
  }
  if (n > 0) {
    // Drop what Pop consumed here, once per read: erasing per message would
    // copy the rest of the buffer for every ack.
    in_.erase(0, in_pos_);
    in_pos_ = 0;
    in_.append(buf, static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> NatsConnection::Pop(NatsMessage* msg) {
  while (true) {
    size_t eol = in_.find("\r\n", in_pos_);
    if (eol == std::string::npos) return false;
    absl::string_view line(in_.data() + in_pos_, eol - in_pos_);
    const size_t body = eol + 2;
    if (line == "PING") {
      in_pos_ = body;
      out_ += "PONG\r\n";
      if (absl::Status st = Flush(); !st.ok()) return st;
      continue;
    }
    if (line == "PONG" || line == "+OK" || absl::StartsWith(line, "INFO ")) {
      in_pos_ = body;
      continue;
    }
    if (absl::StartsWith(line, "-ERR")) {
      return absl::FailedPreconditionError(
          absl::StrCat("NATS server ", address_, " reported ", line));
    }
    const bool hmsg = absl::StartsWith(line, "HMSG ");
    if (!hmsg && !absl::StartsWith(line, "MSG ")) {
      return absl::DataLossError(absl::StrCat("NATS server ", address_,
                                              " sent an unexpected line: ", line.substr(0, 60)));
    }
    // Split by hand into at most 6 fields: this runs once per JetStream ack.
    absl::string_view f[6];
    size_t nf = 0;
    for (size_t i = 0; i < line.size() && nf < 7;) {
      if (line[i] == ' ') {
        ++i;
        continue;
      }
      size_t j = line.find(' ', i);
      if (j == absl::string_view::npos) j = line.size();
      if (nf == 6) {
        nf = 7;  // too many
        break;
      }
      f[nf++] = line.substr(i, j - i);
      i = j;
    }
    const size_t want = hmsg ? 5 : 4;
    if (nf != want && nf != want + 1) {
      return absl::DataLossError(absl::StrCat("malformed NATS message line: ", line));
    }
    size_t hdr_len = 0, total = 0;
    if (!absl::SimpleAtoi(f[nf - 1], &total) ||
        (hmsg && !absl::SimpleAtoi(f[nf - 2], &hdr_len)) || hdr_len > total) {
      return absl::DataLossError(absl::StrCat("malformed NATS message line: ", line));
    }
    if (in_.size() < body + total + 2) return false;  // wait for the body
    msg->subject.assign(f[1].data(), f[1].size());
    msg->sid.assign(f[2].data(), f[2].size());
    if (nf == want + 1) {
      msg->reply.assign(f[3].data(), f[3].size());
    } else {
      msg->reply.clear();
    }
    msg->headers.assign(in_, body, hdr_len);
    msg->payload.assign(in_, body + hdr_len, total - hdr_len);
    msg->status = 0;
    if (absl::StartsWith(msg->headers, "NATS/1.0 ")) {
      int code = 0;
      if (absl::SimpleAtoi(absl::string_view(msg->headers).substr(9, 3), &code)) msg->status = code;
    }
    in_pos_ = body + total + 2;
    return true;
  }
}

absl::StatusOr<NatsMessage> NatsConnection::Next(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  NatsMessage msg;
  while (true) {
    absl::StatusOr<bool> got = Pop(&msg);
    if (!got.ok()) return got.status();
    if (*got) return msg;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("no answer from NATS server ", address_, " in time"));
    }
    if (absl::Status st = Receive(deadline - absl::Now()); !st.ok()) return st;
  }
}

absl::StatusOr<NatsMessage> NatsConnection::Request(absl::string_view subject,
                                                    absl::string_view payload,
                                                    absl::Duration timeout) {
  if (!request_sub_) {
    Subscribe(absl::StrCat(inbox_prefix_, ".req.*"), "wfreq");
    request_sub_ = true;
  }
  const std::string inbox = absl::StrCat(inbox_prefix_, ".req.", ++request_seq_);
  Publish(subject, inbox, "", payload);
  if (absl::Status st = Flush(); !st.ok()) return st;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<NatsMessage> m = Next(deadline - absl::Now());
    if (!m.ok()) return m.status();
    if (m->subject == inbox) return m;
  }
}

}  // namespace watchfloor::interop
