/*
 * Stand-in for iw(8) in the OpenWrt rig, which has no radio and no nl80211.
 * It stands in for a radio: only `iw phy PHY interface add NAME type monitor`
 * exists, and it creates NAME as a persistent TAP whose link type is 803
 * (ARPHRD_IEEE80211_RADIOTAP), set before the interface is up, which libpcap
 * opens as a monitor interface (link type IEEE802_11_RADIO). Frames written
 * to the TAP arrive as frames the radio received.
 *
 * While the file /tmp/radio/PHY.down exists the phy is unavailable (as
 * during a `wifi reload`, when the driver resets it): the command fails as iw
 * does for a missing device (ENODEV, -19). Deleting the interface (`ip link
 * del NAME`) is what a `wifi reload` does to every interface of the phy.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARPHRD_IEEE80211_RADIOTAP 803

static int usage(void)
{
	fprintf(stderr, "iw (rig stand-in): only 'iw phy PHY interface add NAME type monitor'\n");
	return 1;
}

int main(int argc, char **argv)
{
	char down[128];
	struct stat st;
	struct ifreq req;
	int fd;

	if (argc != 8 || strcmp(argv[1], "phy") || strcmp(argv[3], "interface") ||
	    strcmp(argv[4], "add") || strcmp(argv[6], "type") || strcmp(argv[7], "monitor"))
		return usage();
	if (strlen(argv[5]) >= IFNAMSIZ) {
		fprintf(stderr, "command failed: Invalid argument (-22)\n");
		return 2;
	}
	snprintf(down, sizeof(down), "/tmp/radio/%s.down", argv[2]);
	if (stat(down, &st) == 0) {
		fprintf(stderr, "command failed: No such device (-19)\n");
		return 2;
	}
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "command failed: /dev/net/tun: %s\n", strerror(errno));
		return 2;
	}
	memset(&req, 0, sizeof(req));
	strncpy(req.ifr_name, argv[5], IFNAMSIZ - 1);
	/* IFF_TUN_EXCL: an existing interface of that name is an error, as for iw. */
	req.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL;
	if (ioctl(fd, TUNSETIFF, &req) < 0) {
		fprintf(stderr, "command failed: %s (%d)\n", strerror(errno), -errno);
		return 2;
	}
	if (ioctl(fd, TUNSETLINK, ARPHRD_IEEE80211_RADIOTAP) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0) {
		fprintf(stderr, "command failed: %s (%d)\n", strerror(errno), -errno);
		return 2;
	}
	close(fd);
	return 0;
}
