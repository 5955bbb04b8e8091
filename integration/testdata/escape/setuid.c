/* Run as uid 65534 from a setuid-root (or file-capability) copy of itself: no_new_privs must
 * keep it unprivileged. argv[1] names the line. */
#include "common.h"
#include <sys/prctl.h>

static unsigned long long capfield(const char *key)
{
	char buf[4096];
	if (slurp("/proc/self/status", buf, sizeof buf) < 0)
		return ~0ULL;
	char *p = strstr(buf, key);
	return p ? strtoull(p + strlen(key), NULL, 16) : ~0ULL;
}

int main(int argc, char **argv)
{
	dup2(1, 2);
	const char *name = argc > 1 ? argv[1] : "setuid";
	uid_t r, e, s;
	getresuid(&r, &e, &s);
	unsigned long long eff = capfield("CapEff:\t"), prm = capfield("CapPrm:\t");
	if (e != 0 && s != 0 && eff == 0 && prm == 0)
		ok(name, "uids %d/%d/%d, CapEff %llx CapPrm %llx, no_new_privs %d", r, e, s, eff, prm,
		   prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	else
		escaped(name, "uids %d/%d/%d, CapEff %llx CapPrm %llx: privileges gained", r, e, s, eff, prm);
	if (setuid(0) == 0)
		escaped("setuid0_after_exec", "setuid(0) worked");
	else
		ok("setuid0_after_exec", "%s", en(errno));
	return finish();
}
