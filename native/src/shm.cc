// Shared memory objects as SharedArrayBuffers.
//
// An object is a memfd (anonymous: it lives while some process holds its fd or a mapping)
// or a POSIX shm name under /dev/shm. Either way it is mapped MAP_SHARED and wrapped in a
// SharedArrayBuffer whose backing store unmaps it when the last JS reference (in any
// worker of this process) goes away. Other processes reach the same pages by inheriting
// the fd, by opening /proc/<pid>/fd/<n>, or by the shm name.
//
// node-addon-api has no call to make a SharedArrayBuffer over foreign memory, so this
// file uses V8's API for that one step.
#include "addon.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <v8.h>

namespace tsemu {

// 2^63: sizes must fit in off_t. Below that the kernel judges: reserve fails with ENOSPC
// before allocating anything, mmap with ENOMEM.
static constexpr double kMaxSize = 9223372036854775808.0;

static void Unmap(void* data, size_t length, void* /*deleter_data*/) {
  if (data != nullptr && length > 0) munmap(data, length);
}

static Napi::Value WrapMapping(Napi::Env env, void* addr, size_t size) {
  std::unique_ptr<v8::BackingStore> store =
      v8::SharedArrayBuffer::NewBackingStore(addr, size, Unmap, nullptr);
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::SharedArrayBuffer> sab = v8::SharedArrayBuffer::New(isolate, std::move(store));
  v8::Local<v8::Value> value = sab;
  // A napi_value is a v8::Value* of the current handle scope (Node's own conversion).
  return Napi::Value(env, reinterpret_cast<napi_value>(*value));
}

static size_t ParseSize(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "size must be a number of bytes");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d)) throw Napi::RangeError::New(env, "size must be a whole number of bytes");
  if (d < 1) throw Napi::RangeError::New(env, "size must be at least 1 byte");
  if (d >= kMaxSize) throw Napi::RangeError::New(env, "size is too large");
  return static_cast<size_t>(d);
}

static void* MapFd(Napi::Env env, int fd, size_t size, const std::string& what) {
  int prot = PROT_READ | PROT_WRITE;
  void* addr = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    int err = errno;
    close(fd);
    ThrowErrno(env, "mmap of " + what, err);
  }
  return addr;
}

static Napi::Object Result(Napi::Env env, int fd, void* addr, size_t size) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  out.Set("buffer", WrapMapping(env, addr, size));
  return out;
}

// shmCreate(size, name?, reserve?) -> { fd, size, buffer }
// reserve: allocate all pages now (fallocate), so a full /dev/shm is an ENOSPC error here
// instead of a SIGBUS on first touch later.
static Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t size = ParseSize(env, info[0]);
  bool named = info.Length() > 1 && info[1].IsString();
  bool reserve = !(info.Length() > 2 && info[2].IsBoolean() && !info[2].As<Napi::Boolean>().Value());
  std::string name = named ? info[1].As<Napi::String>().Utf8Value() : std::string("tsemu");
  int fd;
  if (named) {
    if (name.size() < 2 || name[0] != '/' || name.find('/', 1) != std::string::npos || name.size() > 255) {
      throw Napi::Error::New(env, "shm name must look like /name (one leading slash, no other)");
    }
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) ThrowErrno(env, "shm_open " + name, errno);
  } else {
    fd = memfd_create(name.c_str(), MFD_CLOEXEC);
    if (fd < 0) ThrowErrno(env, "memfd_create", errno);
  }
  auto fail = [&](const std::string& what, int err) {
    close(fd);
    if (named) shm_unlink(name.c_str());
    ThrowErrno(env, what, err);
  };
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) fail("ftruncate to " + std::to_string(size) + " bytes", errno);
  if (reserve) {
    // Refuse up front what cannot fit: fallocate would fill memory page by page first.
    struct statvfs vfs;
    unsigned long long avail = 0;
    if (fstatvfs(fd, &vfs) == 0 && vfs.f_blocks != 0) {
      avail = static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize;
    } else {
      avail = static_cast<unsigned long long>(sysconf(_SC_AVPHYS_PAGES)) * sysconf(_SC_PAGESIZE);
    }
    if (size > avail) {
      close(fd);
      if (named) shm_unlink(name.c_str());
      Napi::Error e = Napi::Error::New(env, "no space for " + std::to_string(size) + " bytes of shared memory (" +
                                                std::to_string(avail) + " available)");
      e.Set("code", Napi::String::New(env, "ENOSPC"));
      throw e;
    }
    int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (err != 0) fail("reserving " + std::to_string(size) + " bytes of shared memory", err);
  }
  int prot = PROT_READ | PROT_WRITE;
  void* addr = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) fail("mmap of " + std::to_string(size) + " bytes", errno);
  return Result(env, fd, addr, size);
}

// shmOpen(target, expectSize?) -> { fd, size, buffer }
// Always read-write: a write through a read-only SharedArrayBuffer would be a SIGSEGV.
// target: an fd number (duplicated, the caller keeps its own), a path (/dev/shm/x,
// /proc/<pid>/fd/<n>), or a POSIX shm name "/name".
static Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int flags = O_RDWR | O_CLOEXEC;
  int fd;
  std::string what;
  if (info.Length() > 0 && info[0].IsNumber()) {
    int src = info[0].As<Napi::Number>().Int32Value();
    what = "fd " + std::to_string(src);
    fd = fcntl(src, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) ThrowErrno(env, "opening shared memory " + what, errno);
  } else if (info.Length() > 0 && info[0].IsString()) {
    what = info[0].As<Napi::String>().Utf8Value();
    if (what.size() > 1 && what[0] == '/' && what.find('/', 1) == std::string::npos) {
      fd = shm_open(what.c_str(), flags, 0);
    } else {
      fd = open(what.c_str(), flags);
    }
    if (fd < 0) ThrowErrno(env, "opening shared memory " + what, errno);
  } else {
    throw Napi::TypeError::New(env, "shmOpen needs an fd number, a path or a /name");
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, "fstat of " + what, err);
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    throw Napi::Error::New(env, "shared memory " + what + " is empty (size 0)");
  }
  if (info.Length() > 1 && info[1].IsNumber()) {
    double want = info[1].As<Napi::Number>().DoubleValue();
    if (want != static_cast<double>(size)) {
      close(fd);
      throw Napi::Error::New(env, "shared memory " + what + " has " + std::to_string(size) +
                                      " bytes, expected " + std::to_string(static_cast<size_t>(want)));
    }
  }
  void* addr = MapFd(env, fd, size, what);
  return Result(env, fd, addr, size);
}

static Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "shmUnlink needs a /name");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (shm_unlink(name.c_str()) != 0) ThrowErrno(env, "shm_unlink " + name, errno);
  return env.Undefined();
}

static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "closeFd needs an fd");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (close(fd) != 0) ThrowErrno(env, "close fd " + std::to_string(fd), errno);
  return env.Undefined();
}

void InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("shmCreate", Napi::Function::New(env, ShmCreate, "shmCreate"));
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
}

}  // namespace tsemu
