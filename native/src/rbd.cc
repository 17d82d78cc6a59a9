// The connection half of the librbd binding: connect (QEMU's way of configuring a rados
// client), and what is done with a pool rather than an open image: create, remove, open.
#include "rbd.h"

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace tsemu_rbd {

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int r) {
  int err = r < 0 ? -r : r;
  Napi::Error e = Napi::Error::New(env, what + ": " + std::strerror(err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EIO"));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

namespace {

class Task : public Napi::AsyncWorker {
 public:
  Task(Napi::Env env, Napi::Promise::Deferred deferred, std::string what, std::function<int(std::string&)> work,
       std::function<Napi::Value(Napi::Env)> done, Napi::Value keep)
      : Napi::AsyncWorker(env, "tsemu-rbd"),
        deferred_(deferred),
        what_(std::move(what)),
        work_(std::move(work)),
        done_(std::move(done)) {
    if (keep.IsObject()) keep_ = Napi::Persistent(keep.As<Napi::Object>());
  }

  void Execute() override { r_ = work_(what_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (r_ < 0) {
      deferred_.Reject(ErrnoError(env, what_, r_).Value());
      return;
    }
    try {
      deferred_.Resolve(done_ ? done_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string what_;
  std::function<int(std::string&)> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  Napi::ObjectReference keep_;
  int r_ = 0;
};

}  // namespace

void RunTask(Napi::Env env, Napi::Promise::Deferred deferred, std::string what, std::function<int(std::string&)> work,
             std::function<Napi::Value(Napi::Env)> done, Napi::Value keep) {
  (new Task(env, deferred, std::move(what), std::move(work), std::move(done), keep))->Queue();
}

int OpenIoctx(rados_t cluster, const std::string& pool, const std::string& ns, rados_ioctx_t* io) {
  int r = rados_ioctx_create(cluster, pool.c_str(), io);
  if (r < 0) return r;
  rados_ioctx_set_namespace(*io, ns.c_str());
  return 0;
}

namespace {

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

uint64_t SizeArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v > 9007199254740991.0 || v != static_cast<double>(static_cast<uint64_t>(v))) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be a non-negative integer");
  }
  return static_cast<uint64_t>(v);
}

// RbdCluster: a connected rados client, from connect().
class Cluster : public Napi::ObjectWrap<Cluster> {
 public:
  static Napi::FunctionReference* constructor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "RbdCluster", {
      InstanceMethod<&Cluster::CreateImage>("createImage"),
      InstanceMethod<&Cluster::RemoveImage>("removeImage"),
      InstanceMethod<&Cluster::OpenImage>("openImage"),
      InstanceMethod<&Cluster::Shutdown>("shutdown"),
    });
    constructor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("RbdCluster", f);
  }

  Cluster(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Cluster>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "RbdCluster comes from connect()");
    ConnectionRef* ref = info[0].As<Napi::External<ConnectionRef>>().Data();
    conn_ = std::move(*ref);
    delete ref;
  }

 private:
  ConnectionRef Live(Napi::Env env) {
    if (!conn_) throw Napi::Error::New(env, "the rados connection is shut down");
    return conn_;
  }

  // createImage(pool, namespace, name, size, order): rbd_create4; order 0 = librbd's default.
  Napi::Value CreateImage(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ConnectionRef conn = Live(env);
    std::string pool = StringArg(info, 0, "pool"), ns = StringArg(info, 1, "namespace"), name = StringArg(info, 2, "image");
    uint64_t size = SizeArg(info, 3, "size");
    uint64_t order = info.Length() > 4 ? SizeArg(info, 4, "order") : 0;
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error opening pool " + pool, [=](std::string& what) {
      rados_ioctx_t io;
      int r = OpenIoctx(conn->cluster, pool, ns, &io);
      if (r < 0) return r;
      what = "error rbd create";
      rbd_image_options_t opts;
      rbd_image_options_create(&opts);
      if (order) rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_ORDER, order);
      r = rbd_create4(io, name.c_str(), size, opts);
      rbd_image_options_destroy(opts);
      rados_ioctx_destroy(io);
      return r;
    }, nullptr, info.This());
    return d.Promise();
  }

  Napi::Value RemoveImage(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ConnectionRef conn = Live(env);
    std::string pool = StringArg(info, 0, "pool"), ns = StringArg(info, 1, "namespace"), name = StringArg(info, 2, "image");
    auto d = Napi::Promise::Deferred::New(env);
    RunTask(env, d, "error opening pool " + pool, [=](std::string& what) {
      rados_ioctx_t io;
      int r = OpenIoctx(conn->cluster, pool, ns, &io);
      if (r < 0) return r;
      what = "error rbd remove";
      r = rbd_remove(io, name.c_str());
      rados_ioctx_destroy(io);
      return r;
    }, nullptr, info.This());
    return d.Promise();
  }

  // openImage(pool, namespace, name, snapshot|null, readOnly) -> RbdImage. The image shares
  // this connection; it stays up until both are closed.
  Napi::Value OpenImage(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ConnectionRef conn = Live(env);
    std::string pool = StringArg(info, 0, "pool"), ns = StringArg(info, 1, "namespace"), name = StringArg(info, 2, "image");
    bool hasSnap = info.Length() > 3 && info[3].IsString();
    std::string snap = hasSnap ? info[3].As<Napi::String>().Utf8Value() : "";
    bool readOnly = hasSnap || (info.Length() > 4 && info[4].ToBoolean().Value());
    struct Opened {
      rados_ioctx_t io = nullptr;
      std::unique_ptr<librbd::Image> image;
      bool lendWrites = false;
    };
    auto out = std::make_shared<Opened>();
    auto d = Napi::Promise::Deferred::New(env);
    // The messages QEMU's rbd driver gives for each step.
    RunTask(env, d, "error opening pool " + pool, [=](std::string& what) {
      int r = OpenIoctx(conn->cluster, pool, ns, &out->io);
      if (r < 0) {
        out->io = nullptr;
        return r;
      }
      what = "error reading header from " + name;
      const char* s = hasSnap ? snap.c_str() : nullptr;
      librados::IoCtx ioctx;
      librados::IoCtx::from_rados_ioctx_t(out->io, ioctx);
      auto image = std::make_unique<librbd::Image>();
      librbd::RBD rbd;
      r = readOnly ? rbd.open_read_only(ioctx, *image, name.c_str(), s) : rbd.open(ioctx, *image, name.c_str(), s);
      if (r < 0) {
        rados_ioctx_destroy(out->io);
        out->io = nullptr;
        return r;
      }
      out->lendWrites = !CacheKeepsWrites(*image);
      out->image = std::move(image);
      return r;
    }, [=](Napi::Env env) -> Napi::Value {
      return NewImage(env, conn, out->io, std::move(out->image), readOnly, out->lendWrites);
    }, info.This());
    return d.Promise();
  }

  // shutdown(): lets go of the connection (rados_shutdown once no image uses it).
  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto d = Napi::Promise::Deferred::New(env);
    auto conn = std::make_shared<ConnectionRef>(std::move(conn_));
    RunTask(env, d, "rados shutdown", [conn](std::string&) {
      conn->reset();
      return 0;
    }, nullptr, info.This());
    return d.Promise();
  }

  ConnectionRef conn_;
};

