#include "addon.h"

#include <cerrno>
#include <cstring>

namespace tsemu {

const char* ErrnoName(int err) {
  switch (err) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case ENOSPC: return "ENOSPC";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EFBIG: return "EFBIG";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EBADF: return "EBADF";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EINTR: return "EINTR";
    case EAGAIN: return "EAGAIN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EIO: return "EIO";
    case EDQUOT: return "EDQUOT";
    case EROFS: return "EROFS";
    case ESPIPE: return "ESPIPE";
    default: return "EUNKNOWN";
  }
}

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

void ThrowErrno(Napi::Env env, const std::string& what, int err) { throw ErrnoError(env, what, err); }

Bytes Uint8Bytes(Napi::Env env, Napi::Value value, const char* what) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value ab;
  size_t byteOffset = 0;
  if (!value.IsTypedArray() || napi_get_typedarray_info(env, value, &type, &length, &data, &ab, &byteOffset) != napi_ok ||
      type != napi_uint8_array) {
    throw Napi::TypeError::New(env, std::string(what) + ": bytes must be a Uint8Array");
  }
  return {static_cast<uint8_t*>(data), length};
}

uint64_t FileOffset(Napi::Env env, Napi::Value value, size_t length, const char* what) {
  double off = value.As<Napi::Number>().DoubleValue();
  if (!(off >= 0) || off + static_cast<double>(length) > 9007199254740991.0) throw Napi::RangeError::New(env, std::string(what) + ": bad offset");
  return static_cast<uint64_t>(off);
}

int32_t* Int32Slot(const Napi::CallbackInfo& info, size_t argArray, size_t argIndex) {
  Napi::Env env = info.Env();
  if (info.Length() <= argIndex || !info[argArray].IsTypedArray()) {
    throw Napi::TypeError::New(env, "expected an Int32Array and an index");
  }
  Napi::TypedArray ta = info[argArray].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, "expected an Int32Array");
  }
  if (!info[argIndex].IsNumber()) throw Napi::TypeError::New(env, "index must be a number");
  double idx = info[argIndex].As<Napi::Number>().DoubleValue();
  size_t len = ta.ElementLength();
  if (!(idx >= 0) || idx != static_cast<double>(static_cast<size_t>(idx)) || idx >= len) {
    throw Napi::RangeError::New(env, "index out of range");
  }
  napi_value arraybuffer;
  void* data = nullptr;
  size_t length = 0;
  size_t byteOffset = 0;
  napi_typedarray_type type;
  napi_status st = napi_get_typedarray_info(env, ta, &type, &length, &data, &arraybuffer, &byteOffset);
  if (st != napi_ok || data == nullptr) throw Napi::Error::New(env, "cannot reach the array's memory");
  // `data` already points at element 0 of the view (byte offset applied).
  return static_cast<int32_t*>(data) + static_cast<size_t>(idx);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitShm(env, exports);
  InitFutex(env, exports);
  InitProcess(env, exports);
  InitSocketWriter(env, exports);
  InitFileWriter(env, exports);
  InitFileRead(env, exports);
  return exports;
}

}  // namespace tsemu

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return tsemu::Init(env, exports); }
NODE_API_MODULE(tsemu_native, InitAddon)
