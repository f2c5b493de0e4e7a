// AHCI command lifecycle on the host, no guest: the benchmark thread plays Linux's ahci driver
// (bench/ahci_guest.h) and the VMM's I/O thread. One round = reap backend completions (-> Set
// Device Bits / D2H FIS, PxIS, MSI), run the work the controller posted, take the guest's
// interrupt (PxIS/IS acknowledge, finished tags from PxSACT or PxCI), reissue those slots with
// new random sectors (command FIS + PxSACT + PxCI writes) and run process_port() (command header
// -> FIS -> ATA decode -> PRDT -> block::Request -> Backend::submit). See docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <bit>
#include <memory>
#include <vector>

#include "bench/ahci_guest.h"
#include "bench/bench_disk.h"
#include "bench/guest_ram.h"
#include "bench/io_loop_runner.h"
#include "bench/machine_stubs.h"
#include "bench/request_meter.h"
#include "devices/ahci/ahci.h"

namespace bench {
namespace {

template <typename Runner>
void run_ahci(benchmark::State& state, DiskKind kind) {
  const int depth = static_cast<int>(state.range(0));
  const bool write = state.range(1) != 0;
  const bool ncq = state.range(2) != 0;
  const auto segments = static_cast<uint32_t>(state.range(3));
  std::unique_ptr<BenchDisk> disk = open_or_skip(state, kind);
  if (!disk) return;
  const bool wait = completes_asynchronously(kind);
  GuestRam ram;
  CountingMsi msi;
  Runner io;
  devices::ahci::AhciController hba(ram.memory(), {{&disk->backend(), {}}});
  hba.set_msi_sender(&msi);
  hba.set_io_thread_hook(&io.hook());
  AhciGuest guest(ram, hba, {.ncq = ncq, .segments = segments});
  SectorPicker pick(kDiskBytes, uint64_t{segments} * 4096);

  for (int s = 0; s < depth; ++s) guest.issue(s, write, pick.next());
  io.run();
  // Completions go through the controller, as the VMM's I/O loop delivers them (one MSI per
  // delivery round).
  auto reap = [&](bool block) { return disk->reap_via(block, [&] { return hba.process_completions(0); }); };
  auto round = [&] {
    reap(wait);
    io.run();  // what completions posted (the port is re-examined)
    uint32_t done = guest.reap();
    for (uint32_t m = done; m != 0; m &= m - 1) guest.issue(std::countr_zero(m), write, pick.next());
    io.run();  // process_port: the reissued commands reach the backend
    return std::popcount(done);
  };
  for (int i = 0; i < 256; ++i) round();

  RequestMeter meter;
  uint64_t irqs = msi.sent;
  uint64_t completed = 0;
  meter.start();
  for (auto _ : state) completed += static_cast<uint64_t>(round());
  meter.report(state, completed, msi.sent - irqs);

  while (hba.busy_slots(0) > 0) {
    reap(true);
    io.run();
  }
  if (guest.errors() != 0) state.SkipWithError("commands failed");
}

void BM_Ahci(benchmark::State& state, DiskKind kind) { run_ahci<PostedRunner>(state, kind); }
void BM_AhciIoLoop(benchmark::State& state, DiskKind kind) { run_ahci<IoLoopRunner>(state, kind); }

// NCQ at qd 1 and 32, both directions; READ DMA EXT (not queued) at qd 1; with `sg`, a 64 KiB
// NCQ read of 16 PRDs on non-contiguous pages (the scatter-gather path).
void args(benchmark::internal::Benchmark* b, bool sg) {
  b->ArgNames({"qd", "write", "ncq", "segs"});
  for (int qd : {1, 32}) {
    for (int write : {0, 1}) b->Args({qd, write, 1, 1});
  }
  b->Args({1, 0, 0, 1});
  if (sg) b->Args({32, 0, 1, 16});
  b->UseRealTime();
}
void args_sg(benchmark::internal::Benchmark* b) { args(b, true); }
void args_plain(benchmark::internal::Benchmark* b) { args(b, false); }

BENCHMARK_CAPTURE(BM_Ahci, device_only, DiskKind::kDeviceOnly)->Apply(args_sg);
BENCHMARK_CAPTURE(BM_Ahci, null, DiskKind::kNull)->Apply(args_sg);
BENCHMARK_CAPTURE(BM_Ahci, uring_none, DiskKind::kUringNone)->Apply(args_plain);
BENCHMARK_CAPTURE(BM_Ahci, uring_writeback, DiskKind::kUringWriteback)->Apply(args_plain);
// Same as device_only, with commands handed over through the VMM's vmm::IoLoop::post().
BENCHMARK_CAPTURE(BM_AhciIoLoop, device_only, DiskKind::kDeviceOnly)
    ->ArgNames({"qd", "write", "ncq", "segs"})
    ->Args({1, 0, 1, 1})
    ->Args({32, 0, 1, 1})
    ->UseRealTime();

}  // namespace
}  // namespace bench

BENCHMARK_MAIN();
