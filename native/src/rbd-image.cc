// RbdImage: an open librbd image (a librbd::Image). Data I/O is asynchronous in librbd
// (Image::aio_*): each request carries an AioOp through librbd and back. librbd's threads put finished AioOps on
// the image's completion list; the first one onto an empty list posts one ThreadSafeFunction
// call, and the JS thread settles every request on the list at once (under load, one
// wake-up of the JS thread serves many completions, not one each). The buffer (a
// Uint8Array, possibly a view of guest RAM in a SharedArrayBuffer) stays referenced until
// its request settles, and the image (its JS object) while any request is in flight. The
// TSFN keeps the event loop alive only while requests are in flight.
//
// Writes: librbd takes a bufferlist. A small write is copied into one, as librbd's C API
// does, and librbd's cache (write-around by default) may then complete it before the OSD
// has it. A write of kLendMin bytes or more is lent instead: the bufferlist is a static
// buffer over the caller's memory (no copy, which for 1 MiB costs about as much CPU as
// the rest of the request), sent with FUA so the cache passes it straight through, and the
// request settles only once librbd holds no reference to that memory any more. librbd
// usually lets go as it completes; when it has not yet, the request waits on the Releaser
// thread, which looks again until it has. Images whose cache keeps written data (the
// writeback policy's ObjectCacher) have every write copied.
#include "rbd.h"

#include <rados/buffer.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <condition_variable>
#include <ctime>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tsemu_rbd {
namespace {

class Image;
struct AioOp;
void Deliver(Napi::Env env, Napi::Function, Image* image, void*);
using Tsfn = Napi::TypedThreadSafeFunction<Image, void, Deliver>;

// Writes at least this long are lent to librbd rather than copied.
constexpr size_t kLendMin = 64 * 1024;

// Reads at least this long are copied out with non-temporal stores (see CopyOut).
constexpr size_t kStreamMin = 256 * 1024;

// Copies n bytes to d with non-temporal stores where the CPU has them (SSE2: every x86-64),
// so the destination's cache lines are not read first; the fence orders those stores before
// whatever publishes the request as done.
void StreamCopy(char* d, const char* s, size_t n) {
#if defined(__SSE2__)
  size_t head = (16 - (reinterpret_cast<uintptr_t>(d) & 15)) & 15;
  if (head > n) head = n;
  memcpy(d, s, head);
  d += head;
  s += head;
  n -= head;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 16));
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 32));
    __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 48), e);
  }
  memcpy(d + i, s + i, n - i);
  _mm_sfence();
#else
  memcpy(d, s, n);
#endif
}

// A read's result (librbd's bufferlist, the messenger's buffers) into the caller's memory.
// A long read is streamed: for 1 MiB, plain memcpy (rep movsb into cold memory) cost about
// 60 us of the request's ~290 us client CPU, and non-temporal stores take about a third off that.
void CopyOut(const ceph::bufferlist& bl, size_t n, char* dest) {
  if (n < kStreamMin) {
    bl.begin().copy(n, dest);
    return;
  }
  for (const ceph::bufferptr& p : bl.buffers()) {
    if (n == 0) break;
    size_t len = std::min<size_t>(p.length(), n);
    StreamCopy(dest, p.c_str(), len);
    dest += len;
    n -= len;
  }
}

struct AioOp {
  Image* image;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference buffer;
  const char* what;
  librbd::RBD::AioCompletion* completion = nullptr;
  ssize_t ret = 0;
  // a read: librbd's result, copied to `dest` (the caller's buffer) as it completes
  ceph::bufferlist data;
  char* dest = nullptr;
  // a lent write: this request's reference to the static buffer over the caller's memory;
  // the request settles once it is the only one left
  ceph::bufferptr lent;
  explicit AioOp(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

// Waits for librbd to let go of lent buffers whose requests have completed: one thread for
// the process, started on first use, polling its list (20 us, doubling to 1 ms between
// looks) only while the list is not empty. It lives as long as the process (never joined).
class Releaser {
 public:
  static Releaser& Get() {
    static Releaser* r = new Releaser();
    return *r;
  }

  void Wait(AioOp* op) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ops_.push_back(op);
    }
    cv_.notify_one();
  }

 private:
  Releaser() { std::thread([this] { Run(); }).detach(); }

  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::list<AioOp*> ops_;
};

struct Bytes {
  char* data;
  size_t length;
};

