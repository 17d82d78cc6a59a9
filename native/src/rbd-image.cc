// RbdImage: an open librbd image. Data I/O is asynchronous in librbd (rbd_aio_*): each
// request carries an AioOp through librbd and back. librbd's threads put finished AioOps on
// the image's completion list; the first one onto an empty list posts one ThreadSafeFunction
// call, and the JS thread settles every request on the list at once (under load, one
// wake-up of the JS thread serves many completions, not one each). The buffer (a
// Uint8Array, possibly a view of guest RAM in a SharedArrayBuffer) stays referenced until
// its request settles, and the image (its JS object) while any request is in flight. The
// TSFN keeps the event loop alive only while requests are in flight.
#include "rbd.h"

#include <cerrno>
#include <ctime>
#include <memory>
#include <mutex>
#include <vector>

namespace tsemu_rbd {
namespace {

class Image;
struct AioOp;
void Deliver(Napi::Env env, Napi::Function, Image* image, void*);
using Tsfn = Napi::TypedThreadSafeFunction<Image, void, Deliver>;

struct AioOp {
  Image* image;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference buffer;
  const char* what;
  ssize_t ret = 0;
  explicit AioOp(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
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
    rbd_image_t image;
    bool readOnly;
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
    image_ = init->image;
    readOnly_ = init->readOnly;
    tsfn_ = Tsfn::New(env, "tsemu-rbd-aio", 0, 1, this);
    tsfn_.Unref(env);
  }

