/*
 * hostapd-ubus-standin: a STAND-IN for OpenWrt hostapd's ubus interface, for
 * the rig's tests of `presenced --source hostapd` (there is no radio here, so
 * the real hostapd cannot run). Written from the structure documented by
 * hostapd's own src/ap/ubus.c (OpenWrt's package/network/services/hostapd,
 * in ../shared/openwrt-userland/openwrt-files-*.tar.gz), not copied from it:
 *
 * - one object per BSS, "hostapd.<ifname>", of type "hostapd", with the
 *   methods get_clients (freq; a table "clients" keyed by MAC, each with the
 *   eleven flag bools auth..mfp, the rrm and extended_capabilities arrays and
 *   aid, as hostapd_bss_get_clients lays them out; no driver counters) and
 *   notify_response (INT32 "notify_response");
 * - "probe" notifications carrying address, ifname, target, signal (left out
 *   for "none", as ubus.c leaves it out when the driver gave no signal) and
 *   freq, sent only while the object has subscribers; with notify_response
 *   set they go out with ubus_notify_async and a 100 ms wait, as ubus.c does,
 *   and every subscriber's answer is printed so the test can check that
 *   nobody rejected the frame.
 *
 * Built against the real libubus and libubox of the rig's build
 * (build/openwrt-userland/stage), and reconnects with ubus_auto_connect as
 * hostapd does. Commands, one per line on stdin:
 *
 *   add IF | remove IF                   register / remove hostapd.IF
 *   client IF MAC ASSOC AUTHORIZED       a station in get_clients (0/1 flags)
 *   respond IF 0|1                       notify_response off / on
 *   probe IF MAC SIGNAL|none             a probe notification
 *
 * It prints (line-buffered) "connected", "added hostapd.IF", "removed
 * hostapd.IF", "subscribers hostapd.IF 0|1" (ubusd's subscription notices),
 * "unsent IF MAC" (no subscriber), "sent IF MAC", "answer IF MAC STATUS"
 * (one per subscriber's answer), "notified IF MAC RET" (after the wait),
 * "get_clients IF" and "error ..." lines. Ends at EOF on stdin.
 *
 *   hostapd-ubus-standin [-s SOCKET] [-u UID:GID]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libubox/blobmsg.h>
#include <libubox/uloop.h>
#include <libubus.h>

#define MAX_BSS 8
#define MAX_CLIENTS 32

struct client {
	char mac[18];
	int assoc, authorized;
};

struct bss {
	char ifname[32];
	char name[48];
	struct ubus_object obj;
	int in_use, added, notify_response;
	struct client clients[MAX_CLIENTS];
	int n_clients;
};

static struct bss bsses[MAX_BSS];
static struct ubus_auto_conn conn;
static struct blob_buf b;

static struct bss *bss_of(struct ubus_object *obj)
{
	return container_of(obj, struct bss, obj);
}

static int get_clients(struct ubus_context *ctx, struct ubus_object *obj, struct ubus_request_data *req,
		       const char *method, struct blob_attr *msg)
{
	static const char *flags[] = { "auth", "assoc", "authorized", "preauth", "wds", "wmm",
				       "ht", "vht", "he", "wps", "mfp" };
	struct bss *bss = bss_of(obj);
	void *list, *c, *a;
	int i, f;

	printf("get_clients %s\n", bss->ifname);
	blob_buf_init(&b, 0);
	blobmsg_add_u32(&b, "freq", 2437);
	list = blobmsg_open_table(&b, "clients");
	for (i = 0; i < bss->n_clients; i++) {
		struct client *cl = &bss->clients[i];
		c = blobmsg_open_table(&b, cl->mac);
		for (f = 0; f < (int)(sizeof(flags) / sizeof(flags[0])); f++) {
			int v = f == 0 ? 1 : f == 1 ? cl->assoc : f == 2 ? cl->authorized : f == 5;
			blobmsg_add_u8(&b, flags[f], !!v);
		}
		a = blobmsg_open_array(&b, "rrm");
		for (f = 0; f < 5; f++)
			blobmsg_add_u32(&b, "", 0);
		blobmsg_close_array(&b, a);
		a = blobmsg_open_array(&b, "extended_capabilities");
		blobmsg_close_array(&b, a);
		blobmsg_add_u32(&b, "aid", i + 1);
		a = blobmsg_open_table(&b, "capabilities");
		blobmsg_close_table(&b, a);
		blobmsg_close_table(&b, c);
	}
	blobmsg_close_table(&b, list);
	ubus_send_reply(ctx, req, b.head);
	return 0;
}

enum { NOTIFY_RESPONSE, __NOTIFY_MAX };
static const struct blobmsg_policy notify_policy[__NOTIFY_MAX] = {
	[NOTIFY_RESPONSE] = { "notify_response", BLOBMSG_TYPE_INT32 },
};

static int notify_response(struct ubus_context *ctx, struct ubus_object *obj, struct ubus_request_data *req,
			   const char *method, struct blob_attr *msg)
{
	struct blob_attr *tb[__NOTIFY_MAX];

	blobmsg_parse(notify_policy, __NOTIFY_MAX, tb, blob_data(msg), blob_len(msg));
	if (!tb[NOTIFY_RESPONSE])
		return UBUS_STATUS_INVALID_ARGUMENT;
	bss_of(obj)->notify_response = blobmsg_get_u32(tb[NOTIFY_RESPONSE]);
	printf("notify_response %s %d (set by a subscriber)\n", bss_of(obj)->ifname, bss_of(obj)->notify_response);
	return 0;
}

static const struct ubus_method bss_methods[] = {
	UBUS_METHOD_NOARG("get_clients", get_clients),
	UBUS_METHOD("notify_response", notify_response, notify_policy),
};
static struct ubus_object_type bss_type = UBUS_OBJECT_TYPE("hostapd", bss_methods);

static void subscribed(struct ubus_context *ctx, struct ubus_object *obj)
{
	printf("subscribers %s %d\n", obj->name, obj->has_subscribers ? 1 : 0);
}

static struct bss *find(const char *ifname, int create)
{
	int i;

	for (i = 0; i < MAX_BSS; i++)
		if (bsses[i].in_use && !strcmp(bsses[i].ifname, ifname))
			return &bsses[i];
	if (!create)
		return NULL;
	for (i = 0; i < MAX_BSS; i++) {
		struct bss *bss = &bsses[i];
		if (bss->in_use)
			continue;
		memset(bss, 0, sizeof(*bss));
		bss->in_use = 1;
		snprintf(bss->ifname, sizeof(bss->ifname), "%s", ifname);
		snprintf(bss->name, sizeof(bss->name), "hostapd.%s", ifname);
		bss->obj.name = bss->name;
		bss->obj.type = &bss_type;
		bss->obj.methods = bss_methods;
		bss->obj.n_methods = ARRAY_SIZE(bss_methods);
		bss->obj.subscribe_cb = subscribed;
		return bss;
	}
	return NULL;
}

struct answer_req {
	struct ubus_notify_request nreq;
	const char *ifname;
	char mac[18];
};

static void answered(struct ubus_notify_request *req, int idx, int ret)
{
	struct answer_req *a = container_of(req, struct answer_req, nreq);

	printf("answer %s %s %d\n", a->ifname, a->mac, ret);
}

static void probe(struct bss *bss, const char *mac, const char *signal)
{
	struct ubus_context *ctx = &conn.ctx;
	struct answer_req a = { .ifname = bss->ifname };
	int ret;

	if (!bss->added || !bss->obj.has_subscribers) {
		printf("unsent %s %s\n", bss->ifname, mac);
		return;
	}
	blob_buf_init(&b, 0);
	blobmsg_add_string(&b, "address", mac);
	blobmsg_add_string(&b, "ifname", bss->ifname);
	blobmsg_add_string(&b, "target", "ff:ff:ff:ff:ff:ff");
	if (strcmp(signal, "none"))
		blobmsg_add_u32(&b, "signal", (uint32_t)atoi(signal));
	blobmsg_add_u32(&b, "freq", 2437);
	if (!bss->notify_response) {
		ret = ubus_notify(ctx, &bss->obj, "probe", b.head, -1);
		printf("sent %s %s %d\n", bss->ifname, mac, ret);
		return;
	}
	snprintf(a.mac, sizeof(a.mac), "%s", mac);
	if (ubus_notify_async(ctx, &bss->obj, "probe", b.head, &a.nreq)) {
		printf("error notify_async %s %s\n", bss->ifname, mac);
		return;
	}
	a.nreq.status_cb = answered;
	/* ubus.c waits 100 ms for the answers, then lets the frame through. */
	ret = ubus_complete_request(ctx, &a.nreq.req, 100);
	printf("notified %s %s %d\n", bss->ifname, mac, ret);
}

