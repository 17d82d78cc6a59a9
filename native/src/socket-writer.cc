// SocketWriter: sends one connection's output from a thread of its own, in the order it was
// given. Each piece is some bytes (copied on the call, so the caller may reuse its buffer at
// once), optionally followed by a range of a host file or a run of zeros. File ranges go by
// sendfile(2): page-cache pages reach the socket without a copy through user space (on a unix
// socket, since Linux 6.5, without any copy until the peer reads them). The NBD server hands
// its replies here, so a read reply costs the event loop one call, no buffer and no copy.
//
// The thread writes to a dup of the socket's fd and waits for room with poll(2), so nothing
// here blocks the event loop and a slow peer only stalls this thread. The caller bounds what
// it queues (send() returns the queued cost: bytes plus a fixed charge per piece) and asks
// notifyBelow(limit) for one 'below' event once the queue has drained to the limit. A failed
// send (the peer went away, a file read error after a header was sent) ends the thread and
// is reported as one 'error' event: the stream cannot be trusted after it. close() stops the
// thread at once; what was queued and not sent is dropped.
#include "addon.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tsemu {
namespace {

// What one queued piece costs beyond its bytes: bounds the queue's memory when a peer asks
// for many tiny replies and reads none of them.
constexpr uint64_t kPieceCost = 128;
constexpr size_t kMaxIov = 64;
constexpr size_t kZeroChunk = 64 << 10;
const char kZeros[kZeroChunk] = {};

struct Piece {
  std::string bytes;
  int fd = -1;  // the range's file; -1: `length` zeros
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t cost() const { return bytes.size() + length + kPieceCost; }
};

struct Event {
  const char* kind;  // "below", "error", "closed"
  std::string message;
};

void CallJs(Napi::Env env, Napi::Function fn, std::nullptr_t*, Event* ev) {
  std::unique_ptr<Event> e(ev);
  if (env == nullptr || fn.IsEmpty()) return;
  fn.Call({Napi::String::New(env, e->kind), Napi::String::New(env, e->message)});
}

using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Event, CallJs>;

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Piece> queue;
  uint64_t queued = 0;       // cost of what is queued or being sent
  int64_t notifyBelow = -1;  // one 'below' event when queued <= this; -1: none asked
  bool closing = false;
  bool failed = false;
  int sock = -1;  // our dup of the socket
  int wake = -1;  // eventfd: breaks the thread's poll on close()
  Tsfn tsfn;

  ~Shared() {
    if (sock >= 0) ::close(sock);
    if (wake >= 0) ::close(wake);
  }
};

class Sender {
 public:
  explicit Sender(Shared* s) : s_(s) {}

  // Sends all of iov[0..n); false on failure (err_ set) or close.
  bool SendAll(struct iovec* iov, size_t n) {
    while (n) {
      struct msghdr m = {};
      m.msg_iov = iov;
      m.msg_iovlen = n;
      ssize_t w = sendmsg(s_->sock, &m, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN && WaitWritable()) continue;
        return Fail("send", errno);
      }
      size_t left = static_cast<size_t>(w);
      while (n && left >= iov->iov_len) {
        left -= iov->iov_len;
        iov++;
        n--;
      }
      if (n) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
    return true;
  }

  bool SendZeros(uint64_t length) {
    struct iovec iov[kMaxIov];
    while (length) {
      size_t n = 0;
      for (; n < kMaxIov && length; n++) {
        size_t k = length < kZeroChunk ? static_cast<size_t>(length) : kZeroChunk;
        iov[n] = {const_cast<char*>(kZeros), k};
        length -= k;
      }
      if (!SendAll(iov, n)) return false;
    }
    return true;
  }

