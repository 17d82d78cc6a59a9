// preadCached(fd, bytes, offset): a read served from the page cache at once, on the calling
// thread: preadv2 with RWF_NOWAIT, which never waits for the disk. Returns the bytes read (0
// at the end of the file; fewer than asked where only the first pages are cached), or -1
// where the data is not cached or the file cannot be read that way (the caller then reads
// through libuv's thread pool, which reports real errors). A 4 KiB read from the thread
// pool costs a hand-off to a pool thread and back, ~6 us on these machines; this ~1 us.
#include "addon.h"

#include <sys/uio.h>

#include <cerrno>

namespace tsemu {
namespace {

Napi::Value PreadCached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[2].IsNumber()) throw Napi::TypeError::New(env, "preadCached(fd, bytes, offset)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  Bytes b = Uint8Bytes(env, info[1], "preadCached");
  uint64_t off = FileOffset(env, info[2], b.length, "preadCached");
  struct iovec iov = {b.data, b.length};
  ssize_t n;
  do {
    n = preadv2(fd, &iov, 1, static_cast<off_t>(off), RWF_NOWAIT);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? -1 : static_cast<double>(n));
}

}  // namespace

void InitFileRead(Napi::Env env, Napi::Object exports) {
  exports.Set("preadCached", Napi::Function::New(env, PreadCached, "preadCached"));
}

}  // namespace tsemu
