/* Another container's control socket. Run confined by `sandlock-runtime sandbox` (uid 0, no
 * capabilities) on the host, it connects to a running container's <state>/sup.sock by path
 * (Landlock does not mediate connecting to a named unix socket) and asks for a spawn of
 * /bin/sh with every capability and no seccomp program. Served, the shell would run in that
 * container with the zygote's capabilities: it prints its CapEff and Seccomp_filters into a
 * pipe. argv[1]: the socket path; argv[2] "nnp": set no_new_privs first (run on the host, not
 * in a sandbox: a process confined by something else, whose connect nothing mediates).
 *
 * The request carries both spellings of a spawn: "image" (a packed process image, what the
 * supervisor took before it built images itself) and "process" (an OCI process), so the
 * attempt means the same to either protocol. */
#include "common.h"
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Every capability this host lets a process hold: our bounding set (the direct mode leaves it
 * alone and takes the rest away). */
static unsigned long long all_caps;

static unsigned long long bounding_set(void)
{
	char buf[4096];
	if (slurp("/proc/self/status", buf, sizeof buf) < 0)
		return 0;
	char *p = strstr(buf, "CapBnd:");
	return p ? strtoull(p + 7, NULL, 16) : 0;
}

static const char script[] = "grep -E '^(CapEff|Seccomp_filters)' /proc/self/status";

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE", NULL,
};

static void put32(unsigned char *p, unsigned v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put64(unsigned char *p, unsigned long long v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

/* pack builds the packed process image of confine/execimage.go: uid 0, every capability in
 * every set but ambient, no filter program. Returns its length. */
static size_t pack(unsigned char *b)
{
	const char *strs[] = {"/bin/sh", "/", "/bin/sh", "-c", script, "PATH=/bin:/usr/bin"};
	memset(b, 0, 80);
	put32(b, 0x31584c53);
	put32(b + 16, 0xffffffffu); /* umask: leave alone */
	put32(b + 28, 3);	    /* nargs */
	put32(b + 32, 1);	    /* nenv */
	for (int i = 0; i < 4; i++) /* bounding, effective, inheritable, permitted */
		put64(b + 40 + 8 * i, all_caps);
	size_t n = 80;
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
		size_t l = strlen(strs[i]) + 1;
		memcpy(b + n, strs[i], l);
		n += l;
	}
	return n;
}

static size_t b64(const unsigned char *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

/* caplist writes ["CAP_CHOWN",...] */
static size_t caplist(char *out)
{
	size_t o = 0;
	out[o++] = '[';
	for (int i = 0; cap_names[i]; i++)
		if (all_caps >> i & 1)
			o += sprintf(out + o, "%s\"%s\"", o > 1 ? "," : "", cap_names[i]);
	out[o++] = ']';
	out[o] = 0;
	return o;
}

static int request(char *buf, size_t size)
{
	unsigned char img[512];
	char enc[1024], caps[1024];
	b64(img, pack(img), enc);
	caplist(caps);
	return snprintf(buf, size,
			"{\"op\":\"spawn\",\"image\":\"%s\",\"process\":{\"args\":[\"/bin/sh\",\"-c\",\"%s\"],"
			"\"env\":[\"PATH=/bin:/usr/bin\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0},"
			"\"capabilities\":{\"bounding\":%s,\"effective\":%s,\"permitted\":%s,\"inheritable\":%s}}}",
			enc, script, caps, caps, caps, caps);
}

static int send_with_fds(int s, const char *msg, int fds[3])
{
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = {(void *)msg, strlen(msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, 3 * sizeof(int));
	return sendmsg(s, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* reply receives one message (dropping any fds) with a timeout; "" on none. */
static void reply(int s, char *buf, size_t n, int secs)
{
	struct timeval tv = {secs, 0};
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = {buf, n - 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	long k = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	buf[k > 0 ? k : 0] = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); k > 0 && c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				close(((int *)CMSG_DATA(c))[i]);
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	if (argc < 2)
		return 2;
	all_caps = bounding_set();
	if (argc > 2 && !strcmp(argv[2], "nnp") && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 3;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		/* The test requires the supervisor's own refusal: unreachable is no verdict. */
		error("supsock_other_container", "connect %s: %s", argv[1], en(errno));
		return finish();
	}
	int p[2];
	if (pipe(p) < 0)
		return 3;
	int fds[3] = {p[0], p[1], p[1]};
	static char msg[8192], r[4096], out[512];
	request(msg, sizeof msg);
	int e = send_with_fds(s, msg, fds);
	close(p[1]);
	/* a refused peer gets its answer before it says anything; the send may then fail */
	reply(s, r, sizeof r, 5);
	if (strstr(r, "\"pid\"")) {
		struct pollfd pf = {p[0], POLLIN, 0};
		long k = poll(&pf, 1, 5000) > 0 ? read(p[0], out, sizeof out - 1) : 0;
		out[k > 0 ? k : 0] = 0;
		for (char *c = out; *c; c++)
			if (*c == '\n' || *c == '\t')
				*c = ' ';
		escaped("supsock_other_container", "spawned in the other container: %s; it says: %s", r, out);
	} else if (strstr(r, "\"error\""))
		ok("supsock_other_container", "refused: %s", r);
	else
		error("supsock_other_container", "no verdict: send %s, reply %s", e ? en(-e) : "ok", r);
	close(s);
	return finish();
}
