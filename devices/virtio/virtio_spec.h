#pragma once
// Constants of the virtio 1.x specification used by the PCI transport, the split virtqueue and
// the block device. Written from the specification text (virtio-v1.2/1.3).
#include <cstdint>

namespace devices::virtio {

// Device status bits.
namespace device_status {
inline constexpr uint8_t kAcknowledge = 1;
inline constexpr uint8_t kDriver = 2;
inline constexpr uint8_t kDriverOk = 4;
inline constexpr uint8_t kFeaturesOk = 8;
inline constexpr uint8_t kNeedsReset = 64;
inline constexpr uint8_t kFailed = 128;
}  // namespace device_status

// Transport / ring feature bits.
namespace feature {
inline constexpr unsigned kIndirectDesc = 28;
inline constexpr unsigned kEventIdx = 29;
inline constexpr unsigned kVersion1 = 32;
inline constexpr unsigned kAccessPlatform = 33;
inline constexpr unsigned kRingPacked = 34;
}  // namespace feature

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

inline constexpr uint16_t kNoVector = 0xFFFF;

// Split virtqueue layout.
namespace ring {
inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;
inline constexpr uint16_t kAvailNoInterrupt = 1;
inline constexpr size_t kDescSize = 16;
inline constexpr size_t kUsedElemSize = 8;
}  // namespace ring

// virtio-pci capability types (struct virtio_pci_cap.cfg_type).
namespace pci_cap {
inline constexpr uint8_t kCommon = 1;
inline constexpr uint8_t kNotify = 2;
inline constexpr uint8_t kIsr = 3;
inline constexpr uint8_t kDevice = 4;
inline constexpr uint8_t kPciCfg = 5;
}  // namespace pci_cap

inline constexpr uint16_t kPciVendorId = 0x1AF4;
inline constexpr uint16_t kPciDeviceIdBase = 0x1040;  // + device type (modern)

namespace device_type {
inline constexpr uint16_t kBlock = 2;
}

}  // namespace devices::virtio