  ~Image() override {
    // Only reached without close() (a leak in the caller): close synchronously rather than never.
    if (image_) {
      rbd_close(image_);
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

 private:
  static void OnComplete(rbd_completion_t c, void* arg) {
    AioOp* op = static_cast<AioOp*>(arg);
    op->ret = rbd_aio_get_return_value(c);
    rbd_aio_release(c);
    Image* image = op->image;
    bool post;
    {
      std::lock_guard<std::mutex> lock(image->doneMu_);
      image->done_.push_back(op);
      post = !image->posted_;
      image->posted_ = true;
    }
    // An unbounded queue: this never waits. Later completions ride on the call already posted.
    if (post) image->tsfn_.NonBlockingCall();
  }

  void Open(Napi::Env env) {
    if (!image_) throw Napi::Error::New(env, "the rbd image is closed");
  }

  void Writable(Napi::Env env) {
    Open(env);
    if (readOnly_) throw ErrnoError(env, "the rbd image is read-only", -EROFS);
  }

  // Starts one aio request: `start` submits it with the completion; a submission error
  // rejects at once.
  template <typename Start>
  Napi::Value Submit(const Napi::CallbackInfo& info, const char* what, Napi::Value buffer, Start start) {
    Napi::Env env = info.Env();
    auto op = std::make_unique<AioOp>(env);
    op->image = this;
    op->what = what;
    Napi::Promise promise = op->deferred.Promise();
    rbd_completion_t c;
    int r = rbd_aio_create_completion(op.get(), &Image::OnComplete, &c);
    if (r < 0) {
      op->deferred.Reject(ErrnoError(env, what, r).Value());
      return promise;
    }
    if (buffer.IsObject()) op->buffer = Napi::Persistent(buffer.As<Napi::Object>());
    if (inflight_++ == 0) {
      tsfn_.Ref(env);
      Ref();
    }
    AioOp* raw = op.release();
    r = start(c);
    if (r < 0) {
      rbd_aio_release(c);
      raw->ret = r;
      std::unique_ptr<AioOp> own(raw);
      Completed(env, raw);
    }
    return promise;
  }

  // read(buf, offset) -> bytes read
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Open(info.Env());
    Bytes b = BufferArg(info, 0);
    uint64_t off = U64Arg(info, 1, "offset");
    return Submit(info, "error reading", info[0], [&](rbd_completion_t c) {
      return rbd_aio_read(image_, off, b.length, b.data, c);
    });
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Writable(info.Env());
    Bytes b = BufferArg(info, 0);
    uint64_t off = U64Arg(info, 1, "offset");
    return Submit(info, "error writing", info[0], [&](rbd_completion_t c) {
      return static_cast<int>(rbd_aio_write(image_, off, b.length, b.data, c));
    });
  }

  Napi::Value Discard(const Napi::CallbackInfo& info) {
    Writable(info.Env());
    uint64_t off = U64Arg(info, 0, "offset"), len = U64Arg(info, 1, "length");
    return Submit(info, "error discarding", info.Env().Undefined(), [&](rbd_completion_t c) {
      return rbd_aio_discard(image_, off, len, c);
    });
  }

  // writeZeroes(offset, length, unmap): without unmap the range stays allocated
  // (RBD_WRITE_ZEROES_FLAG_THICK_PROVISION), as QEMU asks librbd.
  Napi::Value WriteZeroes(const Napi::CallbackInfo& info) {
    Writable(info.Env());
    uint64_t off = U64Arg(info, 0, "offset"), len = U64Arg(info, 1, "length");
    bool unmap = info.Length() > 2 && info[2].ToBoolean().Value();
    return Submit(info, "error writing zeroes", info.Env().Undefined(), [&](rbd_completion_t c) {
      return rbd_aio_write_zeroes(image_, off, len, c, unmap ? 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION, 0);
    });
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Open(info.Env());
    return Submit(info, "error flushing", info.Env().Undefined(), [&](rbd_completion_t c) {
      return rbd_aio_flush(image_, c);
    });
  }

  // stat() -> { size, objectSize }
  Napi::Value Stat(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Open(env);
    auto st = std::make_shared<rbd_image_info_t>();
    rbd_image_t image = image_;
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error reading image info", [=](std::string&) {
      return rbd_stat(image, st.get(), sizeof *st);
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
    rbd_image_t image = image_;
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error resizing", [=](std::string&) { return rbd_resize(image, size); }, nullptr, info.This());
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
    rbd_image_t image = image_;
    struct Result {
      bool cheap = false;
      std::vector<uint64_t> extents;
    };
    auto out = std::make_shared<Result>();
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error reading allocation", [=](std::string&) {
      uint64_t features = 0, flags = 0;
      int r = rbd_get_features(image, &features);
      if (r < 0) return r;
      if (!(features & RBD_FEATURE_FAST_DIFF)) return 0;
      r = rbd_get_flags(image, &flags);
      if (r < 0) return r;
      if (flags & RBD_FLAG_FAST_DIFF_INVALID) return 0;
      out->cheap = true;
      return rbd_diff_iterate2(image, nullptr, off, len, 1, 1, [](uint64_t o, size_t l, int exists, void* arg) -> int {
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
    rbd_image_t image = image_;
    auto list = std::make_shared<std::vector<SnapEntry>>();
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error listing snapshots", [=](std::string&) {
      int max = 16, r;
      std::vector<rbd_snap_info_t> snaps;
      do {
        snaps.resize(max);
        r = rbd_snap_list(image, snaps.data(), &max);
      } while (r == -ERANGE);
      if (r < 0) return r;
      for (int i = 0; i < r; i++) {
        struct timespec ts = {0, 0};
        rbd_snap_get_timestamp(image, snaps[i].id, &ts);
        list->push_back({snaps[i].id, snaps[i].size, snaps[i].name, ts.tv_sec, ts.tv_nsec});
      }
      rbd_snap_list_end(snaps.data());
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

  Napi::Value SnapOp(const Napi::CallbackInfo& info, const char* what, int (*op)(rbd_image_t, const char*)) {
    Napi::Env env = info.Env();
    Writable(env);
    std::string name = StringArg(info, 0, "snapshot name");
    rbd_image_t image = image_;
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, what, [=](std::string&) { return op(image, name.c_str()); }, nullptr, info.This());
    return d.Promise();
  }

  Napi::Value SnapCreate(const Napi::CallbackInfo& info) { return SnapOp(info, "error creating snapshot", rbd_snap_create); }
  Napi::Value SnapRemove(const Napi::CallbackInfo& info) { return SnapOp(info, "error removing snapshot", rbd_snap_remove); }
  Napi::Value SnapRollback(const Napi::CallbackInfo& info) { return SnapOp(info, "error rolling back snapshot", rbd_snap_rollback); }

  // close(): rbd_close (which writes back librbd's cache), then lets go of the ioctx and the
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
    rbd_image_t image = image_;
    rados_ioctx_t io = io_;
    auto conn = std::make_shared<ConnectionRef>(std::move(conn_));
    image_ = nullptr;
    io_ = nullptr;
    tsfn_.Release();
    RunTask(env, d, "error closing image", [=](std::string&) {
      int r = rbd_close(image);
      rados_ioctx_destroy(io);
      conn->reset();
      return r;
    }, nullptr, info.This());
    return d.Promise();
  }

  Napi::Value InFlight(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), inflight_); }

  ConnectionRef conn_;
  rados_ioctx_t io_ = nullptr;
  rbd_image_t image_ = nullptr;
  bool readOnly_ = false;
  Tsfn tsfn_;
  uint32_t inflight_ = 0;
  // finished requests waiting for the JS thread, and whether a TSFN call for them is posted
  std::mutex doneMu_;
  std::vector<AioOp*> done_;
  bool posted_ = false;
};

Napi::FunctionReference* Image::constructor = nullptr;

void Deliver(Napi::Env env, Napi::Function, Image* image, void*) { image->DeliverDone(env); }

}  // namespace

void InitImage(Napi::Env env, Napi::Object exports) { Image::Define(env, exports); }

Napi::Object NewImage(Napi::Env env, ConnectionRef conn, rados_ioctx_t io, rbd_image_t image, bool readOnly) {
  auto* init = new Image::Init{std::move(conn), io, image, readOnly};
  return Image::constructor->New({Napi::External<Image::Init>::New(env, init)});
}

}  // namespace tsemu_rbd
