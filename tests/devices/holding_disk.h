#pragma once
// A BlkDisk for device tests that passes everything to a real one but keeps the requests a
// test picks until the test lets them go: completions that arrive later, outside submit(),
// in an order and at a moment the test controls.
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "block/request.h"
#include "devices/virtio/virtio_blk.h"
#include "virtio_test_util.h"

namespace devices::testing {

class HoldingDisk : public virtio::BlkDisk {
 public:
  using Hold = std::function<bool(const block::Request&)>;
  HoldingDisk(std::unique_ptr<virtio::BlkDisk> inner, Hold hold) : inner_(std::move(inner)), hold_(std::move(hold)) {}

  void submit(block::Request& req) override {
    if (hold_(req)) {
      held_.push_back(&req);
    } else {
      inner_->submit(req);
    }
  }
  // Submits the held requests to the real disk (where they may complete at once); returns
  // how many.
  size_t release() {
    auto held = std::exchange(held_, {});
    for (block::Request* r : held) inner_->submit(*r);
    return held.size();
  }
  size_t held() const { return held_.size(); }

  void begin_batch() override { inner_->begin_batch(); }
  void end_batch() override { inner_->end_batch(); }
  int completion_fd() const override { return inner_->completion_fd(); }
  size_t process_completions() override { return inner_->process_completions(); }
  size_t process_ready_completions() override { return inner_->process_ready_completions(); }
  block::Geometry geometry() const override { return inner_->geometry(); }
  bool write_cache_enabled() const override { return inner_->write_cache_enabled(); }
  void set_write_cache_enabled(bool on) override { inner_->set_write_cache_enabled(on); }
  bool default_write_cache() const override { return inner_->default_write_cache(); }
  std::optional<block::zoned::ZonedConfig> zoned_config() const override { return inner_->zoned_config(); }

 private:
  std::unique_ptr<virtio::BlkDisk> inner_;
  Hold hold_;
  std::vector<block::Request*> held_;
};

// Replaces `dev` with a VirtioBlk over `disk` (default options), wired to `msi` and `hooks`,
// and `drv` with a driver for it; returns the disk.
template <typename D>
D* attach_device(std::unique_ptr<D> disk, TestRam& ram, FakeMsi& msi, FakeHooks& hooks,
                 std::unique_ptr<virtio::VirtioBlk>& dev, std::unique_ptr<TestDriver>& drv) {
  D* raw = disk.get();
  drv.reset();
  dev = std::make_unique<virtio::VirtioBlk>(ram.memory, std::move(disk), virtio::VirtioBlkOptions{});
  dev->set_msi_sender(&msi);
  dev->set_notify_hooks(&hooks);
  drv = std::make_unique<TestDriver>(*dev, ram);
  return raw;
}

}  // namespace devices::testing
