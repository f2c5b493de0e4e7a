#include "block/drive_options.h"

#include <string>

#include <gtest/gtest.h>

#include "block/error.h"

namespace block {
namespace {

std::string error_of(const std::string& value) {
  try {
    parse_drive_options(value);
  } catch (const BlockError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(DriveOptionsTest, MinimalDriveGetsDefaults) {
  DriveOptions o = parse_drive_options("file=disk.img");
  EXPECT_EQ(o.file, "disk.img");
  EXPECT_EQ(o.interface, DriveInterface::kVirtio);
  EXPECT_EQ(o.cache, parse_cache_mode("writeback"));
  EXPECT_EQ(o.aio, AioEngine::kIoUring);
  EXPECT_FALSE(o.read_only);
  EXPECT_FALSE(o.discard_unmap);
  EXPECT_EQ(o.num_queues, 1u);
  EXPECT_FALSE(o.zoned.enabled);
}

TEST(DriveOptionsTest, FullDriveParses) {
  DriveOptions o = parse_drive_options(
      "file=/images/a.raw,if=ahci,format=raw,cache=none,aio=threads,readonly=on,discard=unmap,"
      "serial=SN123,num-queues=4");
  EXPECT_EQ(o.file, "/images/a.raw");
  EXPECT_EQ(o.interface, DriveInterface::kAhci);
  EXPECT_EQ(o.cache, parse_cache_mode("none"));
  EXPECT_EQ(o.aio, AioEngine::kThreads);
  EXPECT_TRUE(o.read_only);
  EXPECT_TRUE(o.discard_unmap);
  EXPECT_EQ(o.serial, "SN123");
  EXPECT_EQ(o.num_queues, 4u);
}

TEST(DriveOptionsTest, DoubledCommaIsALiteralComma) {
  DriveOptions o = parse_drive_options("file=a,,b,,,,c.img,if=ide");
  EXPECT_EQ(o.file, "a,b,,c.img");
  EXPECT_EQ(o.interface, DriveInterface::kIde);
}

TEST(DriveOptionsTest, ZonedKeysWithSizeSuffixes) {
  DriveOptions o = parse_drive_options(
      "file=z.img,zoned=on,zone_size=64M,zone_capacity=62M,conventional_zones=2,max_open_zones=8,"
      "max_active_zones=12,max_append_sectors=256");
  EXPECT_TRUE(o.zoned.enabled);
  EXPECT_EQ(o.zoned.zone_size, 64ull << 20);
  EXPECT_EQ(o.zoned.zone_capacity, 62ull << 20);
  EXPECT_EQ(o.zoned.conventional_zones, 2u);
  EXPECT_EQ(o.zoned.max_open_zones, 8u);
  EXPECT_EQ(o.zoned.max_active_zones, 12u);
  EXPECT_EQ(o.zoned.max_append_sectors, 256u);
}

TEST(DriveOptionsTest, SizeSuffixes) {
  EXPECT_EQ(parse_size("s", "4096"), 4096u);
  EXPECT_EQ(parse_size("s", "4K"), 4096u);
  EXPECT_EQ(parse_size("s", "4k"), 4096u);
  EXPECT_EQ(parse_size("s", "2M"), 2u << 20);
  EXPECT_EQ(parse_size("s", "1G"), 1u << 30);
  EXPECT_EQ(parse_size("s", "1T"), 1ull << 40);
  EXPECT_THROW(parse_size("s", "1X"), BlockError);
  EXPECT_THROW(parse_size("s", "M"), BlockError);
  EXPECT_THROW(parse_size("s", ""), BlockError);
  EXPECT_THROW(parse_size("s", "-1"), BlockError);
  EXPECT_THROW(parse_size("s", "99999999999T"), BlockError);  // overflow
}

TEST(DriveOptionsTest, BareReadonlyMeansOn) {
  EXPECT_TRUE(parse_drive_options("file=x,readonly").read_only);
  EXPECT_FALSE(parse_drive_options("file=x,readonly=off").read_only);
}

TEST(DriveOptionsTest, UnknownKeyIsNamed) {
  EXPECT_EQ(error_of("file=x,bogus=1"), "vmm: -drive: unknown option 'bogus'");
}

TEST(DriveOptionsTest, BadValuesNameTheOption) {
  EXPECT_EQ(error_of("file=x,cache=fast"),
            "vmm: -drive: invalid value 'fast' for 'cache' (expected writeback, none, writethrough, "
            "directsync or unsafe)");
  EXPECT_EQ(error_of("file=x,if=scsi"), "vmm: -drive: invalid value 'scsi' for 'if' (expected virtio, ide or ahci)");
  EXPECT_EQ(error_of("file=x,aio=native"),
            "vmm: -drive: invalid value 'native' for 'aio' (expected io_uring or threads)");
  EXPECT_EQ(error_of("file=x,readonly=maybe"),
            "vmm: -drive: invalid value 'maybe' for 'readonly' (expected on or off)");
  EXPECT_EQ(error_of("file=x,discard=sometimes"),
            "vmm: -drive: invalid value 'sometimes' for 'discard' (expected unmap or ignore)");
  EXPECT_EQ(error_of("file=x,num-queues=0"),
            "vmm: -drive: invalid value '0' for 'num-queues' (expected an integer from 1 to 256)");
  EXPECT_EQ(error_of("file=x,zoned=on,zone_size=12Q"),
            "vmm: -drive: invalid value '12Q' for 'zone_size' (expected a size in bytes, optionally with "
            "a K, M, G or T suffix)");
}

TEST(DriveOptionsTest, OnlyRawFormat) {
  EXPECT_EQ(error_of("file=x,format=qcow2"), "vmm: -drive: format 'qcow2' is not supported (only format=raw)");
}

TEST(DriveOptionsTest, StructuralErrors) {
  EXPECT_EQ(error_of("if=virtio"), "vmm: -drive: missing 'file=PATH'");
  EXPECT_EQ(error_of("file=x,cache"), "vmm: -drive: option 'cache' needs a value (cache=...)");
  EXPECT_EQ(error_of("file=x,,"), "(accepted)");  // ",," is a comma in the file name
  EXPECT_EQ(error_of("file=x,"), "vmm: -drive: empty option (stray comma?)");
  EXPECT_EQ(error_of("file=x,=y"), "vmm: -drive: option without a name: '=y'");
  EXPECT_EQ(error_of("file=x,file=y"), "vmm: -drive: option 'file' given twice");
  EXPECT_EQ(error_of("file="), "vmm: -drive: 'file' must not be empty");
  EXPECT_EQ(error_of("file=x,serial=123456789012345678901"),
            "vmm: -drive: 'serial' is longer than 20 characters");
  EXPECT_EQ(error_of("file=x,zone_size=64M"), "vmm: -drive: zone options need 'zoned=on'");
  EXPECT_EQ(error_of("file=x,zoned=on,zone_size=1M,zone_capacity=2M"),
            "vmm: -drive: 'zone_capacity' is larger than 'zone_size'");
}

}  // namespace
}  // namespace block
