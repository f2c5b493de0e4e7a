// virtio-blk request lifecycle on the host, no guest: the benchmark thread plays the guest driver
// (bench/virtio_guest.h) and the VMM's I/O thread. One round = reap what the backend finished
// (completion -> status byte -> used ring -> MSI-X decision), let the guest read the used ring,
// make the same slots available again with new random sectors, and run process_queue() (chain
// walk + header parse -> block::Request -> Backend::submit). `qd` requests stay in flight, like
// fio's iodepth. See docs/benchmarks.md for the numbers and what is and is not included.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "bench/bench_disk.h"
#include "bench/guest_ram.h"
#include "bench/machine_stubs.h"
#include "bench/request_meter.h"
#include "bench/virtio_guest.h"
#include "devices/virtio/virtio_blk.h"

namespace bench {
namespace {

void BM_VirtioBlk(benchmark::State& state, DiskKind kind) {
  const auto depth = static_cast<uint16_t>(state.range(0));
  const bool write = state.range(1) != 0;
  const auto segments = static_cast<uint32_t>(state.range(2));
  std::unique_ptr<BenchDisk> disk = open_or_skip(state, kind);
  if (!disk) return;
  const bool wait = completes_asynchronously(kind);
  GuestRam ram;
  CountingMsi msi;
  KickFlag hooks;
  devices::virtio::VirtioBlk dev(ram.memory(), disk->backend(), devices::virtio::VirtioBlkOptions{});
  dev.set_msi_sender(&msi);
  dev.set_notify_hooks(&hooks);
  VirtioGuest guest(ram, dev, {.depth = depth, .segments = segments});
  SectorPicker pick(kDiskBytes, uint64_t{segments} * 4096);
  std::vector<uint16_t> done;
  done.reserve(depth);

  for (uint16_t s = 0; s < depth; ++s) guest.queue(s, write, pick.next());
  guest.kick_prepare();
  dev.process_queue(0);
  uint64_t kicks = 0;
  auto round = [&] {
    disk->reap_via(wait, [&dev] { return dev.process_completions(); });
    done.clear();
    guest.reap(done);
    for (uint16_t slot : done) guest.queue(slot, write, pick.next());
    // The guest notifies when EVENT_IDX says so; the device may also have kicked itself.
    bool notify = !done.empty() && guest.kick_prepare();
    kicks += notify;
    if (hooks.take() || notify) dev.process_queue(0);
    return done.size();
  };
  // Warm-up: first-use costs (page faults, lazily grown containers) are not the steady state.
  for (int i = 0; i < 256; ++i) round();

  RequestMeter meter;
  uint64_t irqs = msi.sent;
  uint64_t kicks_before = kicks;
  uint64_t completed = 0;
  meter.start();
  for (auto _ : state) completed += round();
  meter.report(state, completed, msi.sent - irqs);
  state.counters["kicks_per_req"] =
      static_cast<double>(kicks - kicks_before) / static_cast<double>(std::max<uint64_t>(completed, 1));
  state.counters["bounce_heap"] = static_cast<double>(disk->bounce_heap_fallbacks());

  while (dev.in_flight() > 0) disk->reap(true);  // nothing may point at the device afterwards
  if (guest.errors() != 0) state.SkipWithError("requests completed with a non-OK status");
}

// qd x direction with one 4 KiB data segment; `segs` = 16 adds a 64 KiB request of 16
// non-contiguous pages (the scatter-gather path) on the backends without real I/O.
void args(benchmark::internal::Benchmark* b, bool sg) {
  b->ArgNames({"qd", "write", "segs"});
  for (int qd : {1, 32}) {
    for (int write : {0, 1}) b->Args({qd, write, 1});
  }
  if (sg) b->Args({32, 0, 16});
  b->UseRealTime();
}
void args_sg(benchmark::internal::Benchmark* b) { args(b, true); }
void args_plain(benchmark::internal::Benchmark* b) { args(b, false); }

BENCHMARK_CAPTURE(BM_VirtioBlk, device_only, DiskKind::kDeviceOnly)->Apply(args_sg);
BENCHMARK_CAPTURE(BM_VirtioBlk, null, DiskKind::kNull)->Apply(args_sg);
BENCHMARK_CAPTURE(BM_VirtioBlk, uring_none, DiskKind::kUringNone)->Apply(args_plain);
BENCHMARK_CAPTURE(BM_VirtioBlk, uring_writeback, DiskKind::kUringWriteback)->Apply(args_plain);

}  // namespace
}  // namespace bench

BENCHMARK_MAIN();
