// FileWriter: positional writes to one file from a thread of its own, in the order given.
//
// write(bytes, offset) queues a pwrite of the caller's bytes (not copied: the caller keeps
// them unchanged until the returned promise settles; a reference keeps them alive) and
// returns a promise. The thread takes the queue in order and issues each pwrite as soon as
// the one before it returned, so a stream of writes queued ahead runs back to back in the
// kernel: no event-loop turn sits between one write's end and the next one's start, as it
// does when each write goes through libuv's pool after the previous one's callback ran.
// Completions go back in batches through a ThreadSafeFunction. The loop is held open only
// while writes are outstanding. close() waits for the queue to drain and ends the thread.
#include "addon.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tsemu {
namespace {

struct Job {
  const uint8_t* data = nullptr;
  size_t length = 0;
  uint64_t offset = 0;
  int err = 0;
  napi_deferred deferred = nullptr;
  napi_ref keep = nullptr;
};

struct Shared;
void Deliver(Napi::Env env, Napi::Function fn, Shared* s, void*);
using Tsfn = Napi::TypedThreadSafeFunction<Shared, void, Deliver>;

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job*> queue;
  std::vector<Job*> done;
  bool closing = false;
  bool posted = false;  // a Deliver call is on its way
  int fd = -1;          // our dup of the file
  uint64_t outstanding = 0;  // main thread only
  bool reffed = false;       // main thread only
  Tsfn tsfn;
  std::thread thread;

  ~Shared() {
    if (fd >= 0) ::close(fd);
  }
};

void Deliver(Napi::Env env, Napi::Function, Shared* s, void*) {
  std::vector<Job*> jobs;
  {
    std::lock_guard<std::mutex> lk(s->mu);
    jobs.swap(s->done);
    s->posted = false;
  }
  if (env == nullptr) {
    for (Job* j : jobs) delete j;
    return;
  }
  for (Job* j : jobs) {
    Napi::HandleScope scope(env);
    if (j->err == 0) {
      napi_resolve_deferred(env, j->deferred, env.Undefined());
    } else {
      napi_reject_deferred(env, j->deferred, ErrnoError(env, "pwrite", j->err).Value());
    }
    napi_delete_reference(env, j->keep);
    delete j;
    s->outstanding--;
  }
  if (s->outstanding == 0 && s->reffed) {
    s->tsfn.Unref(env);
    s->reffed = false;
  }
}

int WriteAll(int fd, const uint8_t* p, size_t n, uint64_t at) {
  while (n) {
    ssize_t w = pwrite(fd, p, n, static_cast<off_t>(at));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
    at += static_cast<uint64_t>(w);
  }
  return 0;
}

void Run(Shared* s) {
  for (;;) {
    Job* j;
    {
      std::unique_lock<std::mutex> lk(s->mu);
      s->cv.wait(lk, [&] { return s->closing || !s->queue.empty(); });
      if (s->queue.empty()) break;  // closing, and drained
      j = s->queue.front();
      s->queue.pop_front();
    }
    j->err = WriteAll(s->fd, j->data, j->length, j->offset);
    bool post;
    {
      std::lock_guard<std::mutex> lk(s->mu);
      s->done.push_back(j);
      post = !s->posted;
      s->posted = true;
    }
    if (post) s->tsfn.NonBlockingCall();
  }
}

class FileWriter : public Napi::ObjectWrap<FileWriter> {
 public:
  static void Define(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "FileWriter", {
      InstanceMethod<&FileWriter::Write>("write"),
      InstanceMethod<&FileWriter::Close>("close"),
    });
    exports.Set("FileWriter", f);
  }

  // new FileWriter(fd)
  FileWriter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FileWriter>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "FileWriter(fd)");
    int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) ThrowErrno(env, "dup", errno);
    Shared* s = new Shared();
    s->fd = fd;
    // The TSFN owns the Shared: it is freed once the TSFN is released and its calls ran.
    s->tsfn = Tsfn::New(env, "tsemu.FileWriter", 0, 1, s, [](Napi::Env, void*, Shared* ctx) { delete ctx; });
    s->tsfn.Unref(env);
    s->thread = std::thread(Run, s);
    shared_ = s;
  }

  ~FileWriter() override { Stop(nullptr); }

 private:
  // write(bytes: Uint8Array, offset: number): Promise<void>
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!shared_) throw Napi::Error::New(env, "FileWriter is closed");
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "write(bytes, offset)");
    Bytes b = Uint8Bytes(env, info[0], "write");
    uint64_t off = FileOffset(env, info[1], b.length, "write");
    auto j = std::make_unique<Job>();
    j->data = b.data;
    j->length = b.length;
    j->offset = off;
    napi_value promise;
    if (napi_create_promise(env, &j->deferred, &promise) != napi_ok) throw Napi::Error::New(env, "write: no promise");
    napi_create_reference(env, info[0], 1, &j->keep);
    if (shared_->outstanding++ == 0 && !shared_->reffed) {
      shared_->tsfn.Ref(env);
      shared_->reffed = true;
    }
    {
      std::lock_guard<std::mutex> lk(shared_->mu);
      shared_->queue.push_back(j.release());
    }
    shared_->cv.notify_one();
    return Napi::Value(env, promise);
  }

  // close(): waits for what is queued to be written (the caller awaits its writes first,
  // so this is normally at once), ends the thread; promises still unsettled stay so.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop(&info);
    return info.Env().Undefined();
  }

  void Stop(const Napi::CallbackInfo* info) {
    if (!shared_) return;
    {
      std::lock_guard<std::mutex> lk(shared_->mu);
      shared_->closing = true;
    }
    shared_->cv.notify_one();
    if (shared_->thread.joinable()) shared_->thread.join();
    // A Deliver may still be queued on the loop; the TSFN's finalizer frees the Shared.
    Shared* s = shared_;
    shared_ = nullptr;
    s->tsfn.Release();
  }

  Shared* shared_ = nullptr;
};

// alignedBuffer(size): an ArrayBuffer of `size` zero bytes at a page-aligned address
// (anonymous mmap, unmapped when collected). JS allocations of this size start 16 bytes
// into a page, and the kernel's copy into user memory (read, recv) runs at about half speed
// on such a destination on some CPUs (rep movsb, AMD EPYC here: 512 MiB of pread in 75 ms
// instead of 40 ms); bulk I/O buffers come from here.
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "alignedBuffer(size)");
  double size = info[0].As<Napi::Number>().DoubleValue();
  if (!(size > 0) || size > 9007199254740991.0) throw Napi::RangeError::New(env, "alignedBuffer: bad size");
  size_t n = static_cast<size_t>(size);
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) ThrowErrno(env, "mmap", errno);
  return Napi::ArrayBuffer::New(env, p, n, [](Napi::Env, void* data, size_t* len) {
    munmap(data, *len);
    delete len;
  }, new size_t(n));
}

}  // namespace

void InitFileWriter(Napi::Env env, Napi::Object exports) {
  FileWriter::Define(env, exports);
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer, "alignedBuffer"));
}

}  // namespace tsemu