static void command(char *line)
{
	char verb[16] = "", ifname[32] = "", a1[32] = "", a2[16] = "", a3[16] = "";
	struct bss *bss;
	int n = sscanf(line, "%15s %31s %31s %15s %15s", verb, ifname, a1, a2, a3);

	if (n < 2) {
		if (n > 0)
			printf("error bad command '%s'\n", line);
		return;
	}
	bss = find(ifname, !strcmp(verb, "add") || !strcmp(verb, "client"));
	if (!bss) {
		printf("error no bss %s\n", ifname);
		return;
	}
	if (!strcmp(verb, "add")) {
		int ret = ubus_add_object(&conn.ctx, &bss->obj);
		bss->added = !ret;
		printf(ret ? "error add %s %d\n" : "added %s\n", bss->name, ret);
	} else if (!strcmp(verb, "remove")) {
		int ret = ubus_remove_object(&conn.ctx, &bss->obj);
		bss->added = 0;
		bss->obj.has_subscribers = false;
		printf(ret ? "error remove %s %d\n" : "removed %s\n", bss->name, ret);
	} else if (!strcmp(verb, "client") && n == 5 && bss->n_clients < MAX_CLIENTS) {
		struct client *cl = &bss->clients[bss->n_clients++];
		snprintf(cl->mac, sizeof(cl->mac), "%s", a1);
		cl->assoc = atoi(a2);
		cl->authorized = atoi(a3);
		printf("client %s %s\n", bss->ifname, cl->mac);
	} else if (!strcmp(verb, "respond") && n >= 3) {
		bss->notify_response = atoi(a1);
		printf("respond %s %d\n", bss->ifname, bss->notify_response);
	} else if (!strcmp(verb, "probe") && n >= 4) {
		probe(bss, a1, a2);
	} else {
		printf("error bad command '%s'\n", line);
	}
}

