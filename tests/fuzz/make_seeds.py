#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (committed; rerun after changing an
input format). Each seed is a small program in the byte format the fuzzer's header comment and
its Harness::step() read: a few well-formed requests per device, the edge cases the unit tests
know about, and some hostile shapes. The fuzzers mutate from there."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v): return struct.pack('<B', v & 0xFF)
def u16(v): return struct.pack('<H', v & 0xFFFF)
def u32(v): return struct.pack('<I', v & 0xFFFFFFFF)
def u64(v): return struct.pack('<Q', v & 0xFFFFFFFFFFFFFFFF)


# --- virtio-blk ---------------------------------------------------------------------------
V_TYPES = ['in', 'out', 'flush', 'get_id', 'get_lifetime', 'discard', 'write_zeroes',
           'secure_erase', 'zone_append', 'zone_report', 'zone_open', 'zone_close',
           'zone_finish', 'zone_reset', 'zone_reset_all']


def v_sector(mode, value):
    if mode == 0: return u8(0) + u16(value)
    if mode == 1: return u8(1) + u8(value)        # zone index (64 KiB zones)
    if mode == 2: return u8(2) + u8(value)        # end - value
    return u8(3) + u64(value)


def v_request(kind, sector=(0, 0), segs=(), shape=0, mask=0, q=0, table=0, kick=True, payloads=()):
    """segs: raw u16 lengths (shape bit 1: bytes, else 512 * (1 + n % 8))."""
    b = u8(0) + u8(q) + u8(V_TYPES.index(kind)) + v_sector(*sector) + u8(shape) + u8(len(segs)) + u8(mask)
    if not (shape & 0x01) and (shape & 0x40):
        b += u8(16)
    for i, n in enumerate(segs):
        b += u16(n)
        if shape & 0x04:
            p = payloads[i] if i < len(payloads) else b''
            b += (p + bytes(16))[:16]
    if shape & 0x80:
        b += u8(table)
    return b + u8(1 if kick else 0)


def v_pump(n=3): return u8(6) + u8(n)
def v_kick(q=0): return u8(5) + u8(q)
def v_range(sector, count, flags=0): return u64(sector) + u32(count) + u32(flags)


