// Process helpers the supervisor needs and Node lacks.
#include "addon.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>

namespace tsemu {

// setParentDeathSignal(signal): the kernel sends `signal` to this process when its parent
// dies, even by SIGKILL. Returns the parent pid at the time of the call, so the caller can
// tell whether the parent had already gone (then it is 1 or a subreaper).
static Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "signal number required");
  int sig = info[0].As<Napi::Number>().Int32Value();
  if (prctl(PR_SET_PDEATHSIG, sig) != 0) ThrowErrno(env, "prctl(PR_SET_PDEATHSIG)", errno);
  return Napi::Number::New(env, getppid());
}

// gettid() of the calling thread: lets logs and tests tell worker threads apart.
static Napi::Value GetTid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(gettid()));
}

// schedYield(): give the rest of this thread's time slice to another runnable thread. A
// hart spinning in a guest lock calls it (the guest's `pause` hint) so that the hart it
// waits for gets the host core when there are more harts than cores.
static Napi::Value SchedYield(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("schedYield", Napi::Function::New(env, SchedYield, "schedYield"));
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
  exports.Set("gettid", Napi::Function::New(env, GetTid, "gettid"));
}

}  // namespace tsemu
