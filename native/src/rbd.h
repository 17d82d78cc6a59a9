// tsemu's librbd binding (a separate addon, tsemu_rbd.node, built only where librbd-dev and
// libradospp-dev are installed; see binding.gyp). The connection uses librados' C API; an
// open image is a librbd::Image (the C++ API), whose writes take a bufferlist: large ones
// then go out from the caller's memory, not a copy (rbd-image.cc). Nothing here blocks the
// event loop:
//  - data I/O (read, write, discard, write-zeroes, flush) goes through rbd_aio_*, whose
//    completions librbd delivers on its own threads; a ThreadSafeFunction hands them to JS;
//  - the calls librbd only has in blocking form (connect, open, create, resize, snapshots,
//    close) run on libuv's pool as napi AsyncWorkers.
// Every call returns a Promise; a failure rejects with an Error whose `code` is the errno
// name librbd returned (ENOENT, EACCES, ETIMEDOUT...) and whose `errno` is its number.
#pragma once
#include <napi.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <rbd/librbd.hpp>

#include <functional>
#include <memory>
#include <string>

namespace tsemu_rbd {

// One rados connection. Images keep it alive; the last owner to let go shuts it down, on a
// pool thread (rados_shutdown joins librados' threads).
struct Connection {
  rados_t cluster = nullptr;
  ~Connection() {
    if (cluster) rados_shutdown(cluster);
  }
};
using ConnectionRef = std::shared_ptr<Connection>;

// An Error for librbd's negative return `r`: "what: strerror", code = errno name.
Napi::Error ErrnoError(Napi::Env env, const std::string& what, int r);

// Runs `work` on libuv's pool, then settles `deferred` on the JS thread: rejected with
// ErrnoError(what, r) when work returned r < 0 (work may rename the step in `what`), else resolved with done(env) (undefined
// when done is empty). `keep` is held until then (the object the work uses).
void RunTask(Napi::Env env, Napi::Promise::Deferred deferred, std::string what, std::function<int(std::string&)> work,
             std::function<Napi::Value(Napi::Env)> done, Napi::Value keep);

// Opens `pool` (and `ns`) on a connection: rados_ioctx_create + set_namespace.
int OpenIoctx(rados_t cluster, const std::string& pool, const std::string& ns, rados_ioctx_t* io);

void InitImage(Napi::Env env, Napi::Object exports);
// Whether the image's librbd cache keeps the data of writes it has completed (the
// writeback policy's ObjectCacher): a buffer lent to it would stay lent. Blocking (pool thread).
bool CacheKeepsWrites(librbd::Image& image);

// Wraps an open image in a JS RbdImage (JS thread only). `lendWrites`: long writes go out
// from the caller's buffer (rbd-image.cc).
Napi::Object NewImage(Napi::Env env, ConnectionRef conn, rados_ioctx_t io, std::unique_ptr<librbd::Image> image, bool readOnly,
                      bool lendWrites);

}  // namespace tsemu_rbd
