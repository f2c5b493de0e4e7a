#pragma once
// ATA/ATA8-ACS constants shared by the AHCI and IDE front ends: opcodes, status and error
// register bits, SET FEATURES subcommands and the device signature.
#include <cstdint>

namespace devices::ata {

inline constexpr uint32_t kSectorSize = 512;

namespace op {
inline constexpr uint8_t kNop = 0x00;
inline constexpr uint8_t kReadSectors = 0x20;
inline constexpr uint8_t kReadSectorsNoRetry = 0x21;
inline constexpr uint8_t kReadSectorsExt = 0x24;
inline constexpr uint8_t kReadDmaExt = 0x25;
inline constexpr uint8_t kReadMultipleExt = 0x29;
inline constexpr uint8_t kReadLogExt = 0x2F;
inline constexpr uint8_t kWriteSectors = 0x30;
inline constexpr uint8_t kWriteSectorsNoRetry = 0x31;
inline constexpr uint8_t kWriteSectorsExt = 0x34;
inline constexpr uint8_t kWriteDmaExt = 0x35;
inline constexpr uint8_t kWriteMultipleExt = 0x39;
inline constexpr uint8_t kWriteDmaFuaExt = 0x3D;
inline constexpr uint8_t kReadVerifySectors = 0x40;
inline constexpr uint8_t kReadVerifySectorsNoRetry = 0x41;
inline constexpr uint8_t kReadVerifySectorsExt = 0x42;
inline constexpr uint8_t kReadFpdmaQueued = 0x60;
inline constexpr uint8_t kWriteFpdmaQueued = 0x61;
inline constexpr uint8_t kSeek = 0x70;
inline constexpr uint8_t kExecuteDeviceDiagnostic = 0x90;
inline constexpr uint8_t kInitializeDeviceParameters = 0x91;
inline constexpr uint8_t kReadMultiple = 0xC4;
inline constexpr uint8_t kWriteMultiple = 0xC5;
inline constexpr uint8_t kSetMultipleMode = 0xC6;
inline constexpr uint8_t kReadDma = 0xC8;
inline constexpr uint8_t kReadDmaNoRetry = 0xC9;
inline constexpr uint8_t kWriteDma = 0xCA;
inline constexpr uint8_t kWriteDmaNoRetry = 0xCB;
inline constexpr uint8_t kStandbyImmediate = 0xE0;
inline constexpr uint8_t kIdleImmediate = 0xE1;
inline constexpr uint8_t kStandby = 0xE2;
inline constexpr uint8_t kIdle = 0xE3;
inline constexpr uint8_t kCheckPowerMode = 0xE5;
inline constexpr uint8_t kSleep = 0xE6;
inline constexpr uint8_t kFlushCache = 0xE7;
inline constexpr uint8_t kFlushCacheExt = 0xEA;
inline constexpr uint8_t kIdentifyDevice = 0xEC;
inline constexpr uint8_t kSetFeatures = 0xEF;
}  // namespace op

// Status register.
namespace st {
inline constexpr uint8_t kErr = 0x01;
inline constexpr uint8_t kDrq = 0x08;
inline constexpr uint8_t kDsc = 0x10;  // "device seek complete" (obsolete, still expected)
inline constexpr uint8_t kDf = 0x20;
inline constexpr uint8_t kDrdy = 0x40;
inline constexpr uint8_t kBsy = 0x80;
inline constexpr uint8_t kReady = kDrdy | kDsc;  // idle, no error
}  // namespace st

// Error register.
namespace err {
inline constexpr uint8_t kAbrt = 0x04;
inline constexpr uint8_t kIdnf = 0x10;
inline constexpr uint8_t kUnc = 0x40;
}  // namespace err

// SET FEATURES subcommands (feature register).
namespace feature {
inline constexpr uint8_t kEnableWriteCache = 0x02;
inline constexpr uint8_t kSetTransferMode = 0x03;
inline constexpr uint8_t kDisableWriteCache = 0x82;
inline constexpr uint8_t kEnableReadLookAhead = 0xAA;
inline constexpr uint8_t kDisableReadLookAhead = 0x55;
inline constexpr uint8_t kEnableRevertingToDefaults = 0xCC;
inline constexpr uint8_t kDisableRevertingToDefaults = 0x66;
}  // namespace feature

// Device bits (LBA mode and, for LBA28, LBA 27:24 in bits 3:0; bit 4 selects the slave on IDE).
namespace dev {
inline constexpr uint8_t kLba = 0x40;
inline constexpr uint8_t kSlave = 0x10;
inline constexpr uint8_t kFua = 0x80;  // FPDMA QUEUED: force unit access
}  // namespace dev

// The signature a non-packet ATA device leaves in the taskfile after reset / in PxSIG.
inline constexpr uint8_t kSignatureCount = 0x01;
inline constexpr uint8_t kSignatureLbaLow = 0x01;
inline constexpr uint8_t kSignatureLbaMid = 0x00;
inline constexpr uint8_t kSignatureLbaHigh = 0x00;
inline constexpr uint32_t kAhciSignature = 0x00000101;

inline constexpr uint64_t kLba28Limit = 1ull << 28;
inline constexpr uint64_t kLba48Limit = 1ull << 48;

}  // namespace devices::ata