// The memory of a Uint8Array (napi_get_typedarray_info works for SharedArrayBuffer views too).
Bytes BufferArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "expected a Uint8Array");
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value ab;
  size_t byteOffset = 0;
  if (napi_get_typedarray_info(env, info[i], &type, &length, &data, &ab, &byteOffset) != napi_ok) {
    throw Napi::Error::New(env, "cannot reach the buffer's memory");
  }
  return {static_cast<char*>(data), length};
}

uint64_t U64Arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v > 9007199254740991.0 || v != static_cast<double>(static_cast<uint64_t>(v))) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be a non-negative integer");
  }
  return static_cast<uint64_t>(v);
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

struct SnapEntry {
  uint64_t id, size;
  std::string name;
  int64_t sec;
  int64_t nsec;
};

class Image : public Napi::ObjectWrap<Image> {
 public:
  static Napi::FunctionReference* constructor;

  struct Init {
    ConnectionRef conn;
    rados_ioctx_t io;
    std::unique_ptr<librbd::Image> image;
    bool readOnly;
    bool lendWrites;
  };

  static void Define(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "RbdImage", {
      InstanceMethod<&Image::Read>("read"),
      InstanceMethod<&Image::Write>("write"),
      InstanceMethod<&Image::Discard>("discard"),
      InstanceMethod<&Image::WriteZeroes>("writeZeroes"),
      InstanceMethod<&Image::Flush>("flush"),
      InstanceMethod<&Image::Stat>("stat"),
      InstanceMethod<&Image::Resize>("resize"),
      InstanceMethod<&Image::Allocation>("allocation"),
      InstanceMethod<&Image::SnapList>("snapList"),
      InstanceMethod<&Image::SnapCreate>("snapCreate"),
      InstanceMethod<&Image::SnapRemove>("snapRemove"),
      InstanceMethod<&Image::SnapRollback>("snapRollback"),
      InstanceMethod<&Image::Close>("close"),
      InstanceAccessor<&Image::InFlight>("inFlight"),
    });
    constructor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("RbdImage", f);
  }

  Image(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Image>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsExternal()) throw Napi::TypeError::New(env, "RbdImage comes from RbdCluster.openImage()");
    std::unique_ptr<Init> init(info[0].As<Napi::External<Init>>().Data());
    conn_ = std::move(init->conn);
    io_ = init->io;
    image_ = init->image.release();
    readOnly_ = init->readOnly;
    lend_ = init->lendWrites;
    tsfn_ = Tsfn::New(env, "tsemu-rbd-aio", 0, 1, this);
    tsfn_.Unref(env);
  }

  ~Image() override {
    // Only reached without close() (a leak in the caller): close synchronously rather than never.
    if (image_) {
      image_->close();
      delete image_;
      rados_ioctx_destroy(io_);
      tsfn_.Release();
    }
  }

  // Settles every request on the completion list (JS thread). `env` is null when Node is
  // tearing the environment down: the requests are dropped then.
  void DeliverDone(Napi::Env env) {
    std::vector<AioOp*> batch;
    {
      std::lock_guard<std::mutex> lock(doneMu_);
      batch.swap(done_);
      posted_ = false;
    }
    for (AioOp* op : batch) {
      std::unique_ptr<AioOp> own(op);
      if (env != nullptr) Completed(env, op);
    }
  }

  void Completed(Napi::Env env, AioOp* op) {
    if (--inflight_ == 0) {
      tsfn_.Unref(env);
      Unref();
    }
    if (op->ret < 0) op->deferred.Reject(ErrnoError(env, op->what, static_cast<int>(op->ret)).Value());
    else op->deferred.Resolve(Napi::Number::New(env, static_cast<double>(op->ret)));
  }

 // A request librbd is done with (any thread): on the completion list, and the JS thread
  // called for when the list was empty.
  void Finished(AioOp* op) {
    bool post;
    {
      std::lock_guard<std::mutex> lock(doneMu_);
      done_.push_back(op);
      post = !posted_;
      posted_ = true;
    }
    // An unbounded queue: this never waits. Later completions ride on the call already posted.
    if (post) tsfn_.NonBlockingCall();
  }

 private:
  // librbd's completion (one of its threads).
  static void OnComplete(librbd::completion_t, void* arg) {
    AioOp* op = static_cast<AioOp*>(arg);
    op->ret = op->completion->get_return_value();
    op->completion->release();
    op->completion = nullptr;
    if (op->dest != nullptr) {
      if (op->ret > 0) CopyOut(op->data, std::min<size_t>(op->ret, op->data.length()), op->dest);
      op->data.clear();
    }
    if (op->lent.have_raw() && op->lent.raw_nref() > 1) {
      Releaser::Get().Wait(op);
      return;
    }
    op->lent = ceph::bufferptr();
    op->image->Finished(op);
  }

  void Open(Napi::Env env) {
    if (!image_) throw Napi::Error::New(env, "the rbd image is closed");
  }

  void Writable(Napi::Env env) {
    Open(env);
    if (readOnly_) throw ErrnoError(env, "the rbd image is read-only", -EROFS);
  }

  // Starts one aio request: `start(op, completion)` submits it; a submission error rejects
  // at once.
  template <typename Start>
  Napi::Value Submit(const Napi::CallbackInfo& info, const char* what, Napi::Value buffer, Start start) {
    Napi::Env env = info.Env();
    auto op = std::make_unique<AioOp>(env);
    op->image = this;
    op->what = what;
    Napi::Promise promise = op->deferred.Promise();
    op->completion = new librbd::RBD::AioCompletion(op.get(), &Image::OnComplete);
    if (buffer.IsObject()) op->buffer = Napi::Persistent(buffer.As<Napi::Object>());
    if (inflight_++ == 0) {
      tsfn_.Ref(env);
      Ref();
    }
    AioOp* raw = op.release();
    int r = start(raw, raw->completion);
    if (r < 0) {
      raw->completion->release();
      raw->ret = r;
      std::unique_ptr<AioOp> own(raw);
      Completed(env, raw);
    }
    return promise;
  }

  // The length of a request's buffer, which a bufferlist counts in 32 bits.
  static void FitsBufferlist(Napi::Env env, const Bytes& b) {
    if (b.length > UINT_MAX) throw Napi::RangeError::New(env, "a request is at most 4 GiB - 1");
  }

  // read(buf, offset) -> bytes read
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Open(info.Env());
    Bytes b = BufferArg(info, 0);
    FitsBufferlist(info.Env(), b);
    uint64_t off = U64Arg(info, 1, "offset");
    return Submit(info, "error reading", info[0], [&](AioOp* op, librbd::RBD::AioCompletion* c) {
      op->dest = b.data;
      return image_->aio_read2(off, b.length, op->data, c, 0);
    });
  }

  // write(buf, offset) -> bytes written; a long buffer is lent to librbd (see the top).
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Writable(info.Env());
    Bytes b = BufferArg(info, 0);
    FitsBufferlist(info.Env(), b);
    uint64_t off = U64Arg(info, 1, "offset");
    return Submit(info, "error writing", info[0], [&](AioOp* op, librbd::RBD::AioCompletion* c) {
      ceph::bufferlist bl;
      int flags = 0;
      if (lend_ && b.length >= kLendMin) {
        op->lent = ceph::bufferptr(ceph::buffer::create_static(static_cast<unsigned>(b.length), b.data));
        bl.push_back(op->lent);
        flags = LIBRADOS_OP_FLAG_FADVISE_FUA;
      } else {
        bl.push_back(ceph::buffer::copy(b.data, static_cast<unsigned>(b.length)));
      }
      return static_cast<int>(image_->aio_write2(off, b.length, bl, c, flags));
    });
  }

  Napi::Value Discard(const Napi::CallbackInfo& info) {
    Writable(info.Env());
    uint64_t off = U64Arg(info, 0, "offset"), len = U64Arg(info, 1, "length");
    return Submit(info, "error discarding", info.Env().Undefined(), [&](AioOp*, librbd::RBD::AioCompletion* c) {
      return image_->aio_discard(off, len, c);
    });
  }

  // writeZeroes(offset, length, unmap): without unmap the range stays allocated
  // (RBD_WRITE_ZEROES_FLAG_THICK_PROVISION), as QEMU asks librbd.
  Napi::Value WriteZeroes(const Napi::CallbackInfo& info) {
    Writable(info.Env());
    uint64_t off = U64Arg(info, 0, "offset"), len = U64Arg(info, 1, "length");
    bool unmap = info.Length() > 2 && info[2].ToBoolean().Value();
    return Submit(info, "error writing zeroes", info.Env().Undefined(), [&](AioOp*, librbd::RBD::AioCompletion* c) {
      return image_->aio_write_zeroes(off, len, c, unmap ? 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION, 0);
    });
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Open(info.Env());
    return Submit(info, "error flushing", info.Env().Undefined(), [&](AioOp*, librbd::RBD::AioCompletion* c) {
      return image_->aio_flush(c);
    });
  }

  // stat() -> { size, objectSize }
  Napi::Value Stat(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Open(env);
    auto st = std::make_shared<librbd::image_info_t>();
    librbd::Image* image = image_;
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error reading image info", [=](std::string&) {
      return image->stat(*st, sizeof *st);
    }, [=](Napi::Env env) -> Napi::Value {
      Napi::Object o = Napi::Object::New(env);
      o.Set("size", Napi::Number::New(env, static_cast<double>(st->size)));
      o.Set("objectSize", Napi::Number::New(env, static_cast<double>(st->obj_size)));
      return o;
    }, info.This());
    return d.Promise();
  }

  Napi::Value Resize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Writable(env);
    uint64_t size = U64Arg(info, 0, "size");
    librbd::Image* image = image_;
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error resizing", [=](std::string&) { return image->resize(size); }, nullptr, info.This());
    return d.Promise();
  }

  // allocation(offset, length) -> [offset, length, offset, length...] of the objects that hold
  // data in the range (rbd_diff_iterate2 from the image's creation, parent included, whole
  // objects), or null where that is not cheap: without fast-diff, or with its map invalid
  // (librbd would then list objects one by one), as QEMU's rbd driver decides.
  Napi::Value Allocation(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Open(env);
    uint64_t off = U64Arg(info, 0, "offset"), len = U64Arg(info, 1, "length");
    librbd::Image* image = image_;
    struct Result {
      bool cheap = false;
      std::vector<uint64_t> extents;
    };
    auto out = std::make_shared<Result>();
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error reading allocation", [=](std::string&) {
      uint64_t features = 0, flags = 0;
      int r = image->features(&features);
      if (r < 0) return r;
      if (!(features & RBD_FEATURE_FAST_DIFF)) return 0;
      r = image->get_flags(&flags);
      if (r < 0) return r;
      if (flags & RBD_FLAG_FAST_DIFF_INVALID) return 0;
      out->cheap = true;
      return image->diff_iterate2(nullptr, off, len, true, true, [](uint64_t o, size_t l, int exists, void* arg) -> int {
        auto* v = static_cast<std::vector<uint64_t>*>(arg);
        if (exists) {
          if (!v->empty() && (*v)[v->size() - 2] + (*v)[v->size() - 1] == o) (*v)[v->size() - 1] += l;
          else {
            v->push_back(o);
            v->push_back(l);
          }
        }
        return 0;
      }, &out->extents);
    }, [=](Napi::Env env) -> Napi::Value {
      if (!out->cheap) return env.Null();
      Napi::Array a = Napi::Array::New(env, out->extents.size());
      for (size_t i = 0; i < out->extents.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(out->extents[i])));
      return a;
    }, info.This());
    return d.Promise();
  }

  // snapList() -> [{ id, name, size, sec, nsec }], oldest first
  Napi::Value SnapList(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Open(env);
    librbd::Image* image = image_;
    auto list = std::make_shared<std::vector<SnapEntry>>();
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error listing snapshots", [=](std::string&) {
      std::vector<librbd::snap_info_t> snaps;
      int r = image->snap_list(snaps);
      if (r < 0) return r;
      for (const librbd::snap_info_t& s : snaps) {
        struct timespec ts = {0, 0};
        image->snap_get_timestamp(s.id, &ts);
        list->push_back({s.id, s.size, s.name, ts.tv_sec, ts.tv_nsec});
      }
      return 0;
    }, [=](Napi::Env env) -> Napi::Value {
      Napi::Array a = Napi::Array::New(env, list->size());
      for (size_t i = 0; i < list->size(); i++) {
        const SnapEntry& s = (*list)[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("id", Napi::Number::New(env, static_cast<double>(s.id)));
        o.Set("name", Napi::String::New(env, s.name));
        o.Set("size", Napi::Number::New(env, static_cast<double>(s.size)));
        o.Set("sec", Napi::Number::New(env, static_cast<double>(s.sec)));
        o.Set("nsec", Napi::Number::New(env, static_cast<double>(s.nsec)));
        a.Set(static_cast<uint32_t>(i), o);
      }
      return a;
    }, info.This());
    return d.Promise();
  }

  Napi::Value SnapOp(const Napi::CallbackInfo& info, const char* what, int (librbd::Image::*op)(const char*)) {
    Napi::Env env = info.Env();
    Writable(env);
    std::string name = StringArg(info, 0, "snapshot name");
    librbd::Image* image = image_;
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, what, [=](std::string&) { return (image->*op)(name.c_str()); }, nullptr, info.This());
    return d.Promise();
  }

  Napi::Value SnapCreate(const Napi::CallbackInfo& info) { return SnapOp(info, "error creating snapshot", &librbd::Image::snap_create); }
  Napi::Value SnapRemove(const Napi::CallbackInfo& info) { return SnapOp(info, "error removing snapshot", &librbd::Image::snap_remove); }
  Napi::Value SnapRollback(const Napi::CallbackInfo& info) { return SnapOp(info, "error rolling back snapshot", &librbd::Image::snap_rollback); }

  // close(): Image::close (which writes back librbd's cache), then lets go of the ioctx and the
  // connection. Requests still in flight make it fail with EBUSY: the caller drains first.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto d = Napi::Promise::Deferred::New(env);
    if (!image_) {
      d.Resolve(env.Undefined());
      return d.Promise();
    }
    if (inflight_ > 0) {
      d.Reject(ErrnoError(env, "error closing image: requests in flight", -EBUSY).Value());
      return d.Promise();
    }
    librbd::Image* image = image_;
    rados_ioctx_t io = io_;
    auto conn = std::make_shared<ConnectionRef>(std::move(conn_));
    image_ = nullptr;
    io_ = nullptr;
    tsfn_.Release();
    RunTask(env, d, "error closing image", [=](std::string&) {
      int r = image->close();
      delete image;
      rados_ioctx_destroy(io);
      conn->reset();
      return r;
    }, nullptr, info.This());
    return d.Promise();
  }

  Napi::Value InFlight(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), inflight_); }

  ConnectionRef conn_;
  rados_ioctx_t io_ = nullptr;
  librbd::Image* image_ = nullptr;  // owned; null once closed
  bool readOnly_ = false;
  bool lend_ = false;  // long writes are lent (see the top)
  Tsfn tsfn_;
  uint32_t inflight_ = 0;
  // finished requests waiting for the JS thread, and whether a TSFN call for them is posted
  std::mutex doneMu_;
  std::vector<AioOp*> done_;
  bool posted_ = false;
};

