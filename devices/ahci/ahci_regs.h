#pragma once
// AHCI 1.3 register map, memory structures and FIS layouts used by AhciController.
#include <cstdint>

namespace devices::ahci {

// Generic host control (ABAR offsets).
namespace hba {
inline constexpr uint32_t kCap = 0x00;
inline constexpr uint32_t kGhc = 0x04;
inline constexpr uint32_t kIs = 0x08;
inline constexpr uint32_t kPi = 0x0C;
inline constexpr uint32_t kVs = 0x10;
inline constexpr uint32_t kCccCtl = 0x14;
inline constexpr uint32_t kCccPorts = 0x18;
inline constexpr uint32_t kEmLoc = 0x1C;
inline constexpr uint32_t kEmCtl = 0x20;
inline constexpr uint32_t kCap2 = 0x24;
inline constexpr uint32_t kBohc = 0x28;

inline constexpr uint32_t kCapS64a = 1u << 31;
inline constexpr uint32_t kCapSncq = 1u << 30;
inline constexpr uint32_t kCapSam = 1u << 18;  // AHCI mode only
inline constexpr uint32_t kCapIssGen2 = 2u << 20;
inline constexpr uint32_t kCapNcsShift = 8;

inline constexpr uint32_t kGhcHr = 1u << 0;
inline constexpr uint32_t kGhcIe = 1u << 1;
inline constexpr uint32_t kGhcAe = 1u << 31;

inline constexpr uint32_t kVersion13 = 0x00010300;
}  // namespace hba

inline constexpr uint32_t kPortBase = 0x100;
inline constexpr uint32_t kPortStride = 0x80;

// Per-port registers (offset from the port's base).
namespace px {
inline constexpr uint32_t kClb = 0x00;
inline constexpr uint32_t kClbu = 0x04;
inline constexpr uint32_t kFb = 0x08;
inline constexpr uint32_t kFbu = 0x0C;
inline constexpr uint32_t kIs = 0x10;
inline constexpr uint32_t kIe = 0x14;
inline constexpr uint32_t kCmd = 0x18;
inline constexpr uint32_t kTfd = 0x20;
inline constexpr uint32_t kSig = 0x24;
inline constexpr uint32_t kSsts = 0x28;
inline constexpr uint32_t kSctl = 0x2C;
inline constexpr uint32_t kSerr = 0x30;
inline constexpr uint32_t kSact = 0x34;
inline constexpr uint32_t kCi = 0x38;
inline constexpr uint32_t kSntf = 0x3C;
inline constexpr uint32_t kFbs = 0x40;
inline constexpr uint32_t kDevslp = 0x44;
}  // namespace px

// PxIS / PxIE bits.
namespace pis {
inline constexpr uint32_t kDhrs = 1u << 0;  // D2H register FIS received
inline constexpr uint32_t kPss = 1u << 1;   // PIO setup FIS received
inline constexpr uint32_t kDss = 1u << 2;
inline constexpr uint32_t kSdbs = 1u << 3;  // set device bits FIS received
inline constexpr uint32_t kUfs = 1u << 4;
inline constexpr uint32_t kDps = 1u << 5;   // descriptor with I bit processed
inline constexpr uint32_t kPcs = 1u << 6;
inline constexpr uint32_t kDmps = 1u << 7;
inline constexpr uint32_t kPrcs = 1u << 22;
inline constexpr uint32_t kIpms = 1u << 23;
inline constexpr uint32_t kOfs = 1u << 24;
inline constexpr uint32_t kInfs = 1u << 26;
inline constexpr uint32_t kIfs = 1u << 27;
inline constexpr uint32_t kHbds = 1u << 28;
inline constexpr uint32_t kHbfs = 1u << 29;
inline constexpr uint32_t kTfes = 1u << 30;  // task file error
inline constexpr uint32_t kCpds = 1u << 31;
inline constexpr uint32_t kValid = 0xFDC000FF;
}  // namespace pis

// PxCMD bits.
namespace pcmd {
inline constexpr uint32_t kSt = 1u << 0;
inline constexpr uint32_t kSud = 1u << 1;
inline constexpr uint32_t kPod = 1u << 2;
inline constexpr uint32_t kClo = 1u << 3;
inline constexpr uint32_t kFre = 1u << 4;
inline constexpr uint32_t kCcsShift = 8;
inline constexpr uint32_t kFr = 1u << 14;
inline constexpr uint32_t kCr = 1u << 15;
}  // namespace pcmd

// PxSSTS: DET 3:0, SPD 7:4, IPM 11:8.
inline constexpr uint32_t kSstsPresentGen1Active = 0x113;

// Memory structures.
inline constexpr uint32_t kCommandHeaderSize = 32;
inline constexpr uint32_t kCommandSlots = 32;
inline constexpr uint32_t kCmdTablePrdtOffset = 0x80;
inline constexpr uint32_t kPrdEntrySize = 16;
inline constexpr uint32_t kCmdHeaderCflMask = 0x1F;
inline constexpr uint32_t kCmdHeaderWrite = 1u << 6;
inline constexpr uint32_t kPrdDbcMask = 0x3FFFFF;
inline constexpr uint32_t kPrdInterrupt = 1u << 31;

// Received-FIS area (256 bytes at PxFB).
inline constexpr uint32_t kRxPioSetup = 0x20;
inline constexpr uint32_t kRxD2hRegister = 0x40;
inline constexpr uint32_t kRxSetDeviceBits = 0x58;
inline constexpr uint32_t kRxFisSize = 0x100;

namespace fis {
inline constexpr uint8_t kH2dRegister = 0x27;
inline constexpr uint8_t kD2hRegister = 0x34;
inline constexpr uint8_t kPioSetup = 0x5F;
inline constexpr uint8_t kSetDeviceBits = 0xA1;
inline constexpr uint8_t kH2dCommandBit = 0x80;  // byte 1: command (not device control)
inline constexpr uint8_t kInterruptBit = 0x40;   // byte 1 of D2H / PIO setup / SDB
inline constexpr uint8_t kDirectionIn = 0x20;    // PIO setup: device to host
inline constexpr uint32_t kH2dLength = 20;
}  // namespace fis

}  // namespace devices::ahci
