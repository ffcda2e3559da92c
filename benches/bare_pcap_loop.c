/* The floor for presenced's per-frame cost: libpcap reading a capture file
 * and running the same probe request filter, doing nothing with the frames.
 * `make bench` counts this loop's instructions with callgrind beside
 * presenced's replay of the same file. The filter is compiled by libpcap
 * from the expression whose compilation src/bpf.rs's ready-made program is
 * checked against (tests/bpf_filter.rs), so both run the same verdicts. */
#include <pcap/pcap.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct bpf_program program;
	struct pcap_pkthdr *header;
	const u_char *data;
	unsigned long frames = 0, bytes = 0;
	pcap_t *p;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CAPTURE\n", argv[0]);
		return 2;
	}
	p = pcap_open_offline(argv[1], err);
	if (!p) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (pcap_compile(p, &program, "type mgt subtype probe-req", 1, PCAP_NETMASK_UNKNOWN) != 0 ||
	    pcap_setfilter(p, &program) != 0) {
		fprintf(stderr, "filter: %s\n", pcap_geterr(p));
		return 1;
	}
	while (pcap_next_ex(p, &header, &data) == 1) {
		frames++;
		bytes += header->caplen;
	}
	printf("%lu frames, %lu bytes\n", frames, bytes);
	pcap_close(p);
	return 0;
}
