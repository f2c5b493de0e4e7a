#include "vmm/command_line.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace vmm {
namespace {

// A readable temporary file to pass as -kernel / -initrd.
class CommandLineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/vmm_cmdline_testXXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    file_ = path;
  }
  void TearDown() override { std::remove(file_.c_str()); }

  std::string message_for(std::vector<std::string> args) {
    try {
      parse_command_line(args);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "(no error)";
  }

  std::string file_;
};

TEST_F(CommandLineTest, Defaults) {
  const Options o = parse_command_line({"-kernel", file_});
  EXPECT_EQ(o.memory_bytes, 512ull << 20);
  EXPECT_EQ(o.vcpus, 1u);
  EXPECT_EQ(o.kernel_path, file_);
  EXPECT_FALSE(o.initrd_path.has_value());
  EXPECT_EQ(o.append, "");
  EXPECT_EQ(o.serial.kind, SerialConfig::Kind::kStdio);
}

TEST_F(CommandLineTest, AllFlags) {
  const Options o = parse_command_line({"-m", "2G", "-smp", "2", "-kernel", file_, "-initrd", file_,
                                        "-append", "console=ttyS0 quiet", "-serial",
                                        "file:/tmp/x.log", "-nographic"});
  EXPECT_EQ(o.memory_bytes, 2ull << 30);
  EXPECT_EQ(o.vcpus, 2u);
  EXPECT_EQ(o.initrd_path.value(), file_);
  EXPECT_EQ(o.append, "console=ttyS0 quiet");
  EXPECT_EQ(o.serial.kind, SerialConfig::Kind::kFile);
  EXPECT_EQ(o.serial.path, "/tmp/x.log");
}

TEST_F(CommandLineTest, DoubleDashSpellingAndSmpCpus) {
  const Options o = parse_command_line({"--kernel", file_, "--smp", "cpus=3", "-serial", "none"});
  EXPECT_EQ(o.vcpus, 3u);
  EXPECT_EQ(o.serial.kind, SerialConfig::Kind::kNone);
}

TEST_F(CommandLineTest, NoAcpi) {
  EXPECT_TRUE(parse_command_line({"-kernel", file_}).acpi);
  EXPECT_FALSE(parse_command_line({"-kernel", file_, "-no-acpi"}).acpi);
}

TEST_F(CommandLineTest, IothreadPollMaxNs) {
  EXPECT_EQ(parse_command_line({"-kernel", file_}).iothread_poll_max_ns, 0u);  // off unless asked for
  EXPECT_EQ(parse_command_line({"-kernel", file_, "-iothread-poll-max-ns", "32768"}).iothread_poll_max_ns, 32768u);
  EXPECT_EQ(parse_command_line({"-kernel", file_, "-iothread-poll-max-ns", "1000000"}).iothread_poll_max_ns,
            1000000u);
  EXPECT_EQ(message_for({"-kernel", file_, "-iothread-poll-max-ns", "-1"}).rfind("-iothread-poll-max-ns: '-1'", 0),
            0u);
  EXPECT_EQ(message_for({"-kernel", file_, "-iothread-poll-max-ns", "1000001"})
                .rfind("-iothread-poll-max-ns: '1000001': at most 1000000", 0),
            0u);
}

TEST_F(CommandLineTest, Drives) {
  const Options o = parse_command_line(
      {"-kernel", file_, "-drive", "file=/a.img,if=virtio,format=raw,cache=none,serial=s1",
       "-drive", "file=/z.img,zoned=on", "-drive", "file=/b.img,if=ahci,readonly=on",
       "-drive", "file=/c.img,if=ide,discard=unmap,aio=threads"});
  ASSERT_EQ(o.drives.size(), 4u);
  EXPECT_EQ(o.drives[0].file, "/a.img");
  EXPECT_EQ(o.drives[0].serial, "s1");
  EXPECT_TRUE(o.drives[1].zoned.enabled);
  EXPECT_EQ(o.drives[2].interface, block::DriveInterface::kAhci);
  EXPECT_TRUE(o.drives[2].read_only);
  EXPECT_EQ(o.drives[3].interface, block::DriveInterface::kIde);
  EXPECT_TRUE(o.drives[3].discard_unmap);
  EXPECT_TRUE(parse_command_line({"-kernel", file_}).drives.empty());
}