static char pending[4096];
static size_t pending_len;

static void stdin_cb(struct uloop_fd *fd, unsigned int events)
{
	ssize_t r = read(fd->fd, pending + pending_len, sizeof(pending) - 1 - pending_len);
	char *start, *nl;

	if (r <= 0) {
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		uloop_end();
		return;
	}
	pending_len += r;
	pending[pending_len] = 0;
	start = pending;
	while ((nl = strchr(start, '\n'))) {
		*nl = 0;
		command(start);
		start = nl + 1;
	}
	pending_len -= start - pending;
	memmove(pending, start, pending_len);
	if (pending_len == sizeof(pending) - 1)
		pending_len = 0;
}

static void connected(struct ubus_context *ctx)
{
	printf("connected\n");
}

int main(int argc, char **argv)
{
	struct uloop_fd in = { .cb = stdin_cb, .fd = 0 };
	unsigned int uid, gid;
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "s:u:")) != -1) {
		switch (opt) {
		case 's':
			conn.path = optarg;
			break;
		case 'u':
			/* hostapd runs as user network on OpenWrt: so does this. */
			if (sscanf(optarg, "%u:%u", &uid, &gid) != 2 || setgid(gid) || setuid(uid)) {
				fprintf(stderr, "cannot become %s\n", optarg);
				return 1;
			}
			break;
		default:
			fprintf(stderr, "usage: %s [-s SOCKET] [-u UID:GID]\n", argv[0]);
			return 2;
		}
	}
	uloop_init();
	conn.cb = connected;
	ubus_auto_connect(&conn);
	uloop_fd_add(&in, ULOOP_READ);
	uloop_run();
	uloop_done();
	return 0;
}