def virtio_seeds():
    plain = b'\x25\x04\x01'          # indirect, flush, config_wce; 16 entries; MSI-X
    allf = b'\x3f\x04\x01'           # + event_idx, discard, write_zeroes
    zoned_f = b'\x25\x04\x01'        # bit 6 clear: ZONED negotiated
    s = {}
    s['read'] = u8(0) + plain + v_request('in', (0, 8), [0]) + v_pump()
    s['write_read_file'] = u8(1) + plain + v_request('out', (0, 16), [1, 0]) + v_pump() + \
        v_request('in', (0, 16), [2]) + v_pump() + v_request('flush') + v_pump()
    s['get_id_flush'] = u8(0) + plain + v_request('get_id', segs=[20], shape=0x02) + v_request('flush') + v_pump()
    s['discard_zeroes'] = u8(0) + allf + \
        v_request('discard', segs=[32], shape=0x06, payloads=[v_range(8, 8)]) + \
        v_request('write_zeroes', segs=[16], shape=0x06, payloads=[v_range(64, 16, 1)]) + v_pump()
    s['discard_bad_flags'] = u8(0) + allf + \
        v_request('discard', segs=[16], shape=0x06, payloads=[v_range(8, 8, 1)]) + \
        v_request('write_zeroes', segs=[16], shape=0x06, payloads=[v_range(2040, 16)]) + v_pump()
    s['indirect_read'] = u8(0) + plain + v_request('in', (0, 4), [0, 1, 2], shape=0x80, table=3) + v_pump()
    s['split_header_write'] = u8(0) + plain + v_request('out', (0, 100), [3], shape=0x01) + v_pump()
    s['status_in_data'] = u8(0) + plain + v_request('in', (0, 1), [0], shape=0x10) + v_pump()
    s['read_only_write'] = u8(3) + plain + v_request('out', (0, 0), [0]) + v_pump()
    s['out_of_range'] = u8(0) + plain + v_request('in', (2, 0), [1]) + v_request('in', (3, 1 << 60), [0]) + v_pump()
    s['too_many_segments'] = u8(0) + plain + v_request('out', (0, 0), [0] * 5 + [1], shape=0x80) + v_pump()
    s['event_idx_two_queues'] = u8(0) + b'\xa7\x03\x01' + v_request('in', (0, 1), [0], q=1) + \
        u8(11) + u8(1) + u8(1) + u16(5) + v_request('in', (0, 2), [0], q=1) + v_pump()
    s['zoned_ops'] = u8(2) + zoned_f + \
        v_request('zone_report', (1, 0), [1]) + \
        v_request('zone_open', (1, 2)) + \
        v_request('zone_append', (1, 2), [0]) + \
        v_request('out', (1, 3), [0]) + \
        v_request('zone_finish', (1, 3)) + \
        v_request('zone_close', (1, 2)) + \
        v_request('zone_reset', (1, 3)) + \
        v_request('zone_reset_all') + v_pump()
    s['zoned_unaligned'] = u8(2) + zoned_f + v_request('out', (1, 2), [0]) + v_request('out', (1, 2), [0]) + \
        v_request('in', (1, 2), [7]) + v_pump()
    s['zoned_not_negotiated'] = u8(0) + plain + v_request('zone_report', (1, 0), [1]) + v_pump()
    # Hostile: a descriptor chain that loops, a head out of range, the available index jumping.
    loop = u8(1) + u8(0) + u16(0) + u8(0) + u16(0x100) + u32(16) + u16(1) + u16(0)
    s['desc_loop'] = u8(0) + plain + loop + u8(3) + u8(0) + u16(0) + v_kick()
    s['head_out_of_range'] = u8(0) + plain + u8(3) + u8(0) + u16(300) + v_kick()
    s['avail_jump'] = u8(0) + plain + u8(4) + u8(0) + u16(1000) + v_kick()
    s['bus_master_off'] = u8(0) + plain + v_request('in', (0, 1), [0], kick=False) + \
        u8(9) + u8(4) + u32(0x2) + v_kick() + u8(9) + u8(4) + u32(0x6) + v_pump()
    s['io_errors'] = u8(0x04) + u32(0b0101) + plain + v_request('in', (0, 1), [0]) + v_request('out', (0, 2), [0]) + \
        v_request('flush') + v_request('in', (0, 3), [1]) + v_pump()
    s['zoned_write_errors'] = u8(0x06) + u32(0b0010) + zoned_f + v_request('out', (1, 2), [0], kick=False) + \
        v_request('zone_append', (1, 2), [0], kick=False) + v_request('zone_append', (1, 2), [0]) + v_pump() + \
        v_request('zone_report', (1, 2), [1]) + v_pump()
    s['reset_in_flight'] = u8(1) + plain + v_request('in', (0, 1), [0]) + u8(8) + u16(0x14) + u8(0) + u64(0) + \
        u8(10) + v_request('in', (0, 1), [0]) + v_pump()
    return s


# --- AHCI ---------------------------------------------------------------------------------
A_CMDS = ['read_dma_ext', 'write_dma_ext', 'read_fpdma', 'write_fpdma', 'identify', 'flush_ext',
          'read_dma', 'write_dma', 'read_sectors', 'write_sectors', 'read_sectors_ext',
          'write_sectors_ext', 'write_dma_fua_ext', 'read_verify_ext', 'set_features',
          'read_log_ext', 'check_power', 'exec_diag', 'read_multiple', 'flush']