  bool SendRange(const Piece& p) {
    if (p.fd < 0) return SendZeros(p.length);
    off_t at = static_cast<off_t>(p.offset);
    uint64_t left = p.length;
    while (left) {
      size_t n = left < (1u << 30) ? static_cast<size_t>(left) : (1u << 30);
      ssize_t w = sendfile(s_->sock, p.fd, &at, n);
      if (w > 0) {
        left -= static_cast<uint64_t>(w);
        continue;
      }
      if (w == 0) return SendZeros(left);  // past the end of the file: reads as zeros
      if (errno == EINTR) continue;
      if (errno == EAGAIN && WaitWritable()) continue;
      if (errno == EINVAL || errno == ENOSYS) return CopyRange(p.fd, at, left);
      return Fail("sendfile", errno);
    }
    return true;
  }

  const std::string& error() const { return err_; }

 private:
  // For files sendfile cannot take: pread and send.
  bool CopyRange(int fd, off_t at, uint64_t left) {
    if (buf_.empty()) buf_.resize(1 << 20);
    while (left) {
      size_t want = left < buf_.size() ? static_cast<size_t>(left) : buf_.size();
      ssize_t r = pread(fd, buf_.data(), want, at);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Fail("pread", errno);
      if (r == 0) return SendZeros(left);
      struct iovec iov = {buf_.data(), static_cast<size_t>(r)};
      if (!SendAll(&iov, 1)) return false;
      at += r;
      left -= static_cast<uint64_t>(r);
    }
    return true;
  }

  // Waits for room in the socket; false when close() was called meanwhile.
  bool WaitWritable() {
    struct pollfd p[2] = {{s_->sock, POLLOUT, 0}, {s_->wake, POLLIN, 0}};
    for (;;) {
      int r = poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Fail("poll", errno);
      if (p[1].revents) return Fail("send", ECANCELED);
      return true;  // writable, or an error the next send reports
    }
  }

  bool Fail(const char* what, int err) {
    if (err_.empty()) err_ = std::string(what) + ": " + std::strerror(err);
    return false;
  }

  Shared* s_;
  std::string err_;
  std::vector<char> buf_;
};

void Run(std::shared_ptr<Shared> s) {
  Sender out(s.get());
  std::vector<Piece> batch;
  std::vector<struct iovec> iov;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(s->mu);
      s->cv.wait(lk, [&] { return s->closing || !s->queue.empty(); });
      if (s->closing) break;
      batch.assign(std::make_move_iterator(s->queue.begin()), std::make_move_iterator(s->queue.end()));
      s->queue.clear();
    }
    bool ok = true;
    for (size_t i = 0; i < batch.size() && ok;) {
      // The bytes of consecutive pieces in one sendmsg, up to and with the first that has a range.
      iov.clear();
      uint64_t cost = 0;
      size_t j = i;
      bool range = false;
      for (; j < batch.size() && iov.size() < kMaxIov; j++) {
        const Piece& p = batch[j];
        if (!p.bytes.empty()) iov.push_back({const_cast<char*>(p.bytes.data()), p.bytes.size()});
        cost += p.cost();
        if (p.length) {
          range = true;
          break;
        }
      }
      ok = iov.empty() || out.SendAll(iov.data(), iov.size());
      if (ok && range) ok = out.SendRange(batch[j++]);
      i = j;
      std::lock_guard<std::mutex> lk(s->mu);
      s->queued -= cost;
      if (s->closing) break;
      if (ok && s->notifyBelow >= 0 && s->queued <= static_cast<uint64_t>(s->notifyBelow)) {
        s->notifyBelow = -1;
        s->tsfn.NonBlockingCall(new Event{"below", ""});
      }
    }
    batch.clear();
    if (!ok) {
      std::lock_guard<std::mutex> lk(s->mu);
      if (!s->closing) {
        s->failed = true;
        s->tsfn.NonBlockingCall(new Event{"error", out.error()});
      }
      break;
    }
  }
  // Our dup goes now, not when the JS object is collected: the peer sees the end at once.
  {
    std::lock_guard<std::mutex> lk(s->mu);
    ::close(s->sock);
    s->sock = -1;
  }
  s->tsfn.NonBlockingCall(new Event{"closed", ""});
  s->tsfn.Release();
}

