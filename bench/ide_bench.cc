// PIIX IDE bus-master DMA lifecycle on the host, no guest: the benchmark thread plays ata_piix
// (bench/ide_guest.h) and the VMM's I/O thread. IDE has no queueing: one command at a time.
// One round = reap the backend completion (-> BM status, device status, IRQ 14 raised), take
// the interrupt (BM status, BM stop, status read, BM status write-back), start the next
// command (PRD pointer, taskfile, command, BM start) and run the posted channel work (PRD table
// walk -> block::Request -> Backend::submit). See docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <memory>

#include "bench/bench_disk.h"
#include "bench/guest_ram.h"
#include "bench/ide_guest.h"
#include "bench/io_loop_runner.h"
#include "bench/machine_stubs.h"
#include "bench/request_meter.h"
#include "devices/ide/ide.h"

namespace bench {
namespace {

void BM_IdeDma(benchmark::State& state, DiskKind kind) {
  const bool write = state.range(0) != 0;
  const auto segments = static_cast<uint32_t>(state.range(1));
  std::unique_ptr<BenchDisk> disk = open_or_skip(state, kind);
  if (!disk) return;
  const bool wait = completes_asynchronously(kind);
  GuestRam ram;
  CountingLine irq14;
  PostedRunner io;
  devices::ide::IdeController ide(ram.memory(), {devices::ide::IdeDisk{&disk->backend(), {}}, {}, {}, {}});
  ide.set_io_thread_hook(&io.hook());
  ide.connect_channel_irq(0, &irq14);
  IdeGuest guest(ram, ide, segments);
  SectorPicker pick(kDiskBytes, uint64_t{segments} * 4096);
  uint64_t errors = 0;

  guest.start(write, pick.next());
  io.run();
  auto round = [&] {
    disk->reap(wait);
    io.run();
    if (!irq14.level) return 0;
    if (!guest.complete()) ++errors;
    guest.start(write, pick.next());
    io.run();
    return 1;
  };
  for (int i = 0; i < 256; ++i) round();

  RequestMeter meter;
  uint64_t irqs = irq14.raised;
  uint64_t completed = 0;
  meter.start();
  for (auto _ : state) completed += static_cast<uint64_t>(round());
  meter.report(state, completed, irq14.raised - irqs);

  while (ide.busy(0)) {
    disk->reap(true);
    io.run();
  }
  if (errors != 0) state.SkipWithError("commands failed");
}

void args(benchmark::internal::Benchmark* b, bool sg) {
  b->ArgNames({"write", "segs"});
  b->Args({0, 1})->Args({1, 1});
  if (sg) b->Args({0, 16});
  b->UseRealTime();
}
void args_sg(benchmark::internal::Benchmark* b) { args(b, true); }
void args_plain(benchmark::internal::Benchmark* b) { args(b, false); }

BENCHMARK_CAPTURE(BM_IdeDma, device_only, DiskKind::kDeviceOnly)->Apply(args_sg);
BENCHMARK_CAPTURE(BM_IdeDma, null, DiskKind::kNull)->Apply(args_sg);
BENCHMARK_CAPTURE(BM_IdeDma, uring_none, DiskKind::kUringNone)->Apply(args_plain);
BENCHMARK_CAPTURE(BM_IdeDma, uring_writeback, DiskKind::kUringWriteback)->Apply(args_plain);

}  // namespace
}  // namespace bench

BENCHMARK_MAIN();
