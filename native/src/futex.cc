// Cross-process wait/wake on a 32-bit word of shared memory: Linux futexes without
// FUTEX_PRIVATE_FLAG, so a waiter in one process is woken from another that maps the same
// object (Atomics.wait/notify only reach threads of one process). Callable from any
// worker thread. The JS side passes an Int32Array and an element index, as Atomics does.
#include "addon.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <thread>

namespace tsemu {

enum class WaitResult { kOk, kNotEqual, kTimedOut };

static long SysFutex(int32_t* addr, int op, int32_t val, const struct timespec* ts) {
  return syscall(SYS_futex, addr, op, val, ts, nullptr, 0);
}

static double NowMs() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// timeoutMs < 0 or infinite: wait forever. Retries after signals with the time left.
static WaitResult Wait(int32_t* addr, int32_t expected, double timeoutMs, int* errOut) {
  bool forever = !(timeoutMs >= 0) || std::isinf(timeoutMs);
  double deadline = forever ? 0 : NowMs() + timeoutMs;
  for (;;) {
    if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) != expected) return WaitResult::kNotEqual;
    struct timespec ts;
    struct timespec* pts = nullptr;
    if (!forever) {
      double left = deadline - NowMs();
      if (left <= 0) return WaitResult::kTimedOut;
      ts.tv_sec = static_cast<time_t>(left / 1e3);
      ts.tv_nsec = static_cast<long>(std::fmod(left, 1e3) * 1e6);
      pts = &ts;
    }
    long r = SysFutex(addr, FUTEX_WAIT, expected, pts);
    if (r == 0) return WaitResult::kOk;
    if (errno == EAGAIN) return WaitResult::kNotEqual;
    if (errno == ETIMEDOUT) return WaitResult::kTimedOut;
    if (errno == EINTR) continue;
    *errOut = errno;
    return WaitResult::kOk;
  }
}

static const char* ResultName(WaitResult r) {
  switch (r) {
    case WaitResult::kOk: return "ok";
    case WaitResult::kNotEqual: return "not-equal";
    default: return "timed-out";
  }
}

static double TimeoutArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return -1;
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "timeout must be a number of milliseconds");
  return info[i].As<Napi::Number>().DoubleValue();
}

// futexWait(int32array, index, expected, timeoutMs?) -> "ok" | "not-equal" | "timed-out"
static Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* addr = Int32Slot(info, 0, 1);
  if (info.Length() < 3 || !info[2].IsNumber()) throw Napi::TypeError::New(env, "expected value must be a number");
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  double timeout = TimeoutArg(info, 3);
  int err = 0;
  WaitResult r = Wait(addr, expected, timeout, &err);
  if (err != 0) ThrowErrno(env, "futex wait", err);
  return Napi::String::New(env, ResultName(r));
}

// futexWake(int32array, index, count?) -> number of waiters woken
static Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* addr = Int32Slot(info, 0, 1);
  int32_t count = 0x7fffffff;
  if (info.Length() > 2 && info[2].IsNumber()) {
    double c = info[2].As<Napi::Number>().DoubleValue();
    count = c >= 0x7fffffff ? 0x7fffffff : static_cast<int32_t>(c);
    if (count < 0) throw Napi::RangeError::New(env, "count must be positive");
  }
  long r = SysFutex(addr, FUTEX_WAKE, count, nullptr);
  if (r < 0) ThrowErrno(env, "futex wake", errno);
  return Napi::Number::New(env, static_cast<double>(r));
}

// futexWaitAsync(int32array, index, expected, timeoutMs?) -> Promise<result>
// The wait runs on its own thread (not libuv's pool, which a long wait would starve); the
// array is kept referenced until the promise settles, so its mapping cannot go away.
struct AsyncWait {
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Value> keep;
  Napi::ThreadSafeFunction tsfn;
  WaitResult result = WaitResult::kOk;
  int err = 0;
  explicit AsyncWait(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

static Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* addr = Int32Slot(info, 0, 1);
  if (info.Length() < 3 || !info[2].IsNumber()) throw Napi::TypeError::New(env, "expected value must be a number");
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  double timeout = TimeoutArg(info, 3);
  auto* job = new AsyncWait(env);
  job->keep = Napi::Persistent(info[0]);
  Napi::Promise promise = job->deferred.Promise();
  job->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function(), "tsemu.futexWaitAsync", 0, 1);
  std::thread([job, addr, expected, timeout]() {
    job->result = Wait(addr, expected, timeout, &job->err);
    Napi::ThreadSafeFunction tsfn = job->tsfn;  // the job is freed by the callback
    tsfn.BlockingCall([job](Napi::Env env, Napi::Function) {
      if (job->err != 0) {
        job->deferred.Reject(Napi::Error::New(env, "futex wait failed").Value());
      } else {
        job->deferred.Resolve(Napi::String::New(env, ResultName(job->result)));
      }
      job->keep.Reset();
      delete job;
    });
    tsfn.Release();
  }).detach();
  return promise;
}

void InitFutex(Napi::Env env, Napi::Object exports) {
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
  exports.Set("futexWaitAsync", Napi::Function::New(env, FutexWaitAsync, "futexWaitAsync"));
}

}  // namespace tsemu
