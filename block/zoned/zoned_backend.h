#pragma once
// A zoned (host-managed) drive emulated on a regular file: the zone layer of the block layer.
// (Also the front of pass-through to a host zoned device, see zone_device.h.)
//
//   device ──Request──▶ ZonedBackend ──Request──▶ Backend ──▶ Driver ──▶ image
//                          │ ZoneTable (state machine, write pointers)
//                          └ ZoneMetadata (<image>.zones: durable write pointers)
//
// A device submits every request of a zoned drive here, including the zone operations of
// block::Op (report, open, close, finish, reset, reset all, append); regular reads, writes and
// flushes pass through to the inner Backend with the zone rules applied. Statuses map 1:1
// onto virtio-blk's (kZoneInvalidCmd -> S_ZONE_INVALID_CMD, ...).
//
// Threading: like Backend, everything (submit, process_completions, every completion) runs
// on the I/O thread; completion_fd() is the inner backend's eventfd.
//
// Write pointers and failures. A write or append is checked and its range *reserved* when it
// is submitted: the zone's write pointer moves at once, so two appends in flight get disjoint
// ranges and a write at the new write pointer is accepted while earlier ones are still in
// flight. Completions are delivered in write-pointer order per zone: a write completes (and
// its range counts as data) only once every earlier write to the zone did. If a write fails,
// the writes after it in the same zone fail too (EIO), and once none of them is in flight
// any more the write pointer goes back to the start of the failed write; until then new
// writes to that zone fail with EIO. The write pointer therefore never covers data that was
// not written. (One exception the other way round: a FUA write whose data landed but whose
// extra image flush failed completes with the flush's error while its data counts.)
// RESET, FINISH and RESET ALL wait until the zone's (all zones') writes have
// completed; zone-modifying requests submitted after them wait behind them (order is kept).
//
// Durability (docs/zoned-format.md): a write pointer reaches the metadata file only when the
// data below it is durable: on FLUSH (snapshot the write pointers, fdatasync the image, then
// write and fdatasync the records), on completion of FUA / writethrough writes, and for zone
// management commands (RESET/FINISH/RESET ALL are durable when they complete). Metadata
// writes are small synchronous pwrite+fdatasync calls on the I/O thread.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "block/backend.h"
#include "block/request_queue.h"
#include "block/zoned/zone_device.h"
#include "block/zoned/zone_metadata.h"
#include "block/zoned/zone_state.h"

namespace block::zoned {

// The virtio-blk zoned characteristics (and what ATA/ZBC would need), in one place.
struct ZonedConfig {
  uint64_t capacity_sectors = 0;  // the disk size the device reports
  uint32_t nr_zones = 0;
  uint32_t zone_sectors = 0;
  uint32_t max_open_zones = 0;    // 0 = no limit
  uint32_t max_active_zones = 0;  // 0 = no limit
  uint32_t max_append_sectors = 0;
  uint32_t write_granularity = 512;  // bytes
  uint8_t model = 1;                 // host-managed (VIRTIO_BLK_Z_HM)
};

class ZonedBackend {
 public:
  // Opens the image (Backend::open) and its metadata file `<file>.zones`, creating the latter
  // on first use. Throws BlockError with a one-line message (bad zone options, file too
  // small, metadata geometry mismatch, ...). Requires options.zoned.enabled.
  static std::unique_ptr<ZonedBackend> open(const DriveOptions& options);
  // Over any backend (tests: memory or fault-injecting drivers). `metadata_path` empty: the
  // zone state lives in memory only.
  ZonedBackend(std::unique_ptr<Backend> inner, const ZonedOptions& options,
               const std::string& metadata_path, const std::string& image_name);
  // Pass-through to a host zoned device (see zone_device.h): `inner` does the data I/O on the
  // device, `device` the zone report and commands. Throws BlockError for unsupported layouts.
  ZonedBackend(std::unique_ptr<Backend> inner, std::unique_ptr<ZoneDevice> device,
               const std::string& image_name);
  // Persists the write pointers after a final flush (blocks on the I/O thread, bounded).
  ~ZonedBackend();
  ZonedBackend(const ZonedBackend&) = delete;
  ZonedBackend& operator=(const ZonedBackend&) = delete;

  // Same contract as Backend::submit: exactly one completion, possibly before returning.
  void submit(Request& req);

