#!/usr/bin/env python3
"""Keeps KVM's static keys switched on for as long as it runs (TCG test host only; tests/testhost/run
starts it before the command).

Why: inside the TCG test host (tests/testhost/run, QEMU TCG with -smp 2) the outer kernel
sometimes dies with "Oops: int3" in kvm code (vcpu_run, __apic_accept_irq) when it live-patches
a jump label while the other emulated CPU executes it: QEMU TCG does not make the breakpoint
patching of text_poke_bp coherent across its vCPU threads. The keys that flip while our VMM runs
are KVM's `apic_sw_disabled` (every new vCPU starts with its LAPIC software-disabled; a guest
that offlines a CPU, e.g. blktests block/008, disables it again), `apic_hw_disabled` (APIC
base MSR enable bit) and the scheduler's `preempt_notifier_key` (taken by every KVM VM; seen
as "Oops: int3" in finish_task_switch). Patching happens only on 0 <-> 1 transitions of a key's count, so one
idle VM whose vCPUs keep those counts at >= 1 means the nested guests never patch kernel text.

This process: KVM_CREATE_VM, KVM_CREATE_IRQCHIP, vCPU 0 (LAPIC software-disabled forever: it
never runs) and vCPU 1 with its APIC base MSR hardware-disabled, then sleeps until killed.
Prints "kvm_key_holder: ready" on stdout once the keys are held. Harmless on hardware KVM.
"""
import fcntl
import os
import signal
import struct
import sys
import time

KVMIO = 0xAE
KVM_CREATE_VM = (KVMIO << 8) | 0x01
KVM_CREATE_VCPU = (KVMIO << 8) | 0x41
KVM_CREATE_IRQCHIP = (KVMIO << 8) | 0x60
# _IOW(KVMIO, 0x89, struct kvm_msrs): the header is 8 bytes (nmsrs, pad).
KVM_SET_MSRS = (1 << 30) | (8 << 16) | (KVMIO << 8) | 0x89
MSR_IA32_APICBASE = 0x1B
APIC_BASE_BSP_DEFAULT = 0xFEE00000  # enable bit 11 and x2APIC bit 10 clear: hardware-disabled


def main():
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
        fcntl.ioctl(vm, KVM_CREATE_IRQCHIP, 0)
        vcpus = [fcntl.ioctl(vm, KVM_CREATE_VCPU, i) for i in range(2)]
        msrs = bytearray(struct.pack("<IIIIQ", 1, 0, MSR_IA32_APICBASE, 0, APIC_BASE_BSP_DEFAULT))
        if fcntl.ioctl(vcpus[1], KVM_SET_MSRS, msrs, True) != 1:  # returns the MSRs set
            print("kvm_key_holder: could not disable vCPU 1's APIC (continuing)", file=sys.stderr)
    except OSError as e:
        print(f"kvm_key_holder: {e} (not holding the keys)", file=sys.stderr)
        return 1
    print("kvm_key_holder: ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