Napi::FunctionReference* Image::constructor = nullptr;

void Deliver(Napi::Env env, Napi::Function, Image* image, void*) { image->DeliverDone(env); }

void Releaser::Run() {
  using namespace std::chrono;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return !ops_.empty(); });
    microseconds pause(20);
    while (!ops_.empty()) {
      std::vector<AioOp*> released;
      for (auto it = ops_.begin(); it != ops_.end();) {
        // Only librbd drops references to the buffer: once it is ours alone, it stays so.
        if ((*it)->lent.raw_nref() == 1) {
          released.push_back(*it);
          it = ops_.erase(it);
        } else {
          ++it;
        }
      }
      lock.unlock();
      for (AioOp* op : released) {
        op->lent = ceph::bufferptr();
        op->image->Finished(op);
      }
      lock.lock();
      if (!released.empty()) pause = microseconds(20);
      if (!ops_.empty()) {
        cv_.wait_for(lock, pause);
        pause = std::min(pause * 2, microseconds(1000));
      }
    }
  }
}

}  // namespace

void InitImage(Napi::Env env, Napi::Object exports) { Image::Define(env, exports); }

bool CacheKeepsWrites(librbd::Image& image) {
  std::vector<librbd::config_option_t> options;
  if (image.config_list(&options) < 0) return true;
  std::string cache, policy;
  for (const auto& o : options) {
    if (o.name == "rbd_cache") cache = o.value;
    else if (o.name == "rbd_cache_policy") policy = o.value;
  }
  return cache == "true" && policy == "writeback";
}

Napi::Object NewImage(Napi::Env env, ConnectionRef conn, rados_ioctx_t io, std::unique_ptr<librbd::Image> image, bool readOnly,
                      bool lendWrites) {
  auto* init = new Image::Init{std::move(conn), io, std::move(image), readOnly, lendWrites};
  return Image::constructor->New({Napi::External<Image::Init>::New(env, init)});
}

}  // namespace tsemu_rbd