def a_cmd(cmd, sectors=1, lba=(0, 0), prds=1, shape=0, slot=0, port=0, count=None, features=None,
          device=None, prd_lens=(), cfl=None, run=True):
    b = u8(0) + u8(port) + u8(slot) + u8(A_CMDS.index(cmd)) + u8(sectors - 1) + u8(shape)
    if shape & 0x01: b += u16(count)
    if shape & 0x02: b += u16(features)
    mode, value = lba
    b += u8(mode) + {0: u16, 1: u8, 2: u64, 3: u32}[mode](value)
    if shape & 0x04: b += u8(device)
    b += u8(prds)
    for i in range(prds):
        if shape & 0x20: b += u16(prd_lens[i] // 2 - 1)
        b += u8(0)  # no interrupt bit
    if shape & 0x80: b += u8(cfl)
    return b + u8(1 if run else 0)


def a_pump(): return u8(8) + u8(3)


def ahci_seeds():
    s = {}
    s['identify'] = u8(0) + a_cmd('identify', prds=2) + a_pump()
    s['read_write_dma'] = u8(0) + a_cmd('write_dma_ext', 4, (0, 10), prds=2) + a_pump() + \
        a_cmd('read_dma_ext', 4, (0, 10), prds=3) + a_pump()
    s['file_disk'] = u8(1) + a_cmd('write_dma_ext', 8, (0, 100)) + a_pump() + a_cmd('read_dma', 8, (0, 100)) + \
        a_cmd('flush_ext') + a_pump()
    s['ncq_tags'] = u8(0) + a_cmd('read_fpdma', 2, (0, 0), slot=0, run=False) + \
        a_cmd('write_fpdma', 2, (0, 8), slot=1, run=False) + a_cmd('read_fpdma', 1, (0, 16), slot=5) + a_pump()
    s['ncq_bad_tag'] = u8(0) + a_cmd('read_fpdma', 1, slot=3, shape=0x01, count=7 << 3) + a_pump()
    s['pio_and_lba28'] = u8(0) + a_cmd('read_sectors', 2, (0, 7), device=0x40, shape=0x04) + \
        a_cmd('write_sectors', 1, (0, 9)) + a_pump()
    s['out_of_range'] = u8(0) + a_cmd('read_dma_ext', 1, (1, 0)) + a_pump() + u8(11) + u8(0) + \
        a_cmd('write_dma_ext', 1, (2, 0xFFFFFFFFFFFF)) + a_pump()
    s['read_only'] = u8(2) + a_cmd('write_dma_ext', 1, (0, 0)) + a_pump()
    s['short_prdt'] = u8(0) + a_cmd('read_dma_ext', 4, (0, 0), prds=1, shape=0x20, prd_lens=[512]) + a_pump()
    s['bad_cfl'] = u8(0) + a_cmd('identify', shape=0x80, cfl=0) + a_pump()
    s['set_features_log'] = u8(0) + a_cmd('set_features', shape=0x02, features=0x82) + \
        a_cmd('read_log_ext', shape=0x01, count=1, lba=(0, 0x10)) + a_cmd('check_power') + \
        a_cmd('exec_diag') + a_cmd('read_verify_ext', 8, (0, 3)) + a_pump()
    s['two_ports_msi'] = u8(0x0C) + a_cmd('read_dma_ext', 2, port=1) + a_cmd('write_dma_ext', 2) + a_pump()
    s['comreset_in_flight'] = u8(1) + a_cmd('read_dma_ext', 8) + u8(4) + u8(0) + u8(0x2C // 4) + u32(1) + \
        u8(4) + u8(0) + u8(0x2C // 4) + u32(0) + a_pump()
    s['bus_master_off'] = u8(0) + a_cmd('read_dma_ext', 1, run=False) + u8(9) + u8(1) + u8(0) + u8(7) + \
        u8(9) + u8(1) + u8(1) + a_pump()
    s['io_errors'] = u8(0x10) + u32(0b0110) + a_cmd('read_dma_ext', 2) + a_pump() + u8(11) + u8(0) + \
        a_cmd('read_fpdma', 1, slot=0, run=False) + a_cmd('write_fpdma', 1, (0, 8), slot=1) + a_pump() + \
        u8(11) + u8(0) + a_cmd('flush_ext') + a_pump()
    s['hba_reset'] = u8(0) + a_cmd('read_dma_ext', 1, run=False) + u8(5) + u8(1) + u32(1) + u8(3) + u8(0) + a_pump()
    return s


# --- IDE ----------------------------------------------------------------------------------
I_CMDS = ['read_dma', 'write_dma', 'read_dma_ext', 'write_dma_ext', 'read_sectors', 'write_sectors',
          'read_sectors_ext', 'write_sectors_ext', 'identify', 'flush', 'flush_ext', 'set_features',
          'read_verify', 'check_power', 'exec_diag', 'write_dma_fua_ext', 'read_fpdma', 'read_multiple',
          'idle_immediate', 'read_log_ext']


def i_cmd(cmd, count=1, lba=(0, 0), ch=0, device=None, shape=0x00, features=None, prd=None):
    """prd: (shape2, entries) for a PRD table written before the command (shape bit 4)."""
    if prd is not None: shape |= 0x10
    if device is not None: shape |= 0x01
    if features is not None: shape |= 0x08
    b = u8(0) + u8(ch) + u8(I_CMDS.index(cmd)) + u8(shape)
    if shape & 0x01: b += u8(device)
    mode, value = lba
    b += u8(mode) + {0: u16, 1: u8, 2: u64}[mode](value)
    b += u16(count) if shape & 0x04 else u8(count - 1)
    if shape & 0x08: b += u16(features)
    if prd is not None:
        shape2, entries = prd
        b += u8(shape2) + u8(entries - 1)
    return b


def i_pio_in(n, size=2, ch=0): return u8(2) + u8(ch) + u8({1: 0, 2: 1, 4: 2}[size]) + u16(n)
def i_pio_out(n, size=2, ch=0, value=0x11223344): return u8(3) + u8(ch) + u8({1: 0, 2: 1, 4: 2}[size]) + u16(n) + u32(value)
def i_pump(): return u8(9) + u8(3)
def i_run(): return u8(8) + u8(3)


def ide_seeds():
    dma = 0x20 | 0x80            # start the bus master, run posted work
    s = {}
    s['identify_pio'] = u8(0) + i_cmd('identify') + i_pio_in(256) + i_pump()
    s['pio_read_write'] = u8(0) + i_cmd('write_sectors', 2, (0, 5)) + i_pio_out(512) + i_pump() + \
        i_cmd('read_sectors', 2, (0, 5)) + i_run() + i_pump() + i_pio_in(512) + i_pump()
    s['dma_read_write'] = u8(0) + i_cmd('write_dma', 4, (0, 3), shape=dma, prd=(0, 2)) + i_pump() + \
        i_cmd('read_dma_ext', 4, (0, 3), shape=dma | 0x40, prd=(0, 3)) + i_pump()
    s['dma_file'] = u8(1) + i_cmd('write_dma_ext', 8, (0, 64), shape=dma, prd=(0, 1)) + i_pump() + \
        i_cmd('read_dma', 8, (0, 64), shape=dma | 0x40, prd=(0, 2)) + i_pump() + i_cmd('flush_ext') + i_run() + i_pump()
    s['lba48_chs'] = u8(0) + i_cmd('read_sectors_ext', 1, (2, 0x10), device=0x40) + i_run() + i_pump() + \
        i_pio_in(256) + i_cmd('read_sectors', 1, (0, 0x0001), device=0x00) + i_run() + i_pump() + i_pio_in(256)
    s['slave_and_secondary'] = u8(0x0C) + i_cmd('identify', device=0x50) + i_pio_in(256) + \
        i_cmd('read_dma', 1, ch=1, shape=dma, prd=(0, 1)) + i_pump()
    s['no_master'] = u8(0x07) + i_cmd('identify', device=0x40) + i_cmd('identify', device=0x50) + i_pio_in(256)
    s['out_of_range'] = u8(0) + i_cmd('read_dma_ext', 1, (1, 0), shape=dma, prd=(0, 1)) + i_pump() + \
        i_cmd('write_dma_ext', 1, (2, 0xFFFFFFFFFFFF), shape=dma, prd=(0, 1)) + i_pump()
    s['read_only'] = u8(2) + i_cmd('write_dma', 1, shape=dma, prd=(0, 1)) + i_pump() + \
        i_cmd('write_sectors', 1) + i_pio_out(256) + i_pump()
    s['prd_no_eot'] = u8(0) + i_cmd('read_dma', 2, shape=dma, prd=(0x04, 1)) + u8(0) + i_pump()
    s['srst_in_flight'] = u8(1) + i_cmd('read_dma', 8, shape=dma, prd=(0, 1)) + u8(4) + u8(0) + u8(0x04) + \
        u8(4) + u8(0) + u8(0x00) + i_cmd('identify') + i_pump() + i_pio_in(256)
    s['bus_master_off'] = u8(0) + u8(10) + u8(0) + i_cmd('read_dma', 1, shape=dma, prd=(0, 1)) + u8(10) + u8(1) + i_pump()
    s['misaligned_pio'] = u8(0) + i_cmd('read_sectors', 2) + i_run() + i_pump() + i_pio_in(255) + \
        i_pio_in(3, 4) + i_pio_in(300) + i_pump()
    s['io_errors'] = u8(0x20) + u32(0b011) + i_cmd('read_dma', 2, shape=0xA0, prd=(0, 1)) + i_pump() + \
        i_cmd('read_sectors', 1) + i_run() + i_pump() + i_cmd('write_sectors', 1) + i_pio_out(256) + i_pump()
    s['set_features_diag'] = u8(0) + i_cmd('set_features', count=0x45, features=0x03) + i_cmd('check_power') + \
        i_cmd('exec_diag') + u8(11) + u8(0) + u8(7)
    return s


# --- zoned --------------------------------------------------------------------------------
def z_header(zone_sel=4, cap=0, conv=1, open_=3, active=4, zones=4, flags=0, max_append=None):
    h = bytes([zone_sel, cap, conv, open_, active, zones, flags])
    return h + (u8(max_append) if flags & 0x40 else b'')


def z_sector(mode, zone=0, extra=0):
    b = u8(mode) + u8(zone)
    if mode == 3: b += u8(extra)
    if mode == 4: b += u32(extra)
    return b


def z_sectors(n): return u8(n) if n < 0x80 else u8(0x80) + u16(n)
def z_write(slot, zone, n, fua=0): return u8(0) + u8(slot) + z_sector(1, zone) + z_sectors(n) + u8(fua)
def z_read(slot, zone, n): return u8(2) + u8(slot) + z_sector(0, zone) + z_sectors(n) + u8(0)
def z_append(slot, zone, n): return u8(1) + u8(slot) + u8(zone) + z_sectors(n)
def z_manage(slot, op, zone): return u8(3) + u8(slot) + u8(op) + z_sector(0, zone) + u8(0)
def z_pump(): return u8(8) + u8(3)


def zoned_seeds():
    OPEN, CLOSE, FINISH, RESET = 0, 1, 2, 3
    s = {}
    s['write_append_read'] = z_header() + z_write(0, 1, 4) + z_append(1, 1, 2) + z_append(2, 1, 2) + z_pump() + \
        z_read(3, 1, 8) + z_pump()
    s['open_close_finish_reset'] = z_header() + z_manage(0, OPEN, 1) + z_manage(1, OPEN, 2) + \
        z_manage(2, CLOSE, 1) + z_manage(3, FINISH, 2) + z_manage(4, RESET, 2) + u8(4) + u8(5) + u8(0) + z_pump()
    s['open_limit'] = z_header(open_=2, active=3, zones=6) + z_write(0, 1, 1) + z_write(1, 2, 1) + \
        z_write(2, 3, 1) + z_manage(3, OPEN, 4) + z_manage(4, OPEN, 5) + z_pump()
    s['capacity_and_full'] = z_header(zone_sel=0, cap=2) + z_write(0, 1, 4) + z_pump() + z_write(1, 1, 4) + \
        z_append(2, 1, 1) + z_pump()
    s['unaligned_and_cross'] = z_header() + z_write(0, 2, 1) + u8(0) + u8(1) + z_sector(0, 2) + z_sectors(8) + \
        u8(0) + u8(0) + u8(2) + z_sector(4, 0, 120) + z_sectors(16) + u8(0) + z_pump()
    s['granularity_4k'] = z_header(flags=0x01) + z_write(0, 1, 8) + z_write(1, 1, 3) + z_append(2, 1, 1) + z_pump()
    s['file_sidecar'] = z_header(flags=0x04) + z_write(0, 1, 4, fua=1) + u8(5) + u8(1) + z_pump() + \
        z_manage(2, FINISH, 2) + z_manage(3, RESET, 1) + z_pump()
    s['writethrough_flush'] = z_header(flags=0x10) + z_write(0, 1, 2) + z_write(1, 1, 2) + u8(5) + u8(2) + z_pump()
    s['report_and_discard'] = z_header(conv=2) + u8(6) + u8(0) + z_sector(0, 0) + u8(4) + \
        u8(7) + u8(1) + u8(0) + z_sector(0, 0) + z_sectors(8) + u8(0) + \
        u8(7) + u8(2) + u8(1) + z_sector(0, 1) + z_sectors(8) + u8(1) + z_pump()
    s['inject_and_read_only'] = z_header(flags=0x02) + z_write(0, 1, 1) + z_pump() + \
        z_header()[:0] + u8(9) + u8(2) + u8(0) + z_read(1, 2, 1) + z_pump()
    s['inject_offline'] = z_header() + u8(9) + u8(2) + u8(0) + z_read(1, 2, 1) + z_write(2, 2, 1) + \
        z_manage(3, RESET, 2) + z_pump()
    s['short_last_zone'] = z_header(flags=0x08, zones=0) + z_write(0, 4, 4) + z_append(1, 4, 4) + z_pump()
    s['append_limit'] = z_header(flags=0x40, max_append=2) + z_append(0, 1, 2) + z_append(1, 1, 3) + z_pump()
    s['malformed'] = z_header() + u8(10) + u8(0) + u8(0) + z_sector(0, 1) + u8(1) + z_sectors(2) + u8(0) + u8(1) + \
        u8(10) + u8(1) + u8(2) + z_sector(0, 1) + u8(0) + z_sectors(2) + u8(1) + u8(0) + z_pump()
    s['write_failures'] = z_header(flags=0x80) + u32(0b0101) + z_write(0, 1, 2) + z_write(1, 1, 2) + \
        z_append(2, 1, 2) + z_pump() + z_write(3, 1, 2) + z_pump() + u8(5) + u8(4) + z_pump()
    s['bad_geometry'] = z_header(open_=4, active=2)
    return s


# --- command line -------------------------------------------------------------------------
def drive_seeds():
    s = {}

    def drive(name, text, mode=0, disk=64 << 20, gran=0):
        s[name] = u8(mode) + (u64(disk) + u8(gran) if mode in (0, 1) else b'') + text.encode()

    drive('plain', 'file=disk.img')
    drive('all_options', 'file=a,,b.img,if=ahci,format=raw,cache=none,aio=threads,readonly=on,'
          'discard=unmap,serial=S1,num-queues=4')
    drive('zoned', 'file=z.img,zoned=on,zone_size=1M,zone_capacity=768K,conventional_zones=2,'
          'max_open_zones=3,max_active_zones=4,max_append_sectors=256', mode=1, disk=40 << 20)
    drive('zoned_default', 'file=z.img,zoned', mode=1, disk=3 << 30, gran=1)
    drive('zoned_too_small', 'file=z.img,zoned=on,zone_size=64M', mode=1, disk=1 << 20)
    drive('bad_value', 'file=x,cache=fast')
    drive('bad_key', 'file=x,colour=blue')
    drive('twice', 'file=x,file=y')
    drive('stray_comma', 'file=x,,,')
    drive('no_file', 'if=ide')
    drive('zone_without_zoned', 'file=x,zone_size=1M')
    s['size'] = u8(2) + b'64K'
    s['size_huge'] = u8(2) + b'99999999999T'
    s['key_values'] = u8(3) + u8(1) + b'disk.img,if=virtio,serial=a,,b,x='
    s['memory'] = u8(4) + b'512MiB'
    s['memory_bad'] = u8(4) + b'1e9G'
    s['command_line'] = u8(5) + b'\0'.join([b'-m', b'1G', b'-smp', b'cpus=2', b'-kernel', b'@K', b'-drive',
                                             b'file=d.img,if=ide', b'-serial', b'none', b'-no-acpi'])
    s['command_line_bad'] = u8(5) + b'\0'.join([b'-kernel', b'/nonexistent', b'-smp', b'0'])
    s['command_line_help'] = u8(5) + b'--help'
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'corpus')
    for target, seeds in [('virtio_blk', virtio_seeds()), ('ahci', ahci_seeds()), ('ide', ide_seeds()),
                          ('zoned', zoned_seeds()), ('drive_options', drive_seeds())]:
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), 'wb') as f:
                f.write(data)
    print('seeds written to', out)


if __name__ == '__main__':
    main()