TEST_F(CommandLineTest, DriveErrorsNameTheFlag) {
  const std::string bad_cache = message_for({"-kernel", file_, "-drive", "file=/a,cache=fast"});
  EXPECT_EQ(bad_cache.rfind("-drive: ", 0), 0u) << bad_cache;
  EXPECT_NE(bad_cache.find("cache"), std::string::npos) << bad_cache;
  EXPECT_EQ(message_for({"-kernel", file_, "-drive"}), "-drive: missing value");
  const std::string zoned_ide = message_for({"-kernel", file_, "-drive", "file=/a,if=ide,zoned=on"});
  EXPECT_NE(zoned_ide.find("zoned=on needs if=virtio"), std::string::npos) << zoned_ide;
  std::vector<std::string> five_ide = {"-kernel", file_};
  for (int i = 0; i < 5; ++i) {
    five_ide.push_back("-drive");
    five_ide.push_back("file=/x" + std::to_string(i) + ",if=ide");
  }
  EXPECT_NE(message_for(five_ide).find("at most 4"), std::string::npos);
  EXPECT_EQ(message_for({"-kernel", file_, "-drive", "file=/a"}), "(no error)");
}

TEST_F(CommandLineTest, Help) {
  EXPECT_TRUE(parse_command_line({"--help"}).show_help);
  EXPECT_TRUE(parse_command_line({"-h"}).show_help);
  EXPECT_NE(usage_text().find("-kernel"), std::string::npos);
  EXPECT_NE(usage_text().find("-drive file=PATH"), std::string::npos);
}

TEST(MemorySize, QemuSpellings) {
  EXPECT_EQ(parse_memory_size("512"), 512ull << 20);  // bare number = MiB
  EXPECT_EQ(parse_memory_size("512M"), 512ull << 20);
  EXPECT_EQ(parse_memory_size("512m"), 512ull << 20);
  EXPECT_EQ(parse_memory_size("4G"), 4ull << 30);
  EXPECT_EQ(parse_memory_size("1GiB"), 1ull << 30);
  EXPECT_EQ(parse_memory_size("65536K"), 64ull << 20);
  EXPECT_THROW(parse_memory_size(""), std::invalid_argument);
  EXPECT_THROW(parse_memory_size("G"), std::invalid_argument);
  EXPECT_THROW(parse_memory_size("12X"), std::invalid_argument);
  EXPECT_THROW(parse_memory_size("-1"), std::invalid_argument);
  EXPECT_THROW(parse_memory_size("99999999T"), std::invalid_argument);
}

TEST_F(CommandLineTest, ErrorsNameTheFlagOrFile) {
  EXPECT_EQ(message_for({"-kernel", "/nonexistent/x"}),
            "-kernel: /nonexistent/x: No such file or directory");
  EXPECT_EQ(message_for({"-kernel", file_, "-initrd", "/nonexistent/y"}),
            "-initrd: /nonexistent/y: No such file or directory");
  EXPECT_EQ(message_for({"-bogus"}), "-bogus: unknown option (try --help)");
  EXPECT_EQ(message_for({"-kernel"}), "-kernel: missing value");
  EXPECT_EQ(message_for({"-m", "1Q", "-kernel", file_}).rfind("-m: '1Q'", 0), 0u);
  EXPECT_EQ(message_for({"-m", "8M", "-kernel", file_}).rfind("-m: '8M'", 0), 0u);
  EXPECT_EQ(message_for({"-smp", "0", "-kernel", file_}).rfind("-smp: '0'", 0), 0u);
  EXPECT_EQ(message_for({"-smp", "two", "-kernel", file_}).rfind("-smp: 'two'", 0), 0u);
  EXPECT_EQ(message_for({"-smp", "1000", "-kernel", file_}).rfind("-smp: '1000'", 0), 0u);
  EXPECT_EQ(message_for({"-serial", "tcp:1", "-kernel", file_}).rfind("-serial: 'tcp:1'", 0), 0u);
  EXPECT_EQ(message_for({"-m", "1G"}).rfind("-kernel: no kernel given", 0), 0u);
  EXPECT_EQ(message_for({"stray"}), "stray: unknown option (try --help)");
}

TEST_F(CommandLineTest, UnreadableFileNamesPermissionProblem) {
  if (geteuid() == 0) GTEST_SKIP() << "root can read anything";
  chmod(file_.c_str(), 0);
  EXPECT_EQ(message_for({"-kernel", file_}), "-kernel: " + file_ + ": Permission denied");
}

}  // namespace
}  // namespace vmm
