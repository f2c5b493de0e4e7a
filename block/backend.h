#pragma once
// The device-facing side of the block layer. Devices submit Requests here; the backend
// applies the drive's policy (bounds, read-only, write cache / FUA, flush, discard mode) and
// hands what is left to its driver.
//
// Threading: submit(), process_completions() and the batch calls run on the VMM's I/O thread.
// A device whose requests originate on a vCPU thread (AHCI/IDE MMIO/PIO) must pass them to
// the I/O thread rather than call submit() itself. set_write_cache_enabled() and the getters
// may be called from any thread.
//
// I/O thread integration: poll completion_fd() for readability (epoll/io_uring poll) and call
// process_completions() when it fires. Devices may also call process_ready_completions() at
// the end of a Batch to deliver synchronous completions without any system call.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "block/cache_mode.h"
#include "block/drive_options.h"
#include "block/driver.h"
#include "block/image_file.h"
#include "block/request.h"

namespace block {

// What a device needs to describe the disk to the guest.
struct Geometry {
  uint64_t size_bytes = 0;
  uint32_t logical_block_size = 512;   // always 512: never the host's O_DIRECT alignment
  uint32_t physical_block_size = 512;  // hint (4096 on 4K-native host storage)
  uint32_t optimal_io_size = 0;        // bytes; 0 = no preference
  bool read_only = false;
  bool discard = false;       // discard=unmap: DISCARD deallocates (else accepted as a no-op)
  bool write_zeroes = true;   // always available (falls back to writing zeroes)
  bool write_cache = true;    // current guest-visible write cache state (see Backend)
};

struct BackendPolicy {
  CacheMode cache;
  bool read_only = false;
  bool discard_unmap = false;
};

class Backend {
 public:
  // Opens the image and the driver chosen by aio=. Throws BlockError with a one-line message.
  static std::unique_ptr<Backend> open(const DriveOptions& options);
  // Tests and benchmarks: a backend over any driver (e.g. NullDriver) with a fixed size.
  Backend(std::unique_ptr<Driver> driver, BackendPolicy policy, uint64_t size_bytes,
          uint32_t physical_block_size = 512);
  Backend(ImageFile image, std::unique_ptr<Driver> driver, BackendPolicy policy);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Exactly one req.completion->complete() follows. Requests the policy settles without I/O
  // (errors, flush on a read-only disk or in unsafe mode, discard=ignore, zero length)
  // complete before submit() returns; everything else completes from process_completions().
  // The request and its iovecs must stay valid until then; submitting a request that has not
  // completed yet throws std::logic_error.
  void submit(Request& req);

  // Groups submissions into one kernel call; see Batch for the RAII form.
  void begin_batch() { driver_->begin_batch(); }
  void end_batch() { driver_->end_batch(); }
  class Batch {
   public:
    explicit Batch(Backend& backend) : backend_(backend) { backend_.begin_batch(); }
    ~Batch() { backend_.end_batch(); }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    Backend& backend_;
  };

  int completion_fd() const { return driver_->completion_fd(); }
  size_t process_completions() { return driver_->process_completions(); }
  // Delivers what the driver already holds (NullDriver: everything) without a system call;
  // returns how many. Devices call it inside their submission batch, after submitting: for
  // requests reaped here the driver never signals completion_fd() (see block/driver.h).
  size_t process_ready_completions() {
    return driver_->completions_ready() ? driver_->process_completions() : 0;
  }
  size_t in_flight() const { return driver_->in_flight(); }

  Geometry geometry() const;
  const CacheMode& cache_mode() const { return policy_.cache; }
  // The guest-visible write cache (virtio CONFIG_WCE writeback field, ATA SET FEATURES
  // 02h/82h). Off means writethrough: every write is FUA.
  bool write_cache_enabled() const { return write_cache_.load(std::memory_order_relaxed); }
  void set_write_cache_enabled(bool on) {
    if (write_cache_.exchange(on, std::memory_order_relaxed) != on && on_write_cache_change_) {
      on_write_cache_change_(on);
    }
  }
  // Told each time the guest actually changes the write cache state (e.g. to log it). Set it
  // before the guest runs; it is called on whichever thread made the change.
  void on_write_cache_change(std::function<void(bool on)> observer) {
    on_write_cache_change_ = std::move(observer);
  }

  Driver& driver() { return *driver_; }
  // The image file's descriptor, for out-of-band space management (zone reset punching holes);
  // -1 for a backend without an image (tests, benchmarks).
  int image_fd() const { return image_ ? image_->fd() : -1; }

 private:
  Status check_range(const Request& req) const;

  std::optional<ImageFile> image_;  // before driver_: the driver borrows its fd
  std::unique_ptr<Driver> driver_;
  BackendPolicy policy_;
  uint64_t size_bytes_;
  uint32_t physical_block_size_;
  std::atomic<bool> write_cache_;
  std::function<void(bool on)> on_write_cache_change_;
};

}  // namespace block
