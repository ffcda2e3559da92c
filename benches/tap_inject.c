/* Probe requests into a virtual monitor interface at a fixed rate, for the
 * live CPU benchmark (benches/live_cpu.sh). Creates a TAP (IFF_TAP|IFF_NO_PI)
 * with the radiotap link type (TUNSETLINK 803, before it is up), brings it
 * up, prints its name, waits for a line on stdin (the captures are open),
 * then writes RATE frames a second for SECONDS seconds from CLIENTS
 * clients (default 256, at most 65536), and prints how many it wrote and
 * how fast. */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct ifreq ifr;
	int fd, s;
	long rate, seconds, clients = 256, sent = 0;
	unsigned char frame[15 + 24 + 2] = {
		0x00, 0x00, 15, 0x00, 0x2a, 0x00, 0x00, 0x00, /* radiotap: Flags, Channel, dBm signal */
		0x00, 0x00, 0x6c, 0x09, 0xa0, 0x00, 0xc0,     /* flags 0, pad, 2412 MHz, 2.4 GHz CCK, -64 dBm */
		0x40, 0x00, 0x00, 0x00,                       /* probe request */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00,           /* SA, last byte varies */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x00, 0x00, 0x00, 0x00,                       /* sequence; SSID element, wildcard */
	};
	char line[16];

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s IFNAME RATE SECONDS [CLIENTS]\n", argv[0]);
		return 2;
	}
	rate = atol(argv[2]);
	seconds = atol(argv[3]);
	if (argc == 5)
		clients = atol(argv[4]);
	if (clients < 1 || clients > 65536) {
		fprintf(stderr, "CLIENTS must be 1 to 65536\n");
		return 2;
	}
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0) { perror("/dev/net/tun"); return 1; }
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); return 1; }
	if (ioctl(fd, TUNSETLINK, 803) < 0) { perror("TUNSETLINK"); return 1; }
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) { perror("SIOCGIFFLAGS"); return 1; }
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) { perror("SIOCSIFFLAGS"); return 1; }
	printf("%s\n", ifr.ifr_name);
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	double start = now(), end = start + seconds;
	/* Paced in slices of 1 ms: a burst of rate/1000 frames, then wait. */
	for (;;) {
		double t = now();
		if (t >= end)
			break;
		long due = (long)((t - start) * rate);
		while (sent < due) {
			frame[15 + 10 + 4] = (unsigned char)((sent % clients) >> 8);
			frame[15 + 10 + 5] = (unsigned char)(sent % clients);
			frame[15 + 22] = (unsigned char)(sent << 4);
			if (write(fd, frame, sizeof frame) < 0) { perror("write"); return 1; }
			sent++;
		}
		struct timespec pause = { 0, 200000 };
		nanosleep(&pause, NULL);
	}
	printf("%ld frames in %.2f s: %.0f/s\n", sent, now() - start, sent / (now() - start));
	fflush(stdout);
	/* Hold the interface until told to go, so the captures can finish. */
	if (!fgets(line, sizeof line, stdin))
		return 0;
	return 0;
}