Napi::FunctionReference* Cluster::constructor = nullptr;

// connect({ conf, id, options: [[key, value], ...] }) -> RbdCluster. As QEMU's rbd driver:
// rados_create(id), read `conf` (or the default places, whose absence is fine), set each
// option with rados_conf_set, then rados_connect.
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "connect takes an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  auto str = [&](const char* k) -> std::pair<bool, std::string> {
    Napi::Value v = o.Get(k);
    if (v.IsString()) return {true, v.As<Napi::String>().Utf8Value()};
    return {false, ""};
  };
  auto [hasConf, conf] = str("conf");
  auto [hasId, id] = str("id");
  std::vector<std::pair<std::string, std::string>> options;
  Napi::Value ov = o.Get("options");
  if (ov.IsArray()) {
    Napi::Array a = ov.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value kv = a.Get(i);
      if (!kv.IsArray() || kv.As<Napi::Array>().Length() != 2) throw Napi::TypeError::New(env, "options are [key, value] pairs");
      Napi::Array p = kv.As<Napi::Array>();
      options.emplace_back(p.Get(0u).ToString().Utf8Value(), p.Get(1u).ToString().Utf8Value());
    }
  }
  auto conn = std::make_shared<Connection>();
  auto d = Napi::Promise::Deferred::New(env);
  RunTask(env, d, "error connecting", [=](std::string& what) {
    int r = rados_create(&conn->cluster, hasId ? id.c_str() : nullptr);
    if (r < 0) {
      conn->cluster = nullptr;
      what = "error initializing";
      return r;
    }
    if (hasConf) {
      r = rados_conf_read_file(conn->cluster, conf.c_str());
      if (r < 0) {
        what = "error reading conf file " + conf;
        return r;
      }
    } else {
      rados_conf_read_file(conn->cluster, nullptr);
    }
    for (const auto& [k, v] : options) {
      r = rados_conf_set(conn->cluster, k.c_str(), v.c_str());
      if (r < 0) {
        what = "invalid conf option " + k;
        return r;
      }
    }
    return rados_connect(conn->cluster);
  }, [=](Napi::Env env) -> Napi::Value {
    auto* ref = new ConnectionRef(conn);
    return Cluster::constructor->New({Napi::External<ConnectionRef>::New(env, ref)});
  }, env.Undefined());
  return d.Promise();
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  int major, minor, extra;
  rbd_version(&major, &minor, &extra);
  return Napi::String::New(info.Env(), std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(extra));
}

}  // namespace
}  // namespace tsemu_rbd

static Napi::Object InitRbd(Napi::Env env, Napi::Object exports) {
  tsemu_rbd::Cluster::Init(env, exports);
  tsemu_rbd::InitImage(env, exports);
  exports.Set("connect", Napi::Function::New(env, tsemu_rbd::Connect));
  exports.Set("version", Napi::Function::New(env, tsemu_rbd::Version));
  return exports;
}
NODE_API_MODULE(tsemu_rbd, InitRbd)
