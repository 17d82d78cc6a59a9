// tsemu native addon: shared memory objects, cross-process futexes, process helpers, a socket writer thread.
// Each part registers its exports here; see addon.cc.
#pragma once
#include <napi.h>
#include <string>

namespace tsemu {

void InitShm(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitProcess(Napi::Env env, Napi::Object exports);
void InitSocketWriter(Napi::Env env, Napi::Object exports);
void InitFileWriter(Napi::Env env, Napi::Object exports);
void InitFileRead(Napi::Env env, Napi::Object exports);

// The errno's name (ENOSPC, EIO, ...), EUNKNOWN for the rest.
const char* ErrnoName(int err);

// A JS Error whose message names the operation and errno, and whose `code` is the errno
// name (ENOSPC, EACCES, ...), so callers can branch on it; ThrowErrno throws it.
Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err);
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& what, int err);

// The memory of a Uint8Array (a view of a SharedArrayBuffer too); throws a TypeError
// "<what>: bytes must be a Uint8Array" for anything else.
struct Bytes {
  uint8_t* data;
  size_t length;
};
Bytes Uint8Bytes(Napi::Env env, Napi::Value value, const char* what);

// A file offset for `length` bytes from a JS number: whole range within 2^53 - 1, else a
// RangeError "<what>: bad offset".
uint64_t FileOffset(Napi::Env env, Napi::Value value, size_t length, const char* what);

// Returns the address of element `index` of an Int32Array, after bounds checks.
int32_t* Int32Slot(const Napi::CallbackInfo& info, size_t argArray, size_t argIndex);

}  // namespace tsemu
