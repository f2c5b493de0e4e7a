// What devices may ask of the machine as a whole: stop it with an exit status (reset and the
// test-exit port), or report a milestone.
#pragma once

#include <string>

namespace devices {

class MachineControl {
 public:
  virtual ~MachineControl() = default;
  // Asks the VMM to shut down and exit with `status`. The first request wins.
  virtual void request_exit(int status, const std::string& reason) = 0;
  // The guest reached its init (boot-time marker); the VMM reports the elapsed time.
  virtual void guest_init_reached() = 0;
};

}  // namespace devices
