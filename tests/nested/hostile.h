/*
 * hostile.h - what the hostile-guest test's two programs agree on: the
 * guest (hostile_guest.c, PID 1 under msb-vmm) and the checker in L1
 * (hostile.c).  The VM's size and command line, the disk image and the
 * patterns written over it, the console flood and its bytes, the forged
 * transmit marker, the serial log's cap and the number of checks the
 * guest reports: the guest does what the checker checks.
 */
#ifndef MSB_NESTED_HOSTILE_H
#define MSB_NESTED_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

#include "nested.h"

#define GUEST_MEM      (128ull << 20)
#define GUEST_MEM_ARG  "128M"
#define SECTOR         512u
#define IMG_BYTES      (8u << 20)
#define IMG_SECTORS    (IMG_BYTES / SECTOR)
#define IMG_NAME       "hostile.img"       /* the disk's serial (GET_ID) */
#define IMG_SEED       0x686f7374u         /* the host's initial pattern */
#define FINAL_SEED     0x66696e6cu         /* the guest's last whole-disk write */
#define FORGE_SEED     0x666f7267u         /* the forged virtio-blk write */
#define FORGE_SECTOR   4093u
/* 80 times what the socket buffers hold; more only means more time with
 * the guest spinning in virtio-console's put_chars, interrupts off, where
 * the emulated nested platform of tests/nested/run now and then loses a
 * vCPU (see stall_report in hostile.c) */
#define FLOOD_BYTES    (8u << 20)
#define TX_MARKER      "HOSTILE-FORGED-TX"
#define SERIAL_CAP     (1u << 20)          /* msb-vmm's cap on the serial log (vmm/main.c) */
#define SERIAL_FLOOD   (SERIAL_CAP + (64u << 10))
#define CMDLINE        "console=ttyS0 reboot=k panic=-1"

/* How many "HOSTILE: check" lines the guest reports: the checker plans
 * its TAP with it before the guest runs; hostile_guest.c asserts at build
 * time that its tables of checks add up to it. */
#define GUEST_CHECKS   62

static void fill_sectors(uint8_t *p, uint32_t seed, unsigned first, unsigned count)
{
	for (unsigned s = 0; s < count; s++)
		fill_pattern(p + (size_t)s * SECTOR, SECTOR, seed, first + s);
}

/* The flood: byte p of the stream. */
static inline uint8_t flood_byte(uint64_t p)
{
	return (uint8_t)((uint32_t)(p / 4) >> (8 * (p % 4)));
}

#endif