class SocketWriter : public Napi::ObjectWrap<SocketWriter> {
 public:
  static void Define(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "SocketWriter", {
      InstanceMethod<&SocketWriter::Send>("send"),
      InstanceMethod<&SocketWriter::NotifyBelow>("notifyBelow"),
      InstanceMethod<&SocketWriter::Close>("close"),
      InstanceAccessor<&SocketWriter::Queued>("queued"),
    });
    exports.Set("SocketWriter", f);
  }

  // new SocketWriter(fd, onEvent(kind, message?), sndbuf?)
  SocketWriter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SocketWriter>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "SocketWriter(fd, onEvent, sndbuf?)");
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    auto s = std::make_shared<Shared>();
    s->sock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (s->sock < 0) ThrowErrno(env, "dup", errno);
    s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake < 0) ThrowErrno(env, "eventfd", errno);
    if (info.Length() > 2 && info[2].IsNumber()) {
      // The kernel caps this at net.core.wmem_max; a larger buffer means fewer wake-ups.
      int size = info[2].As<Napi::Number>().Int32Value();
      if (size > 0) setsockopt(s->sock, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    // Holds the event loop open until the thread has ended (its 'closed' event).
    s->tsfn = Tsfn::New(env, info[1].As<Napi::Function>(), "tsemu.SocketWriter", 0, 1, nullptr);
    shared_ = s;
    std::thread(Run, s).detach();
  }

  ~SocketWriter() override { Stop(); }

 private:
  // send(bytes, fd = -1, offset = 0, length = 0): queues the bytes, then `length` bytes of
  // file `fd` from `offset` (fd -1: zeros). Returns the queued cost.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "send(bytes, fd?, offset?, length?)");
    Bytes b = Uint8Bytes(env, info[0], "send");
    Piece p;
    p.bytes.assign(reinterpret_cast<const char*>(b.data), b.length);
    if (info.Length() > 3) {
      p.fd = info[1].As<Napi::Number>().Int32Value();
      double off = info[2].As<Napi::Number>().DoubleValue();
      double len = info[3].As<Napi::Number>().DoubleValue();
      if (!(off >= 0) || !(len >= 0) || off + len > 9007199254740991.0) throw Napi::RangeError::New(env, "send: bad range");
      p.offset = static_cast<uint64_t>(off);
      p.length = static_cast<uint64_t>(len);
    }
    uint64_t queued;
    {
      std::lock_guard<std::mutex> lk(shared_->mu);
      if (shared_->closing || shared_->failed) return Napi::Number::New(env, static_cast<double>(shared_->queued));
      shared_->queued += p.cost();
      queued = shared_->queued;
      shared_->queue.push_back(std::move(p));
    }
    shared_->cv.notify_one();
    return Napi::Number::New(env, static_cast<double>(queued));
  }

  // notifyBelow(limit): one 'below' event once the queued cost is at most `limit`.
  Napi::Value NotifyBelow(const Napi::CallbackInfo& info) {
    double limit = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
    std::lock_guard<std::mutex> lk(shared_->mu);
    if (shared_->closing || shared_->failed) return info.Env().Undefined();
    if (shared_->queued <= static_cast<uint64_t>(limit)) shared_->tsfn.NonBlockingCall(new Event{"below", ""});
    else shared_->notifyBelow = static_cast<int64_t>(limit);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  Napi::Value Queued(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lk(shared_->mu);
    return Napi::Number::New(info.Env(), static_cast<double>(shared_->queued));
  }

  void Stop() {
    if (!shared_) return;
    {
      std::lock_guard<std::mutex> lk(shared_->mu);
      if (shared_->closing) return;
      shared_->closing = true;
    }
    shared_->cv.notify_one();
    uint64_t one = 1;
    ssize_t r = write(shared_->wake, &one, sizeof one);
    (void)r;
  }

  std::shared_ptr<Shared> shared_;
};

}  // namespace

void InitSocketWriter(Napi::Env env, Napi::Object exports) { SocketWriter::Define(env, exports); }

}  // namespace tsemu