  void begin_batch() { inner_->begin_batch(); }
  void end_batch() { inner_->end_batch(); }
  int completion_fd() const { return inner_->completion_fd(); }
  size_t process_completions() { return inner_->process_completions(); }
  size_t process_ready_completions() { return inner_->process_ready_completions(); }
  size_t in_flight() const { return inner_->in_flight() + held_.size(); }

  // Disk geometry for the device: size = the zoned capacity; no discard (host-managed).
  Geometry geometry() const;
  ZonedConfig zoned_config() const;
  bool write_cache_enabled() const { return inner_->write_cache_enabled(); }
  void set_write_cache_enabled(bool on) { inner_->set_write_cache_enabled(on); }

  // Synchronous REPORT ZONES: records for the zones from the one containing `sector`, at most
  // out.size() of them; returns how many were filled (0 past the end of the disk).
  size_t report_zones(uint64_t sector, std::span<ZoneReport> out) const;

  // Tests and fault injection: makes a sequential zone READ-ONLY or OFFLINE (persisted).
  // Not for pass-through devices (kUnsupported).
  Status inject_condition(uint32_t zone, ZoneCondition condition);
  bool pass_through() const { return device_ != nullptr; }

  const ZoneTable& zones() const { return table_; }
  const ZoneMetadata& metadata() const { return metadata_; }
  Backend& inner() { return *inner_; }

 private:
  struct Io;
  struct ZoneRuntime {
    Io* head = nullptr;  // writes not yet delivered, in write-pointer order
    Io* tail = nullptr;
    uint32_t writes = 0;
    bool failed = false;  // a write in the list failed
    bool dirty = false;   // in dirty_: data_end > durable
    uint64_t durable = 0;  // data below this sector is durable
    uint64_t epoch = 0;    // bumped by RESET: older flush snapshots no longer apply
    ZoneCondition persisted_condition = ZoneCondition::kEmpty;
    uint64_t persisted_end = 0;
  };
  friend struct Io;
  struct Setup {
    ZoneGeometry geometry;
    ZoneMetadata metadata;
    std::unique_ptr<ZoneDevice> device;
    std::vector<ZoneReport> device_zones;
  };
  static Setup setup_from_options(const Backend& inner, const ZonedOptions& options,
                                  const std::string& metadata_path, const std::string& image_name);
  static Setup setup_from_device(const Backend& inner, std::unique_ptr<ZoneDevice> device,
                                 const std::string& image_name);
  ZonedBackend(std::unique_ptr<Backend>&& inner, Setup setup);
  void load_zone(uint32_t zone, const ZoneReport& device_zone, bool close_open_zones);
  Status device_command(Op op, uint32_t zone);
  void resync_from_device(uint32_t zone);

  void dispatch(Request& req, bool from_held);
  bool blocked(const Request& req) const;
  void hold(Request& req);
  void drain_held();
  void handle_read(Request& req);
  void handle_write(Request& req, bool append, bool from_held);
  void handle_flush(Request& req);
  void handle_management(Request& req, bool from_held);
  void handle_report(Request& req);
  void handle_conventional(Request& req);
  void start_next_write(uint32_t zone, bool failed);

  void on_complete(Io& io, Status status);
  void settle(uint32_t zone);
  void finish_flush(Io& io, Status status);
  void mark_dirty(uint32_t zone);
  Status persist(uint32_t zone, bool sync);
  Status persist_zones(const std::vector<uint32_t>& zones);
  void after_reset(uint32_t zone);
  // Gives a reset zone's space back to the host file system (emulation on a file only). Call it
  // only after the reset is persisted: a crash must never find a write pointer over a hole.
  void release_space(uint32_t zone);
  void flush_for_shutdown();

  Io& acquire();
  void release(Io& io);

  bool read_only_ = false;
  bool unsafe_ = false;  // cache=unsafe: no durability is promised
  ZoneTable table_;
  ZoneMetadata metadata_;
  std::vector<ZoneRuntime> runtime_;
  std::vector<uint32_t> dirty_;   // zones whose data_end is ahead of what is durable
  uint64_t zone_writes_ = 0;      // writes in flight over all zones
  detail::RequestQueue held_;     // waiting zone requests, in submission order
  std::vector<std::unique_ptr<Io>> pool_;  // before inner_: in-flight Ios outlive the driver
  std::vector<Io*> free_;
  bool shutdown_flush_done_ = false;
  std::unique_ptr<ZoneDevice> device_;  // pass-through only
  std::unique_ptr<Backend> inner_;
};

}  // namespace block::zoned
